#!/usr/bin/env node
// Builds every package to JavaScript: `tsc -b tsconfig.build.json` (project references in floor order; each
// package's src/ → dist/ with declarations and source maps, incremental: only what changed is rebuilt), then
// the files the code reads beside itself at run time (SQL migrations, .proto, .yaml, .json) copied into dist/,
// then the login-node commands' bundle (slurm-bridge/scripts/build-commands.mjs, skipped when unchanged).
// Usage: node scripts/build.mjs [--quiet]      (npm run build; the engine tests' global setup calls it too)
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGES = ['protocol', 'native', 'workflows', 'slurm-bridge', 'hub', 'edge-agent', 'test'];
const ASSET = /\.(sql|proto|ya?ml|json)$/;
const quiet = process.argv.includes('--quiet');
const say = (m) => quiet || process.stderr.write(`build: ${m}\n`);

function run(args, what) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit', encoding: 'utf8' });
  if (r.status !== 0) {
    if (quiet) process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`);
    throw new Error(`${what} failed (exit ${r.status ?? r.signal})`);
  }
  say(`${what} ${Date.now() - t0} ms`);
}

/** Copies src/**\/<asset> to dist/ when missing or different; returns how many it copied. */
function copyAssets(pkg) {
  let n = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (ASSET.test(e.name)) {
        const to = join(root, pkg, 'dist', relative(join(root, pkg, 'src'), p));
        if (existsSync(to) && statSync(to).size === statSync(p).size && readFileSync(to).equals(readFileSync(p))) continue;
        mkdirSync(dirname(to), { recursive: true });
        copyFileSync(p, to);
        n++;
      }
    }
  };
  walk(join(root, pkg, 'src'));
  return n;
}

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
run([tsc, '-b', 'tsconfig.build.json'], 'tsc -b');
const copied = PACKAGES.reduce((n, p) => n + copyAssets(p), 0);
if (copied) say(`copied ${copied} asset file(s) into dist/`);
run([join(root, 'slurm-bridge/scripts/build-commands.mjs')], 'login-node commands bundle');
