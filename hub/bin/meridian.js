#!/usr/bin/env node
// The `meridian` CLI: runs the built JavaScript (hub/dist, `npm run build`). To run the sources instead:
// node --conditions=development --import tsx hub/src/cli/main.ts
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(built)) {
  const root = new URL('../..', import.meta.url).pathname;
  process.stderr.write(`meridian is not built: run \`npm run build\` in ${root} (or run the sources: node --conditions=development --import tsx ${root}hub/src/cli/main.ts)\n`);
  process.exit(1);
}
await import(built.href);
