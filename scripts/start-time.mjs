#!/usr/bin/env node
// Start time of the edge agent and the meridian CLI, built JavaScript vs the sources through tsx (cold: tsx's
// transpile cache emptied first; warm: cache kept). Each run loads every module of the process and exits
// (`--help`), which is what a start pays before it does any work. Usage: node scripts/start-time.mjs [runs]
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.argv[2] ?? 5);
// built: the bin (which imports dist/); sources: node resolving every @meridian package to src/ through tsx
const procs = {
  'edge-agent': { built: ['edge-agent/bin/edge-agent.js'], source: ['edge-agent/src/main.ts'] },
  meridian: { built: ['hub/bin/meridian.js'], source: ['hub/src/cli/main.ts'] },
};
const TSX = ['--conditions=development', '--import', 'tsx'];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function once(args, cold) {
  if (cold) rmSync(join(tmpdir(), `tsx-${process.getuid?.() ?? 0}`), { recursive: true, force: true });
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [...args, '--help'], { cwd: root, stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} --help exited ${r.status}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

for (const [name, p] of Object.entries(procs)) {
  const m = {};
  for (const [label, args, cold] of [['tsx cold', [...TSX, ...p.source], true], ['tsx warm', [...TSX, ...p.source], false], ['built', p.built, false]]) {
    m[label] = Math.round(median(Array.from({ length: runs }, () => once(args, cold))));
  }
  console.log(`${name}: ${Object.entries(m).map(([k, v]) => `${k} ${v} ms`).join(', ')} (median of ${runs})`);
}
