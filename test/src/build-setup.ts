// Vitest global setup of the engine tests: builds every package first (scripts/build.mjs; incremental, about
// 2 s when nothing changed), since the agents, collectors, the hub process, the sandbox and the CLI the tests
// start run the built JavaScript. In-process code under test still comes from the sources.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './harness/engines.ts';

export default function setup(): void {
  try {
    execFileSync(process.execPath, [join(repoRoot, 'scripts/build.mjs'), '--quiet'], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (err) {
    throw new Error(`the build before the engine tests failed (run npm run build to see it): ${(err as Error).message}`);
  }
}
