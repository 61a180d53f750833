#!/usr/bin/env node
// The `edge-agent` process: runs the built JavaScript (edge-agent/dist, `npm run build`). To run the sources
// instead: node --conditions=development --import tsx edge-agent/src/main.ts (its cli() runs when it is the main module)
import { existsSync } from 'node:fs';

const built = new URL('../dist/main.js', import.meta.url);
if (!existsSync(built)) {
  const root = new URL('../..', import.meta.url).pathname;
  process.stderr.write(`edge-agent is not built: run \`npm run build\` in ${root} (or run the sources: node --conditions=development --import tsx ${root}edge-agent/src/main.ts)\n`);
  process.exit(1);
}
const { cli } = await import(built.href);
cli(process.argv);
