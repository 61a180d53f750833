// Byte-compatibility of Meridian's squeue/sbatch output with the real Slurm CLI on the harness: the same
// jobs rendered by Slurm's squeue and by format.ts (fed from the jobs' scontrol records) must be identical.
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlurmCluster } from '../harness/slurm.ts';
import { parseScontrolJobs } from '@meridian/slurm-bridge/parsers/scontrol';
import { formatSqueue, SQUEUE_DEFAULT_FORMAT, SQUEUE_LONG_FORMAT, submittedLine } from '@meridian/slurm-bridge/login/format';
import { queueRowFromSlurm } from '@meridian/slurm-bridge/login/rows';
import { SbatchError, parseCommandLine } from '@meridian/slurm-bridge/login/sbatch-options';

let slurm: SlurmCluster;
let out: string;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  slurm = await SlurmCluster.start({ clusterName: 'format', restd: false });
  out = join(slurm.dir, 'out');
  mkdirSync(out, { recursive: true });
  chmodSync(out, 0o777);
  const sb = (...args: string[]) => {
    const r = slurm.run('sbatch', ['--parsable', `--chdir=${out}`, '-o', '/dev/null', ...args]);
    if (r.code !== 0) throw new Error(r.stderr);
    return r.stdout.trim();
  };
  sb('-J', 'ok', '--wrap', 'true');
  sb('-J', 'fails', '--wrap', 'exit 3');
  sb('-J', 'a-rather-long-job-name', '-t', '90', '--wrap', 'true');
  const held = sb('-H', '-J', 'held', '-t', '1-00:00:00', '-N', '2', '--gres=gpu:1', '--wrap', 'sleep 100');
  sb('--array=0-5%2', '-J', 'arr', '-H', '--wrap', 'true');
  sb('-J', 'dep', `--dependency=afterok:${held}`, '--wrap', 'true');
  sb('-J', 'cancelme', '-H', '--wrap', 'true');
  slurm.run('scancel', ['-n', 'cancelme']);
  // let the short ones finish (Slurm keeps them for MinJobAge=300 s)
  for (let i = 0; i < 120; i++) {
    const q = slurm.run('squeue', ['-h', '-t', 'CD,F', '-o', '%i']).stdout.trim().split('\n').filter(Boolean);
    if (q.length >= 3) break;
    await sleep(500);
  }
});

afterAll(async () => {
  await slurm?.stop();
});

function ours(fmt: string, header: boolean): string {
  const now = Math.floor(Date.now() / 1000);
  const jobs = parseScontrolJobs(slurm.run('scontrol', ['show', 'job', '-o']).stdout)
    .filter((j) => !['RUNNING', 'COMPLETING', 'CONFIGURING'].includes(j.state))
    .sort((a, b) => Number(a.jobId) - Number(b.jobId));
  return formatSqueue(jobs.map((j) => queueRowFromSlurm(j, now)), fmt, header);
}

function theirs(fmt: string, header: boolean): string {
  const r = slurm.run('squeue', ['-t', 'PD,CD,F,CA,TO', '-S', 'i', '-o', fmt, ...(header ? [] : ['-h'])]);
  expect(r.stderr).toBe('');
  return r.stdout;
}

describe('squeue output, byte for byte', () => {
  it('default format (with header)', () => {
    const t = theirs(SQUEUE_DEFAULT_FORMAT, true);
    expect(t.split('\n').length).toBeGreaterThan(6);
    expect(ours(SQUEUE_DEFAULT_FORMAT, true)).toBe(t);
  });

  it('long format (-l) columns', () => {
    expect(ours(SQUEUE_LONG_FORMAT, true)).toBe(theirs(SQUEUE_LONG_FORMAT, true));
  });

  it('-o with assorted codes, widths and justification, no header', () => {
    const fmt = '%i|%A|%F|%K|%j|%.5j|%12P|%t|%T|%r|%R|%D|%C|%l|%u|%Z|%E|%b|%f|%q|%a|%Q';
    expect(ours(fmt, false)).toBe(theirs(fmt, false));
  });

  it('times (submit/start/end) for finished jobs', () => {
    const fmt = '%i %V %S %e %M';
    expect(ours(fmt, true)).toBe(theirs(fmt, true));
  });
});

describe('sbatch submit line and errors', () => {
  it('prints what sbatch prints', () => {
    const r = slurm.run('sbatch', [`--chdir=${out}`, '-o', '/dev/null', '--wrap', 'true']);
    const id = /(\d+)/.exec(r.stdout)![1]!;
    expect(submittedLine(id, false)).toBe(r.stdout);
    const p = slurm.run('sbatch', ['--parsable', `--chdir=${out}`, '-o', '/dev/null', '--wrap', 'true']);
    expect(submittedLine(p.stdout.trim(), true)).toBe(p.stdout);
  });

  it('fails unknown and malformed options with sbatch\'s own text and exit code', () => {
    for (const args of [['--foo'], ['-Z'], ['--time=abc'], ['--nodes=x'], ['--mem=lots'], ['--mail-type=BOGUS'], ['--ntasks=0'], ['--cpus-per-task=x'], ['--begin=garbage'], ['--wrap', 'true', 'script.sh'], ['--job-name']]) {
      const real = slurm.run('sbatch', [...args, ...(args.includes('--wrap') || args.includes('--job-name') ? [] : ['--wrap', 'true'])]);
      let mine: SbatchError | undefined;
      try {
        parseCommandLine([...args, ...(args.includes('--wrap') || args.includes('--job-name') ? [] : ['--wrap', 'true'])]);
      } catch (e) {
        mine = e as SbatchError;
      }
      expect(mine, args.join(' ')).toBeInstanceOf(SbatchError);
      expect({ args, stderr: mine!.stderr, code: mine!.exitCode }).toEqual({ args, stderr: real.stderr, code: real.code });
    }
  });
});
