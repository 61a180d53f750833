// Properties of the login sbatch parsers: any command line, #SBATCH block or SBATCH_* environment ends in
// options or in sbatch's own refusal (never another exception); a refusal names its option or is one of the
// slurmctld texts native sbatch prints as they are; #SBATCH words split like a shell.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SLURM_ERRORS } from './sbatch-limits.ts';
import { ACCEPTED_OPTIONS, directives, resolveOptions, SbatchError, splitDirective } from './sbatch-options.ts';

const RUNS = { numRuns: 400 };
const S = '#!/bin/bash\ntrue\n';

const tricky = fc.constantFrom('', '0', '-1', '1', '2147483647', '99999999999999999999999', '0-999999999', '1-', 'x', '1:2:3:4', '5-1', '%', '1e308', 'UNLIMITED', 'gpu:a100:2', 'afterok:1', 'now+1hour', '\u00e9', ' ', '=', '--', "'", 'a'.repeat(1100), '0-1000%4', '64T', '65T');
const value = fc.oneof(tricky, fc.string({ maxLength: 20 }), fc.integer({ min: -5, max: 1e7 }).map(String));
const option = fc.constantFrom(...ACCEPTED_OPTIONS.filter((o) => !['help', 'usage', 'version'].includes(o)));
const arg = fc.tuple(option, value, fc.boolean()).map(([o, v, eq]) => (eq ? [`--${o}=${v}`] : [`--${o}`, v]));
const argv = fc.array(arg, { maxLength: 6 }).map((xs) => xs.flat());

/** Thrown by resolveOptions: only sbatch's own refusal, in its shape. */
function refusal(run: () => unknown): SbatchError | undefined {
  try {
    run();
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(SbatchError);
    const err = e as SbatchError;
    expect([1, 255]).toContain(err.exitCode);
    expect(err.stderr.endsWith('\n')).toBe(true);
    for (const line of err.stderr.trimEnd().split('\n')) expect(line).toMatch(/^(sbatch: |Try "sbatch --help"|Invalid time specification)/);
    return err;
  }
}

/** Words by which a refusal of option `o` names it (native wording varies: "node count", "gres", ...). */
function namesOption(stderr: string, o: string): boolean {
  const t = stderr.toLowerCase();
  const word: Record<string, string[]> = { nodes: ['node count'], gres: ['gres'], array: ['array'], dependency: ['dependency'], begin: ['begin'], exclusive: ['exclusive'], nice: ['nice'], signal: ['signal'], 'open-mode': ['open-mode'] };
  return t.includes(`--${o}`) || (word[o] ?? []).some((w) => t.includes(w)) || Object.values(SLURM_ERRORS).some((m) => stderr.includes(m));
}

describe('sbatch option parser properties', () => {
  it('any command line ends in options or sbatch\'s own refusal', () => {
    fc.assert(fc.property(argv, (a) => void refusal(() => resolveOptions(a, S, {}))), RUNS);
  });

  it('a refusal of one option names it, or is a slurmctld text native sbatch prints as is', () => {
    fc.assert(
      fc.property(option, value, (o, v) => {
        const err = refusal(() => resolveOptions([`--${o}=${v}`], S, {}));
        if (err) expect(namesOption(err.stderr, o), `${o}=${v}: ${err.stderr}`).toBe(true);
      }),
      RUNS,
    );
  });

  it('any #SBATCH block and SBATCH_* environment ends in options or a refusal', () => {
    const line = fc.oneof(argv.map((a) => `#SBATCH ${a.map((w) => `'${w.replace(/'/g, "'\\''")}'`).join(' ')}`), fc.string({ maxLength: 30 }).map((s) => `#${s}`), fc.string({ maxLength: 30 }));
    const env = fc.dictionary(fc.constantFrom('SBATCH_ARRAY_INX', 'SBATCH_TIMELIMIT', 'SBATCH_JOB_NAME', 'SBATCH_MEM_PER_NODE', 'SBATCH_GPUS', 'SBATCH_EXPORT'), value);
    fc.assert(fc.property(fc.array(line, { maxLength: 6 }), env, (lines, e) => void refusal(() => resolveOptions([], `#!/bin/sh\n${lines.join('\n')}\n`, e))), RUNS);
  });
});

describe('#SBATCH directive parser properties', () => {
  it('never throws, and reads nothing after the first command', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.string({ maxLength: 30 }), (text, after) => {
        const ds = directives(`#!/bin/sh\n${text}`);
        expect(Array.isArray(ds)).toBe(true);
        expect(directives(`#!/bin/sh\necho hi\n#SBATCH ${after}`)).toEqual([]);
      }),
      RUNS,
    );
  });

  it('single-quoted words come back exactly, whatever they hold', () => {
    const word = fc.string({ maxLength: 20 }).filter((w) => !w.includes('\n') && !w.includes('\r'));
    fc.assert(
      fc.property(fc.array(word, { maxLength: 5 }), (words) => {
        const text = words.map((w) => `'${w.replace(/'/g, "'\\''")}'`).join(' ');
        expect(splitDirective(text)).toEqual(words);
        expect(directives(`#!/bin/sh\n#SBATCH ${text}\nrun\n`)).toEqual(words);
      }),
      RUNS,
    );
  });
});
