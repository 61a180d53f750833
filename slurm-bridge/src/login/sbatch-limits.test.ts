import { describe, expect, it } from 'vitest';
import { resolveOptions, SbatchError } from './sbatch-options.ts';

const S = '#!/bin/bash\ntrue\n';
function fails(argv: string[], script = S): SbatchError {
  try {
    resolveOptions(argv, script, {});
  } catch (e) {
    if (e instanceof SbatchError) return e;
    throw e;
  }
  throw new Error(`no error for ${argv.join(' ').slice(0, 80)}`);
}

const SUBMIT = 'sbatch: error: Batch job submission failed: ';
const TOO_LONG = `${SUBMIT}Pathname of a file, directory or other parameter too long\n`;

// Each: what native sbatch (Slurm 22.05, default MaxArraySize=1001) prints and its exit code.
describe('login sbatch refuses what native sbatch refuses', () => {
  const cases: [string, string[], string, number][] = [
    ['an array index beyond MaxArraySize', ['--array=0-999999999'], `${SUBMIT}Invalid job array specification\n`, 1],
    ['an array index of exactly MaxArraySize', ['--array=1001'], `${SUBMIT}Invalid job array specification\n`, 1],
    ['an array step of MaxArraySize', ['--array=0-10:1001'], `${SUBMIT}Invalid job array specification\n`, 1],
    ['a job name over 1024 characters', ['--job-name', 'n'.repeat(5000)], TOO_LONG, 1],
    ['an account over 1024 characters', [`--account=${'a'.repeat(1025)}`], TOO_LONG, 1],
    ['an output path over PATH_MAX', [`--output=/${'o'.repeat(4096)}`], TOO_LONG, 1],
    ['zero tasks', ['--ntasks=0'], 'sbatch: error: Invalid numeric value "0" for --ntasks.\n', 1],
    ['negative cpus per task', ['--cpus-per-task=-2'], 'sbatch: error: Invalid numeric value "-2" for --cpus-per-task.\n', 1],
    ['tasks beyond the bounds (Slurm 22.05 takes INT_MAX)', ['--ntasks=2147483647'], `${SUBMIT}More processors requested than permitted\n`, 1],
    ['tasks beyond a long (strtol saturates)', ['--ntasks=99999999999999999999999'], 'sbatch: error: Numeric argument (9223372036854775807) to big for --ntasks.\n', 1],
    ['a time of garbage', ['--time=1:2:3:4'], 'sbatch: error: Invalid --time specification\n', 255],
    ['a time beyond a year', ['--time=400-00:00:00'], `${SUBMIT}Requested time limit is invalid (missing or exceeds some limit)\n`, 1],
    ['more nodes than the bounds', ['--nodes=5000'], `${SUBMIT}Node count specification invalid\n`, 1],
    ['more CPUs per node than the bounds', ['--ntasks-per-node=64', '--cpus-per-task=64'], `${SUBMIT}More processors requested than permitted\n`, 1],
    ['more memory than the bounds', ['--mem=65T'], `${SUBMIT}Memory required by task is not available\n`, 1],
  ];
  it.each(cases)('%s', (_what, argv, stderr, code) => {
    const e = fails(argv);
    expect(e.stderr).toBe(stderr);
    expect(e.exitCode).toBe(code);
  });

  it('takes the edges', () => {
    expect(resolveOptions(['--array=0-1000%10', '--job-name', 'n'.repeat(1024), '--time=365-00:00:00', '--nodes=4096', '--mem=64T'], S, {})).toMatchObject({ array: '0-1000%10', timeSec: 365 * 86400 });
  });

  it('refuses an overlong job name from a #SBATCH line too', () => {
    expect(fails([], `#!/bin/sh\n#SBATCH -J ${'x'.repeat(1100)}\ntrue\n`).stderr).toBe(TOO_LONG);
  });

  it('checks the script as sbatch.c does', () => {
    expect(fails([], '  \n\t').stderr).toBe('sbatch: error: Batch script contains only whitespace!\n');
    expect(fails([], '#!/bin/sh\necho \u0000\n').stderr).toBe("sbatch: error: The Slurm controller does not allow scripts that\nsbatch: error: contain a NULL character '\\0'.\n");
    expect(fails([], '#!/bin/sh\r\necho hi\r\n').stderr).toBe('sbatch: error: Batch script contains DOS line breaks (\\r\\n)\nsbatch: error: instead of expected UNIX line breaks (\\n).\n');
    expect(fails([], `#!/bin/sh\n${'x'.repeat(4 * 1024 * 1024)}\n`).stderr).toBe(TOO_LONG);
  });
});
