import { defineConfig } from 'vitest/config';

// Two projects: fast pure-logic tests (`*.test.ts`) and tests that start real engines
// (`*.engine.test.ts`). Engine tests get long timeouts and run at most two files at a time:
// these machines have 2 cores and each file boots its own control planes.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 }, // fast tests first; engine tests run after, with their own worker limit
          include: ['*/src/**/*.test.ts', '*/test/**/*.test.ts'],
          exclude: ['**/node_modules/**', '**/*.engine.test.ts'],
        },
      },
      {
        test: {
          name: 'engines',
          sequence: { groupOrder: 1 },
          include: ['*/src/**/*.engine.test.ts', '*/test/**/*.engine.test.ts'],
          exclude: ['**/node_modules/**'],
          // agents, collectors, the hub process, the sandbox and the CLI run the built output: build it first
          globalSetup: ['test/src/build-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 240_000,
          pool: 'forks',
          maxWorkers: 2,
        },
      },
    ],
  },
});
