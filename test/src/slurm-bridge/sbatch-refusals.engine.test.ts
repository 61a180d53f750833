// What native sbatch refuses (the harness's Slurm 22.05, default MaxArraySize and max_script_size), Meridian's
// login sbatch refuses with the same stderr and exit code, before it talks to any hub: arrays beyond
// MaxArraySize, overlong names and paths, zero, negative and overflowing counts, malformed times, scripts
// slurmctld or sbatch.c would not take.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '@meridian/slurm-bridge/login/spawn';
import { SlurmCluster } from '../harness/slurm.ts';
import { packagePath } from '../packages.ts';

let slurm: SlurmCluster;

beforeAll(async () => {
  slurm = await SlurmCluster.start({ clusterName: 'refusals', restd: false });
});

afterAll(async () => {
  await slurm?.stop();
});

const native = (args: string[], input?: string) => run('sbatch', args, { cwd: slurm.dir, env: slurm.env, ...(input !== undefined ? { input } : {}) });
// No hub answers here: a refusal that reached the hub would print "Unable to contact" and differ.
const meridian = (args: string[], input?: string) =>
  run(join(packagePath('slurm-bridge', 'bin'), 'sbatch'), args, { cwd: slurm.dir, env: { ...process.env, MERIDIAN_URL: 'http://127.0.0.1:9', MERIDIAN_TOKEN: 'none' }, ...(input !== undefined ? { input } : {}) });

describe('login sbatch refuses what native sbatch refuses, in the same words', () => {
  const W = ['--wrap', 'true'];
  it.each([
    ['an array index beyond MaxArraySize', ['--array=0-999999999', ...W]],
    ['an array index of exactly MaxArraySize', ['--array=1001', ...W]],
    ['an array step of MaxArraySize', ['--array=0-10:1001', ...W]],
    ['a 5,000-character job name', ['-J', 'n'.repeat(5000), ...W]],
    ['a 1,025-character account', [`--account=${'a'.repeat(1025)}`, ...W]],
    ['an output path over PATH_MAX', [`--output=/tmp/${'o'.repeat(4100)}`, ...W]],
    ['zero tasks', ['--ntasks=0', ...W]],
    ['negative cpus per task', ['--cpus-per-task=-2', ...W]],
    ['tasks beyond a long', ['--ntasks=99999999999999999999999', ...W]],
    ['a malformed time', ['--time=1:2:3:4', ...W]],
  ])('%s', async (_what, args) => {
    const n = await native(args);
    const m = await meridian(args);
    expect(n.code).not.toBe(0);
    expect({ code: m.code, stdout: m.stdout, stderr: m.stderr }).toEqual({ code: n.code, stdout: n.stdout, stderr: n.stderr });
  });

  it('Slurm 22.05 takes --ntasks=INT_MAX; Meridian refuses it by its bounds, in slurmctld\'s words', async () => {
    const m = await meridian(['--ntasks=2147483647', ...W]);
    expect([m.code, m.stdout, m.stderr]).toEqual([1, '', 'sbatch: error: Batch job submission failed: More processors requested than permitted\n']);
  });

  it.each([
    ['a script of whitespace only', ' \n\t\n'],
    ['a script with a NUL byte', '#!/bin/sh\necho a\u0000b\n'],
    ['a script with DOS line breaks', '#!/bin/sh\r\necho hi\r\n'],
    ['a script over 4 MiB', `#!/bin/sh\n# ${'x'.repeat(4 * 1024 * 1024)}\ntrue\n`],
  ])('%s on stdin', async (_what, script) => {
    const n = await native([], script);
    const m = await meridian([], script);
    expect(n.code).not.toBe(0);
    expect({ code: m.code, stdout: m.stdout, stderr: m.stderr }).toEqual({ code: n.code, stdout: n.stdout, stderr: n.stderr });
  });
});
