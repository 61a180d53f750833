#!/usr/bin/env node
// Provisions everything the sandbox and the test suite need, idempotently:
//   1. npm dependencies (npm ci when node_modules is missing or stale),
//   2. Debian packages for the engines that Debian ships,
//   3. Go-built engines from the Go module proxy at pinned versions, cached under
//      ~/.cache/meridian/engines/<name>-<version>/ so a warm run costs nothing,
//   4. slurm-bridge's command bundle (dist/commands.mjs) when its sources changed,
//   5. Python tools (schemathesis) at pinned versions in a virtual environment each, under
//      ~/.cache/meridian/<name>-<version>/,
//   6. the OCI images the harness's real worker nodes run (scripts/images.mjs), cached by content hash.
// Prints what it installs, builds or skips. Without root/apt it names what is missing and carries on.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const engines = JSON.parse(readFileSync(join(root, 'scripts/engines.json'), 'utf8'));
const cacheDir = process.env.MERIDIAN_CACHE ?? join(homedir(), '.cache', 'meridian');
const only = new Set(process.argv.slice(2).filter((a) => !a.startsWith('-')));
const started = Date.now();
const missing = [];

const log = (msg) => console.log(`[setup] ${msg}`);
const want = (step) => only.size === 0 || only.has(step);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}`);
}

function npmDeps() {
  const lock = join(root, 'package-lock.json');
  const stamp = join(root, 'node_modules', '.meridian-lock-mtime');
  const lockTime = existsSync(lock) ? String(statSync(lock).mtimeMs) : 'none';
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === lockTime) {
    log('npm dependencies: up to date (skip)');
    return;
  }
  log(existsSync(lock) ? 'npm dependencies: npm ci' : 'npm dependencies: npm install');
  run('npm', [existsSync(lock) ? 'ci' : 'install', '--no-audit', '--no-fund'], { cwd: root });
  writeFileSync(stamp, lockTime);
}

/** The native addon (NVML, RDMA) and the fake NVML used by tests; a no-op when they are current. */
function nativeAddon() {
  log('native addon: build if stale');
  run('npm', ['run', '--silent', 'build:native', '-w', 'native'], { cwd: root });
}

/** slurm-bridge's commands as one prebuilt bundle (bin/* run it without tsx); rebuilt when a source changed. */
async function commandsBundle() {
  const { ensureCommandsBundle } = await import('@meridian/slurm-bridge/build-commands');
  const r = await ensureCommandsBundle();
  log(r.built ? `slurm-bridge commands bundle: built from ${r.inputs} files in ${r.ms.toFixed(0)} ms` : 'slurm-bridge commands bundle: up to date (skip)');
}

function aptPackages() {
  const absent = Object.entries(engines.apt).filter(([, file]) => !existsSync(file)).map(([pkg]) => pkg);
  if (absent.length === 0) {
    log(`Debian packages: all ${Object.keys(engines.apt).length} present (skip)`);
    return;
  }
  const isRoot = process.getuid?.() === 0;
  const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
  if (!isRoot || !hasApt) {
    log(`Debian packages MISSING (need root and apt-get to install): ${absent.join(' ')}`);
    missing.push(...absent);
    return;
  }
  log(`Debian packages: installing ${absent.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...absent], { env });
  // Debian starts some daemons on install; the harness runs its own copies, so stop the system ones.
  for (const svc of ['munge', 'slurmctld', 'slurmd', 'slurmrestd', 'prometheus', 'ssh', 'postgresql']) {
    spawnSync('sh', ['-c', `command -v service >/dev/null && service ${svc} stop`], { stdio: 'ignore' });
  }
}

export function engineDir(name) {
  return join(cacheDir, 'engines', `${name}-${engines.go[name].version}`);
}

