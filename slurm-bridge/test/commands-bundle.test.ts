// The bin/ wrappers run the prebuilt bundle with plain node: they must say clearly when it is missing, run the
// real command code when it is there, and never run a bundle older than its sources.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundlePaths, ensureCommandsBundle } from '../scripts/build-commands.mjs';
import { loadCommands, newerInputs } from '../scripts/launch.mjs';

const bridge = resolve(fileURLToPath(new URL('..', import.meta.url)));
const LOGIN = ['sbatch', 'squeue', 'scancel', 'sinfo', 'sacct', 'sacctmgr', 'scontrol'];
let scratch: string;

/** A copy of the installed layout (bin/, scripts/launch.mjs, no sources) in a scratch directory. */
function installCopy(dir: string): void {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'scripts'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  for (const f of readdirSync(join(bridge, 'bin'))) copyFileSync(join(bridge, 'bin', f), join(dir, 'bin', f));
  copyFileSync(join(bridge, 'scripts/launch.mjs'), join(dir, 'scripts/launch.mjs'));
}

const runBin = (path: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [path, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'meridian-bundle-'));
  installCopy(scratch);
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('bin wrappers and the commands bundle', () => {
  it('fail with a clear error naming the missing bundle and how to build it', () => {
    for (const cmd of [...LOGIN, 'meridian-slurm-resume']) {
      const r = runBin(join(scratch, 'bin', cmd), ['--version']);
      expect(r.status, cmd).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`${cmd}: error: Meridian's commands are not built: ${join(scratch, 'dist', 'commands.mjs')} is missing.`);
      expect(r.stderr).toContain('npm run setup');
    }
  });

  it('run the bundled command code once it is built, without tsx', async () => {
    const built = await ensureCommandsBundle({ outDir: join(scratch, 'dist') });
    expect(built.built).toBe(true);
    expect((await ensureCommandsBundle({ outDir: join(scratch, 'dist') })).built).toBe(false);
    for (const cmd of LOGIN) expect(readFileSync(join(bridge, 'bin', cmd), 'utf8'), cmd).not.toMatch(/tsx/);
    const v = runBin(join(scratch, 'bin', 'squeue'), ['--version']);
    expect(v.stderr).toBe('');
    expect(v.stdout).toBe('slurm-wlm 22.05.8\n');
    // Real code paths: sbatch's option errors and the missing-hub error.
    const bad = runBin(join(scratch, 'bin', 'sbatch'), ['--no-such-option']);
    expect(bad.status).toBe(255);
    expect(bad.stderr).toMatch(/^sbatch: unrecognized option '--no-such-option'/);
    const noHub = runBin(join(scratch, 'bin', 'sbatch'), ['--wrap', 'true']);
    expect(noHub.status).toBe(1);
    expect(noHub.stderr).toBe("sbatch: error: MERIDIAN_URL is not set (the hub's address, e.g. https://meridian.example.org)\n");
    const refused = runBin(join(scratch, 'bin', 'sbatch'), ['--wrap', 'true'], { MERIDIAN_URL: 'http://127.0.0.1:1', MERIDIAN_TOKEN: 't' });
    expect([refused.status, refused.stderr]).toEqual([1, 'sbatch: error: Batch job submission failed: Unable to contact Meridian hub at http://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1\n']);
    const scheme = runBin(join(scratch, 'bin', 'squeue'), [], { MERIDIAN_URL: 'ftp://hub', MERIDIAN_TOKEN: 't' });
    expect(scheme.status).toBe(1);
    expect(scheme.stderr).toContain('MERIDIAN_URL must start with http:// or https:// (got ftp://)');
    const power = runBin(join(scratch, 'bin', 'meridian-slurm-suspend'), []);
    expect(power.status).toBe(2);
    expect(power.stderr).toMatch(/^usage: meridian-slurm-suspend <hostlist>/);
  });

  it('rebuild when the sources are newer than the bundle or its inputs hash is off', async () => {
    const paths = bundlePaths(join(scratch, 'dist'));
    await ensureCommandsBundle({ outDir: paths.outDir });
    expect(newerInputs(paths)).toEqual([]);
    // Older than its sources: relative to the source's own mtime, not the clock (a checkout idle for an hour has
    // sources older than "now - 1 h").
    const old = new Date(statSync(join(bridge, 'src/login/commands.ts')).mtimeMs - 3600_000);
    utimesSync(paths.bundle, old, old);
    expect(newerInputs(paths)).toContain('slurm-bridge/src/login/commands.ts');
    const m = await loadCommands('sbatch', paths);
    expect(typeof m.sbatchMain).toBe('function');
    expect(newerInputs(paths)).toEqual([]);
    const meta = JSON.parse(readFileSync(paths.meta, 'utf8')) as { hash: string; inputs: string[] };
    expect(meta.inputs).toContain('slurm-bridge/src/login/sbatch-options.ts');
    writeFileSync(paths.meta, JSON.stringify({ ...meta, hash: 'not-the-hash' }));
    const before = statSync(paths.bundle).mtimeMs;
    expect((await ensureCommandsBundle({ outDir: paths.outDir })).built).toBe(true);
    expect(statSync(paths.bundle).mtimeMs).toBeGreaterThanOrEqual(before);
    expect(JSON.parse(readFileSync(paths.meta, 'utf8')).hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('the checkout bundle runs through the real wrappers', async () => {
    await ensureCommandsBundle();
    const r = runBin(join(bridge, 'bin', 'sbatch'), ['--version']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('slurm-wlm 22.05.8\n');
  });
});
