#!/usr/bin/env node
// Builds @meridian/native: the Node-API addon (node-gyp → build/Release/meridian_native.node) and,
// with --fake, the fake NVML (build/fake-nvml/libnvidia-ml.so.1) that tests load instead of NVIDIA's.
//
//   node native/scripts/build.mjs            addon only (what `npm install` runs)
//   node native/scripts/build.mjs --fake     addon + fake NVML
//   node native/scripts/build.mjs --if-stale skip the addon when the .node is newer than its sources
//   node native/scripts/build.mjs --optional never fail: print why and exit 0 (npm install uses this, so a
//                                            machine without a C++ toolchain still installs; the addon then
//                                            reports { available: false, reason: "native addon not built..." })
//
// Node headers: node-gyp gets --nodedir from $npm_config_nodedir when set (npm passes ~/.npmrc's nodedir),
// else from the running node's prefix when <prefix>/include/node/node_api.h exists (Debian/NodeSource
// packages, official tarballs); otherwise node-gyp falls back to downloading headers.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const optional = args.has('--optional');
const log = (msg) => console.log(`[@meridian/native] ${msg}`);

export const addonPath = join(pkgDir, 'build', 'Release', 'meridian_native.node');
export const fakeNvmlPath = join(pkgDir, 'build', 'fake-nvml', 'libnvidia-ml.so.1');

function newestMtime(paths) {
  let newest = 0;
  for (const p of paths) {
    const st = statSync(p);
    if (st.isDirectory()) newest = Math.max(newest, newestMtime(readdirSync(p).map((n) => join(p, n))));
    else newest = Math.max(newest, st.mtimeMs);
  }
  return newest;
}

function stale(output, inputs) {
  return !existsSync(output) || statSync(output).mtimeMs < newestMtime(inputs);
}

function nodeGyp() {
  try {
    return createRequire(join(pkgDir, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) {
      return process.env.npm_config_node_gyp; // the copy bundled with npm
    }
    throw new Error('node-gyp not found: run `npm install` (it is a devDependency of @meridian/native)');
  }
}

function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = resolve(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

// Serialises builds across processes (parallel test workers, setup + tests): node-gyp rebuild wipes build/.
const lockDir = join(tmpdir(), `meridian-native-build-${createHash('sha256').update(pkgDir).digest('hex').slice(0, 12)}.lock`);

function sleepMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

function withLock(fn) {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      let holder = NaN;
      try {
        holder = Number(readFileSync(join(lockDir, 'pid'), 'utf8'));
      } catch {
        // the holder has not written its pid yet
      }
      const age = Date.now() - (existsSync(lockDir) ? statSync(lockDir).mtimeMs : Date.now());
      if ((Number.isInteger(holder) && holder > 0 && !pidAlive(holder)) || age > 15 * 60_000) {
        rmSync(lockDir, { recursive: true, force: true }); // left behind by a dead build
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for another build to release ${lockDir}`);
      sleepMs(200);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

export function buildAddon(opts = {}) {
  return withLock(() => buildAddonLocked(opts));
}

export function buildFakeNvml() {
  return withLock(() => buildFakeNvmlLocked());
}

function buildAddonLocked({ ifStale = false } = {}) {
  if (ifStale && !stale(addonPath, [join(pkgDir, 'csrc'), join(pkgDir, 'binding.gyp')])) {
    log(`addon up to date: ${addonPath}`);
    return;
  }
  const dir = nodeDir();
  const gypArgs = [nodeGyp(), 'rebuild', `--jobs=${process.env.JOBS ?? 'max'}`];
  if (dir) gypArgs.push(`--nodedir=${dir}`);
  log(`building addon: node ${gypArgs.slice(1).join(' ')}`);
  const r = spawnSync(process.execPath, gypArgs, { cwd: pkgDir, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`node-gyp rebuild failed (exit ${r.status ?? r.signal}); see the compiler output above`);
  log(`built ${addonPath}`);
}

function buildFakeNvmlLocked() {
  const src = join(pkgDir, 'fake-nvml', 'fake_nvml.c');
  if (!stale(fakeNvmlPath, [src, join(pkgDir, 'csrc', 'nvml_api.h')])) return fakeNvmlPath;
  mkdirSync(dirname(fakeNvmlPath), { recursive: true });
  const cc = process.env.CC ?? 'cc';
  const tmp = `${fakeNvmlPath}.${process.pid}.tmp`;
  const ccArgs = ['-O2', '-g', '-Wall', '-std=c11', '-fPIC', '-fvisibility=hidden', '-shared',
    '-Wl,-soname,libnvidia-ml.so.1', '-o', tmp, src, '-lpthread'];
  const r = spawnSync(cc, ccArgs, { cwd: pkgDir, stdio: 'inherit' });
  if (r.error) throw new Error(`cannot run the C compiler '${cc}' to build the fake NVML: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`building the fake NVML failed: ${cc} ${ccArgs.join(' ')} exited ${r.status}`);
  renameSync(tmp, fakeNvmlPath); // atomic: a process that has the old one loaded keeps its mapping
  log(`built ${fakeNvmlPath}`);
  return fakeNvmlPath;
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const steps = [() => buildAddon({ ifStale: args.has('--if-stale') })];
  if (args.has('--fake')) steps.push(() => buildFakeNvml());
  let failed = false;
  for (const step of steps) {
    try {
      step();
    } catch (err) {
      failed = true;
      if (optional) log(`WARNING: ${err.message}`);
      else console.error(`[@meridian/native] ${err.message}`);
    }
  }
  if (failed && optional) {
    log('continuing without it: openNvml() then reports { available: false, reason: "native addon not built..." }. ' +
      'Fix the toolchain (C/C++ compiler, make, python3), then run `npm run build:native -w native`.');
  }
  if (failed && !optional) process.exit(1);
}