function goEngine(name) {
  const spec = engines.go[name];
  const dest = engineDir(name);
  if (spec.bins.every((b) => existsSync(join(dest, b)))) {
    log(`${name} ${spec.version}: cached in ${dest} (skip)`);
    return;
  }
  if (spawnSync('sh', ['-c', 'command -v go'], { stdio: 'ignore' }).status !== 0) {
    log(`${name} ${spec.version}: MISSING (Go toolchain not found; install Go 1.24+)`);
    missing.push(name);
    return;
  }
  const t0 = Date.now();
  const staging = `${dest}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const env = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod -trimpath', GOTOOLCHAIN: 'local' };
  try {
    if (spec.install) {
      log(`${name} ${spec.version}: go install ${spec.install.join(' ')} (cold build, minutes)`);
      run('go', ['install', '-ldflags=-s -w', ...spec.install], { env: { ...env, GOBIN: staging } });
    } else {
      log(`${name} ${spec.version}: go build ${spec.packages.length} commands from ${spec.module} (cold build, many minutes)`);
      for (const pkg of spec.packages) {
        const base = pkg.split('/').pop();
        const out = join(staging, spec.rename?.[base] ?? base);
        log(`  building ${pkg}`);
        run('go', ['build', `-ldflags=${spec.ldflags}`, '-o', out, pkg], { cwd: join(root, spec.module), env });
      }
    }
    rmSync(dest, { recursive: true, force: true });
    renameSync(staging, dest); // atomic: a half-built engine never looks cached
    log(`${name} ${spec.version}: built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    log(`${name} ${spec.version}: BUILD FAILED: ${err.message}`);
    missing.push(name);
  }
}

/** Path of a pinned Python tool's virtual environment (it is complete once its marker file exists). */
export function pythonToolDir(name) {
  return join(cacheDir, `${name}-${engines.python[name].version}`);
}

function pythonTool(name) {
  const spec = engines.python[name];
  const dest = pythonToolDir(name);
  const marker = join(dest, '.meridian-complete');
  if (existsSync(marker)) {
    log(`${name} ${spec.version}: cached in ${dest} (skip)`);
    return;
  }
  const t0 = Date.now();
  // A virtual environment is not relocatable (its scripts name their interpreter's path), so it is built in
  // place and marked complete only after the tool ran; a half-built one is removed and built again.
  rmSync(dest, { recursive: true, force: true });
  try {
    log(`${name} ${spec.version}: pip install into ${dest}`);
    // Debian's python3 (python3-venv is among the Debian packages above) where it exists, else the one on PATH
    run(existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3', ['-m', 'venv', dest]);
    run(join(dest, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', `${name}==${spec.version}`]);
    run(join(dest, 'bin', spec.bin), ['--version']);
    writeFileSync(marker, `${spec.version}\n`);
    log(`${name} ${spec.version}: installed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  } catch (err) {
    rmSync(dest, { recursive: true, force: true });
    log(`${name} ${spec.version}: INSTALL FAILED (needs python3 ≥ 3.11 with venv, and PyPI): ${err.message}`);
    missing.push(name);
  }
}

/**
 * Images built from Debian packages (mmdebstrap) and this repository; a cached one costs a hash. The agent's
 * image carries the built JavaScript, so it is made on demand after the build (the harness asks for it).
 */
async function images() {
  const { buildImage, recipes } = await import('./images.mjs');
  for (const name of Object.keys(recipes).filter((n) => !recipes[n].from)) {
    try {
      const r = await buildImage(name);
      log(r.built ? `image ${r.ref}: built in ${(r.ms / 1000).toFixed(0)} s` : `image ${r.ref}: cached (skip)`);
    } catch (err) {
      log(`image ${name}: BUILD FAILED: ${err.message}`);
      missing.push(`image ${name}`);
    }
  }
}

async function main() {
  log(`cache: ${cacheDir}`);
  mkdirSync(join(cacheDir, 'engines'), { recursive: true });
  if (want('npm')) npmDeps();
  if (want('npm')) nativeAddon();
  if (want('npm') || only.has('commands')) await commandsBundle();
  if (want('apt')) aptPackages();
  for (const name of Object.keys(engines.go)) if (want(name)) goEngine(name);
  for (const name of Object.keys(engines.python ?? {})) if (!name.startsWith('$') && want(name)) pythonTool(name);
  if (want('images')) await images();
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (missing.length > 0) {
    log(`done in ${secs} s; NOT available: ${missing.join(', ')} (tests needing them will fail and say so)`);
    if (process.argv.includes('--strict')) process.exit(1);
  } else {
    log(`done in ${secs} s; all engines ready`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
export { cacheDir, engines, tmpdir };
