import { describe, expect, it } from 'vitest';
import { formatSacctParsable, formatSqueue, secsToTime, submittedLine, type QueueRow } from './format.ts';
import { dnsLabel, exportedEnv, gpusPerNode, jobSpecFor } from './jobspec.ts';
import { arrayIndices, directives, parseCommandLine, resolveOptions, SbatchError, splitDirective, validArray, validDependency, wrapScript, type SbatchOptions } from './sbatch-options.ts';

const S = '#!/bin/bash\ntrue\n';
const opts = (...argv: string[]): SbatchOptions => resolveOptions(argv, S, {});
function fails(argv: string[], script = S): SbatchError {
  try {
    resolveOptions(argv, script, {});
  } catch (e) {
    if (e instanceof SbatchError) return e;
    throw e;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
}

// The research note's ranked option list, each in long and (where sbatch has one) short form.
describe('every ranked sbatch option', () => {
  const cases: [string[], Partial<SbatchOptions>][] = [
    [['--job-name=train'], { jobName: 'train' }],
    [['-J', 'train'], { jobName: 'train' }],
    [['--time=1-02:03:04'], { timeSec: 93784 }],
    [['-t', '90'], { timeSec: 5400 }],
    [['-t', '5:30'], { timeSec: 330 }],
    [['--time=UNLIMITED'], { timeSec: 0 }],
    [['--output=o-%j.out'], { output: 'o-%j.out' }],
    [['-o', 'o.out'], { output: 'o.out' }],
    [['--error=e.err'], { error: 'e.err' }],
    [['-e', 'e.err'], { error: 'e.err' }],
    [['--partition=gpu'], { partition: 'gpu' }],
    [['-p', 'gpu'], { partition: 'gpu' }],
    [['--nodes=2'], { nodesMin: 2 }],
    [['-N', '2-4'], { nodesMin: 2, nodesMax: 4 }],
    [['--ntasks=8'], { ntasks: 8 }],
    [['-n', '8'], { ntasks: 8 }],
    [['--mem=16G'], { memMiB: 16384 }],
    [['--mem-per-cpu=2000'], { memPerCpuMiB: 2000 }],
    [['--cpus-per-task=4'], { cpusPerTask: 4 }],
    [['-c', '4'], { cpusPerTask: 4 }],
    [['--ntasks-per-node=2'], { ntasksPerNode: 2 }],
    [['--gres=gpu:a100:2'], { gres: 'gpu:a100:2' }],
    [['--gres=gpu:2'], { gres: 'gpu:2' }],
    [['--gpus=4'], { gpus: '4' }],
    [['-G', 'a100:4'], { gpus: 'a100:4' }],
    [['--gpus-per-node=2'], { gpusPerNode: '2' }],
    [['--account=physics'], { account: 'physics' }],
    [['-A', 'physics'], { account: 'physics' }],
    [['--array=0-15'], { array: '0-15' }],
    [['-a', '0,6,16-32'], { array: '0,6,16-32' }],
    [['--array=0-15:4%2'], { array: '0-15:4%2' }],
    [['--mail-type=END,FAIL'], { mailType: ['END', 'FAIL'] }],
    [['--mail-user=a@b.c'], { mailUser: 'a@b.c' }],
    [['--qos=high'], { qos: 'high' }],
    [['-q', 'high'], { qos: 'high' }],
    [['--dependency=afterok:12:13,afterany:14'], { dependency: 'afterok:12:13,afterany:14' }],
    [['-d', 'singleton'], { dependency: 'singleton' }],
    [['--exclusive'], { exclusive: 'exclusive' }],
    [['--exclusive=user'], { exclusive: 'user' }],
    [['--constraint=ib&a100'], { constraint: 'ib&a100' }],
    [['-C', 'ib'], { constraint: 'ib' }],
    [['--chdir=/scratch'], { chdir: '/scratch' }],
    [['-D', '/scratch'], { chdir: '/scratch' }],
    [['--export=NONE'], { export: 'NONE' }],
    [['--export=ALL,FOO=bar'], { export: 'ALL,FOO=bar' }],
    [['--parsable'], { parsable: true }],
    [['--wrap=echo hi'], { wrap: 'echo hi' }],
    [['--hold'], { hold: true }],
    [['-H'], { hold: true }],
    [['-M', 'hpc'], { clusters: 'hpc' }],
    [['--clusters=hpc'], { clusters: 'hpc' }],
    [['--requeue'], { requeue: true }],
    [['--no-requeue'], { requeue: false }],
    [['--begin=now+60'], { begin: 'now+60' }],
    [['-b', '2026-11-23T08:00:00'], { begin: '2026-11-23T08:00:00' }],
    [['--nodelist=gpu-[0-1]'], { nodelist: 'gpu-[0-1]' }],
    [['--signal=B:USR1@60'], { signal: 'B:USR1@60' }],
    [['--comment=hello'], { comment: 'hello' }],
    [['--open-mode=append'], { openMode: 'append' }],
    [['--part=gpu'], { partition: 'gpu' }], // getopt_long abbreviation
    [['-Jname'], { jobName: 'name' }], // attached short value
    [['-HJ', 'x'], { hold: true, jobName: 'x' }], // bundled flags
  ];
  for (const [argv, want] of cases) {
    it(argv.join(' '), () => expect(opts(...argv)).toMatchObject(want));
  }
  it('accepts and passes through less common options', () => {
    expect(opts('--hint=nomultithread', '--overcommit').passthrough).toEqual({ hint: 'nomultithread', overcommit: '' });
  });
});

describe('sbatch errors (text and exit code as Slurm 22.05)', () => {
  const cases: [string[], string, number][] = [
    [['--foo'], `sbatch: unrecognized option '--foo'\nTry "sbatch --help" for more information\n`, 255],
    [['-Z'], `sbatch: invalid option -- 'Z'\nTry "sbatch --help" for more information\n`, 255],
    [['--time=abc'], 'sbatch: error: Invalid --time specification\n', 255],
    [['--nodes=x'], 'sbatch: error: "x" is not a valid node count\n', 255],
    [['--mem=lots'], 'sbatch: error: Invalid --mem specification\n', 255],
    [['--mail-type=BOGUS'], 'sbatch: error: Invalid --mail-type specification\n', 255],
    [['--ntasks=0'], 'sbatch: error: Invalid numeric value "0" for --ntasks.\n', 1],
    [['--cpus-per-task=x'], 'sbatch: error: Invalid numeric value "x" for --cpus-per-task.\n', 1],
    [['--array=abc'], 'sbatch: error: Batch job submission failed: Invalid job array specification\n', 1],
    [['--array=5-1'], 'sbatch: error: Batch job submission failed: Invalid job array specification\n', 1],
    [['--dependency=bogus:1'], 'sbatch: error: Batch job submission failed: Job dependency problem\n', 1],
    [['--begin=garbage'], 'Invalid time specification (pos=0): garbage\nsbatch: error: Invalid --begin specification\n', 255],
    [['--parsable=yes'], `sbatch: option '--parsable' doesn't allow an argument\nTry "sbatch --help" for more information\n`, 255],
    [['--job-name'], `sbatch: option '--job-name' requires an argument\nTry "sbatch --help" for more information\n`, 255],
    [['--no'], `sbatch: option '--no' is ambiguous; possibilities: '--nodes' '--ntasks'`, 255],
  ];
  for (const [argv, stderr, code] of cases) {
    it(argv.join(' '), () => {
      const e = fails(argv);
      if (argv[0] === '--no') expect(e.stderr.startsWith(stderr.slice(0, 40))).toBe(true);
      else expect(e.stderr).toBe(stderr);
      expect(e.exitCode).toBe(code);
    });
  }
  it('rejects script arguments with --wrap', () => {
    expect(() => parseCommandLine(['--wrap', 'true', 'x.sh'])).toThrow(/Script arguments not permitted with --wrap option/);
  });
  it('rejects an empty script and one without #!', () => {
    expect(fails([], '').stderr).toBe('sbatch: error: Batch script is empty!\n');
    expect(fails([], 'echo hi\n').stderr).toMatch(/This does not look like a batch script/);
  });
});

describe('#SBATCH directives and precedence', () => {
  const script = '#!/bin/bash\n# a comment\n\n#SBATCH -J fromscript --time=10\n#SBATCH --output="my out.txt"  # trailing comment\n#SBATCH --partition=script\necho hi\n#SBATCH --qos=ignored-after-code\n';
  it('reads directives until the first command', () => {
    expect(directives(script)).toEqual(['-J', 'fromscript', '--time=10', '--output=my out.txt', '--partition=script']);
  });
  it('command line > SBATCH_* variables > #SBATCH', () => {
    const o = resolveOptions(['-J', 'cli'], script, { SBATCH_PARTITION: 'env', SBATCH_EXPORT: 'NONE' });
    expect(o).toMatchObject({ jobName: 'cli', partition: 'env', timeSec: 600, output: 'my out.txt', export: 'NONE' });
    expect(o.qos).toBeUndefined();
  });
  it('splits like a shell', () => {
    expect(splitDirective(`a "b c" 'd e' f\\ g # h`)).toEqual(['a', 'b c', 'd e', 'f g']);
  });
  it('--wrap scripts look like sbatch\'s', () => {
    expect(wrapScript('echo hi')).toBe('#!/bin/sh\n# This script was created by sbatch --wrap.\n\necho hi\n');
  });
});

describe('arrays and dependencies', () => {
  it('array specs', () => {
    expect(validArray('0-15%4')).toBe(true);
    expect(validArray('1,3,5-7:2')).toBe(true);
    expect(validArray('1-')).toBe(false);
    expect(validArray('0-3%x')).toBe(false);
    expect(arrayIndices('0-15:4%2')).toEqual([0, 4, 8, 12]);
    expect(arrayIndices('3,1,1-2')).toEqual([1, 2, 3]);
  });
  it('dependency specs', () => {
    for (const d of ['after:1+5', 'afterany:1:2', 'afterok:1_3', 'afternotok:9', 'aftercorr:4', 'singleton', 'afterok:1?afternotok:2']) expect(validDependency(d), d).toBe(true);
    for (const d of ['', 'afterok', 'afterok:x', 'before:1', 'afterok:1,afterok:2?singleton']) expect(validDependency(d), d).toBe(false);
  });
});

describe('sbatch → Meridian job spec', () => {
  const ctx = { cwd: '/home/u', env: { HOME: '/home/u', MERIDIAN_TOKEN: 'secret', FOO: 'bar' }, user: 'u', host: 'login1', scriptPath: 'jobs/Train Model.sh' };
  it('maps the gang, resources and keeps Slurm detail in annotations', () => {
    const o = opts('-N', '2', '--ntasks-per-node=4', '-c', '2', '--mem-per-cpu=1G', '--gres=gpu:a100:4', '-t', '2:00:00', '-A', 'Physics', '-a', '0-3%2', '-o', 'x-%A_%a.out', '-H');
    const spec = jobSpecFor(o, S, ctx);
    expect(spec).toMatchObject({ name: 'train-model-sh', project: 'default', tasks: 2, resources: { cpu: 8, memory: 8192, gpus: 4, gpuModels: ['a100'] }, maxRuntime: 7200 });
    expect(spec.annotations).toMatchObject({
      'slurm.meridian.dev/jobName': 'Train Model.sh',
      'slurm.meridian.dev/account': 'Physics',
      'slurm.meridian.dev/array': '0-3%2',
      'slurm.meridian.dev/output': 'x-%A_%a.out',
      'slurm.meridian.dev/hold': 'true',
      'slurm.meridian.dev/workDir': '/home/u',
      'slurm.meridian.dev/timeLimitMin': '120',
      'slurm.meridian.dev/nodes': '2',
    });
    expect(spec.workload).toEqual({ script: S, env: { HOME: '/home/u', FOO: 'bar' } });
  });
  it('--export', () => {
    expect(exportedEnv('NONE', { A: '1' })).toEqual({});
    expect(exportedEnv('A,B=2', { A: '1', C: '3' })).toEqual({ A: '1', B: '2' });
    expect(exportedEnv(undefined, { A: '1', MERIDIAN_TOKEN: 'x', 'BASH_FUNC_x%%': '()' })).toEqual({ A: '1' });
  });
  it('GPU shapes', () => {
    expect(gpusPerNode(opts('--gpus=8'), 2, 1)).toEqual({ count: 4, type: undefined });
    expect(gpusPerNode(opts('--gpus-per-task=1'), 1, 4)).toEqual({ count: 4, type: undefined });
    expect(gpusPerNode(opts(), 1, 1)).toEqual({ count: 0 });
  });
  it('names', () => {
    expect(dnsLabel('My Job!!')).toBe('my-job');
    expect(dnsLabel('___')).toBe('job');
    expect(jobSpecFor(opts('--wrap=x'), S, { ...ctx, scriptPath: undefined }).name).toBe('wrap');
    expect(jobSpecFor(opts(), S, { ...ctx, scriptPath: undefined }).name).toBe('sbatch');
  });
});

describe('output formats', () => {
  const row: QueueRow = { displayId: '42', jobId: '42', partition: 'gpu', name: 'averyveryverylongname', user: 'alice', account: '', qos: '', state: 'PENDING', reason: 'Resources', nodeList: '', numNodes: 1, numCpus: 4, now: 1000, workDir: '', command: '', comment: '', dependency: '', features: '', tresPerNode: '' };
  it('squeue default', () => {
    expect(formatSqueue([row])).toBe(
      '             JOBID PARTITION     NAME     USER ST       TIME  NODES NODELIST(REASON)\n                42       gpu averyver    alice PD       0:00      1 (Resources)\n',
    );
  });
  it('squeue -o with OnDemand-style separators and no header', () => {
    expect(formatSqueue([{ ...row, state: 'RUNNING', startTime: 1000 - 3725, nodeList: 'gpu-0' }], '\x1e%i\x1f%t\x1f%M\x1f%R', false)).toBe('\x1e42\x1fR\x1f1:02:05\x1fgpu-0\n');
  });
  it('times', () => {
    expect([secsToTime(0), secsToTime(65), secsToTime(3725), secsToTime(90061)]).toEqual(['0:00', '1:05', '1:02:05', '1-01:01:01']);
  });
  it('sacct -P: | separated, no trailing |', () => {
    expect(formatSacctParsable([{ JobID: '7', JobName: 'x', Partition: 'gpu', Account: 'p', AllocCPUS: '2', State: 'TIMEOUT', ExitCode: '0:15' }])).toBe('JobID|JobName|Partition|Account|AllocCPUS|State|ExitCode\n7|x|gpu|p|2|TIMEOUT|0:15\n');
  });
  it('submit lines', () => {
    expect(submittedLine('9', false)).toBe('Submitted batch job 9\n');
    expect(submittedLine('9', true)).toBe('9\n');
    expect(submittedLine('9', true, 'hpc')).toBe('9;hpc\n');
  });
});
