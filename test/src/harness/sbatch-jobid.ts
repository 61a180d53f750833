// The job-ID library the Slurm agent loads into sbatch (slurm-bridge/shim/sbatch-jobid.c), compiled once per
// source version into ~/.cache/meridian/sbatch-jobid/. Needs gcc and Debian's libslurm-dev (slurm/slurm.h).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { EngineError } from './daemon.ts';
import { packagePath } from '../packages.ts';

export function buildJobIdLib(): string {
  const src = packagePath('slurm-bridge', 'shim', 'sbatch-jobid.c');
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 12);
  const dir = join(homedir(), '.cache', 'meridian', 'sbatch-jobid');
  const lib = join(dir, `libmeridian-sbatch-jobid-${hash}.so`);
  if (existsSync(lib)) return lib;
  if (!existsSync('/usr/include/slurm/slurm.h')) throw new EngineError('sbatch job-ID library: /usr/include/slurm/slurm.h is missing; install Debian\'s libslurm-dev (node scripts/setup.mjs)');
  mkdirSync(dir, { recursive: true });
  const tmp = `${lib}.${process.pid}.tmp`;
  try {
    execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-Wall', '-Werror', '-o', tmp, src, '-ldl'], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new EngineError(`sbatch job-ID library: gcc failed: ${(err as { stderr?: Buffer }).stderr?.toString() ?? String(err)}`);
  }
  renameSync(tmp, lib);
  return lib;
}
