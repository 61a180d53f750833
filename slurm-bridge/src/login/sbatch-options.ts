// sbatch's command line, #SBATCH directives and SBATCH_* input variables → one options object, with sbatch's
// own error messages and exit codes (checked against Slurm 22.05's sbatch: option errors exit 255, submission
// errors exit 1). Pure: no I/O; the caller reads the script.
import { parseDurationSec, parseMemoryMiB } from '../parsers/common.ts';
import { arraySpecIndices, arrayWithinBounds, validArraySpec } from '@meridian/protocol/slurm/array-spec';
import { checkLimits, checkScript, SbatchError, submitError } from './sbatch-limits.ts';
import { dependencySeparator, dependencyTerm, SBATCH_DEPENDENCY_TYPES } from '@meridian/protocol/slurm/dependency';

export interface SbatchOptions {
  jobName?: string;
  timeSec?: number;
  timeMinSec?: number;
  output?: string;
  error?: string;
  input?: string;
  partition?: string;
  nodesMin?: number;
  nodesMax?: number;
  ntasks?: number;
  ntasksPerNode?: number;
  cpusPerTask?: number;
  memMiB?: number;
  memPerCpuMiB?: number;
  memPerGpuMiB?: number;
  gres?: string;
  gpus?: string;
  gpusPerNode?: string;
  gpusPerTask?: string;
  account?: string;
  array?: string;
  mailType?: string[];
  mailUser?: string;
  qos?: string;
  dependency?: string;
  exclusive?: string;
  constraint?: string;
  chdir?: string;
  export?: string;
  parsable?: boolean;
  wrap?: string;
  hold?: boolean;
  clusters?: string;
  requeue?: boolean;
  begin?: string;
  nodelist?: string;
  exclude?: string;
  comment?: string;
  signal?: string;
  openMode?: 'append' | 'truncate';
  reservation?: string;
  licenses?: string;
  nice?: number;
  priority?: string;
  wait?: boolean;
  testOnly?: boolean;
  quiet?: boolean;
  /** Accepted options Meridian passes through to Slurm untouched (long name → value). */
  passthrough: Record<string, string>;
}

export interface SbatchInvocation {
  options: SbatchOptions;
  /** Script path (undefined: stdin or --wrap). */
  scriptPath?: string;
  scriptArgs: string[];
  action: 'submit' | 'help' | 'usage' | 'version';
}

export { checkScript, SbatchError };

const optionError = (msg: string) => new SbatchError(`sbatch: error: ${msg}\n`, 255);

type Arg = 'none' | 'required' | 'optional';
interface OptDef {
  long: string;
  short?: string;
  arg: Arg;
  apply: (o: SbatchOptions, v: string | undefined, name: string) => void;
}

const LONG_MAX = 9223372036854775807n;
/**
 * Slurm 22.05's parse_int: a positive whole number; strtol saturates at LONG_MAX, which it refuses in its own
 * words (sic). Values that fit are taken; the bounds table (checkLimits) refuses what no cluster could run.
 */
const posInt = (flag: string) => (v: string | undefined): number => {
  if (!v || !/^\+?\d+$/.test(v) || BigInt(v) <= 0n) throw new SbatchError(`sbatch: error: Invalid numeric value "${v ?? ''}" for --${flag}.\n`, 1);
  const n = BigInt(v);
  if (n >= LONG_MAX) throw new SbatchError(`sbatch: error: Numeric argument (${LONG_MAX}) to big for --${flag}.\n`, 1);
  return Number(n);
};

const mem = (flag: string) => (v: string | undefined): number => {
  const m = v === undefined ? null : parseMemoryMiB(v);
  if (m === null) throw optionError(`Invalid --${flag} specification`);
  return m;
};

const time = (flag: string) => (v: string | undefined): number => {
  const t = (v ?? '').trim();
  if (/^(INFINITE|UNLIMITED|infinite|unlimited|-1)$/.test(t)) return 0; // 0 = no limit
  const s = parseDurationSec(t);
  if (s === null) throw optionError(`Invalid --${flag} specification`);
  return s;
};

const MAIL_TYPES = new Set(['NONE', 'BEGIN', 'END', 'FAIL', 'REQUEUE', 'ALL', 'INVALID_DEPEND', 'STAGE_OUT', 'TIME_LIMIT', 'TIME_LIMIT_90', 'TIME_LIMIT_80', 'TIME_LIMIT_50', 'ARRAY_TASKS']);

/** `0-15`, `0,6,16-32`, `0-15:4`, with an optional `%N` limit. */
export const validArray = validArraySpec;

/** Expands an array spec into its indices (without the limit). */
export const arrayIndices = (spec: string): number[] => arraySpecIndices(spec);

/** `afterok:1:2,afterany:3?singleton` — types Slurm knows, numeric ids, optional +minutes for after. */
export function validDependency(spec: string): boolean {
  if (!spec) return false;
  const { sep, mixed } = dependencySeparator(spec);
  if (mixed) return false; // Slurm allows one kind of separator
  return spec.split(sep).every((d) => {
    if (d === 'singleton') return true;
    const t = dependencyTerm(d, SBATCH_DEPENDENCY_TYPES);
    if (!t) return false;
    return t.ids.every((id) => (t.type === 'after' ? /^\d+(_\d+)?(\+\d+)?$/ : /^\d+(_\d+)?$/).test(id));
  });
}

/** A subset of Slurm's --begin grammar: now[+N[units]], HH:MM[:SS], YYYY-MM-DD[THH:MM[:SS]], midnight/noon/teatime/fika/elevenses/today/tomorrow. */
export function validBegin(v: string): boolean {
  return (
    /^now(\+\d+(seconds|minutes|hours|days|weeks|s|m|h|d|w)?)?$/.test(v) ||
    /^\d{1,2}:\d{2}(:\d{2})?([AaPp][Mm])?$/.test(v) ||
    /^\d{4}-\d{2}-\d{2}(T\d{1,2}:\d{2}(:\d{2})?)?$/.test(v) ||
    /^\d{1,2}\/\d{1,2}(\/\d{2,4})?$/.test(v) ||
    /^(midnight|noon|elevenses|fika|teatime|today|tomorrow)$/.test(v)
  );
}

function validGres(v: string): boolean {
  return v.split(',').every((g) => /^(gres[:/])?[A-Za-z][\w.-]*(:[A-Za-z0-9_.-]+)?(:\d+[KMG]?)?$/.test(g) || g === 'none');
}

function validSignal(v: string): boolean {
  return /^([RB]{1,2}:)?(\d+|(SIG)?[A-Z][A-Z0-9]*)(@\d+)?$/.test(v);
}

const pass = (o: SbatchOptions, v: string | undefined, name: string) => {
  o.passthrough[name] = v ?? '';
};

const OPTIONS: OptDef[] = [
  { long: 'job-name', short: 'J', arg: 'required', apply: (o, v) => (o.jobName = v) },
  { long: 'time', short: 't', arg: 'required', apply: (o, v) => (o.timeSec = time('time')(v)) },
  { long: 'time-min', arg: 'required', apply: (o, v) => (o.timeMinSec = time('time-min')(v)) },
  { long: 'output', short: 'o', arg: 'required', apply: (o, v) => (o.output = v) },
  { long: 'error', short: 'e', arg: 'required', apply: (o, v) => (o.error = v) },
  { long: 'input', short: 'i', arg: 'required', apply: (o, v) => (o.input = v) },
  { long: 'partition', short: 'p', arg: 'required', apply: (o, v) => (o.partition = v) },
  {
    long: 'nodes',
    short: 'N',
    arg: 'required',
    apply: (o, v) => {
      const m = /^(\d+)(?:-(\d+))?$/.exec(v ?? '');
      if (!m || Number(m[1]) <= 0 || (m[2] !== undefined && Number(m[2]) < Number(m[1]))) throw optionError(`"${v}" is not a valid node count`);
      o.nodesMin = Number(m[1]);
      o.nodesMax = m[2] !== undefined ? Number(m[2]) : undefined;
    },
  },
  { long: 'ntasks', short: 'n', arg: 'required', apply: (o, v) => (o.ntasks = posInt('ntasks')(v)) },
  { long: 'ntasks-per-node', arg: 'required', apply: (o, v) => (o.ntasksPerNode = posInt('ntasks-per-node')(v)) },
  { long: 'cpus-per-task', short: 'c', arg: 'required', apply: (o, v) => (o.cpusPerTask = posInt('cpus-per-task')(v)) },
  { long: 'mem', arg: 'required', apply: (o, v) => (o.memMiB = mem('mem')(v)) },
  { long: 'mem-per-cpu', arg: 'required', apply: (o, v) => (o.memPerCpuMiB = mem('mem-per-cpu')(v)) },
  { long: 'mem-per-gpu', arg: 'required', apply: (o, v) => (o.memPerGpuMiB = mem('mem-per-gpu')(v)) },
  {
    long: 'gres',
    arg: 'required',
    apply: (o, v) => {
      if (!v || !validGres(v)) throw optionError(`Invalid generic resource (gres) specification`);
      o.gres = v;
    },
  },
  {
    long: 'gpus',
    short: 'G',
    arg: 'required',
    apply: (o, v) => {
      if (!v || !/^([A-Za-z0-9_.-]+:)?\d+$/.test(v)) throw optionError(`Invalid --gpus specification`);
      o.gpus = v;
    },
  },
  {
    long: 'gpus-per-node',
    arg: 'required',
    apply: (o, v) => {
      if (!v || !/^([A-Za-z0-9_.-]+:)?\d+$/.test(v)) throw optionError(`Invalid --gpus-per-node specification`);
      o.gpusPerNode = v;
    },
  },
  {
    long: 'gpus-per-task',
    arg: 'required',
    apply: (o, v) => {
      if (!v || !/^([A-Za-z0-9_.-]+:)?\d+$/.test(v)) throw optionError(`Invalid --gpus-per-task specification`);
      o.gpusPerTask = v;
    },
  },
  { long: 'account', short: 'A', arg: 'required', apply: (o, v) => (o.account = v) },
  {
    long: 'array',
    short: 'a',
    arg: 'required',
    apply: (o, v) => {
      // slurmctld refuses an index or step at or above MaxArraySize with the same words as a malformed spec.
      if (!v || !arrayWithinBounds(v)) throw submitError('Invalid job array specification');
      o.array = v;
    },
  },
  {
    long: 'mail-type',
    arg: 'required',
    apply: (o, v) => {
      const types = (v ?? '').split(',').map((s) => s.trim().toUpperCase());
      if (!types.length || types.some((t) => !MAIL_TYPES.has(t))) throw optionError('Invalid --mail-type specification');
      o.mailType = types;
    },
  },
  { long: 'mail-user', arg: 'required', apply: (o, v) => (o.mailUser = v) },
  { long: 'qos', short: 'q', arg: 'required', apply: (o, v) => (o.qos = v) },
  {
    long: 'dependency',
    short: 'd',
    arg: 'required',
    apply: (o, v) => {
      if (!v || !validDependency(v)) throw submitError('Job dependency problem');
      o.dependency = v;
    },
  },
  {
    long: 'exclusive',
    arg: 'optional',
    apply: (o, v) => {
      if (v !== undefined && !['user', 'mcs', 'topo'].includes(v)) throw optionError(`invalid exclusive option ${v}`);
      o.exclusive = v ?? 'exclusive';
    },
  },
  { long: 'constraint', short: 'C', arg: 'required', apply: (o, v) => (o.constraint = v) },
  { long: 'chdir', short: 'D', arg: 'required', apply: (o, v) => (o.chdir = v) },
  { long: 'export', arg: 'required', apply: (o, v) => (o.export = v) },
  { long: 'parsable', arg: 'none', apply: (o) => (o.parsable = true) },
  { long: 'wrap', arg: 'required', apply: (o, v) => (o.wrap = v) },
  { long: 'hold', short: 'H', arg: 'none', apply: (o) => (o.hold = true) },
  { long: 'clusters', short: 'M', arg: 'required', apply: (o, v) => (o.clusters = v) },
  { long: 'cluster', arg: 'required', apply: (o, v) => (o.clusters = v) },
  { long: 'requeue', arg: 'none', apply: (o) => (o.requeue = true) },
  { long: 'no-requeue', arg: 'none', apply: (o) => (o.requeue = false) },
  {
    long: 'begin',
    short: 'b',
    arg: 'required',
    apply: (o, v) => {
      if (!v || !validBegin(v)) throw new SbatchError(`Invalid time specification (pos=0): ${v ?? ''}\nsbatch: error: Invalid --begin specification\n`, 255);
      o.begin = v;
    },
  },
  { long: 'nodelist', short: 'w', arg: 'required', apply: (o, v) => (o.nodelist = v) },
  { long: 'exclude', short: 'x', arg: 'required', apply: (o, v) => (o.exclude = v) },
  { long: 'comment', arg: 'required', apply: (o, v) => (o.comment = v) },
  {
    long: 'signal',
    arg: 'required',
    apply: (o, v) => {
      if (!v || !validSignal(v)) throw optionError(`Invalid --signal specification`);
      o.signal = v;
    },
  },
  {
    long: 'open-mode',
    arg: 'required',
    apply: (o, v) => {
      if (v?.startsWith('a')) o.openMode = 'append';
      else if (v?.startsWith('t')) o.openMode = 'truncate';
      else throw optionError(`Invalid --open-mode argument: ${v ?? ''}. Ignored`);
    },
  },
  { long: 'reservation', arg: 'required', apply: (o, v) => (o.reservation = v) },
  { long: 'licenses', short: 'L', arg: 'required', apply: (o, v) => (o.licenses = v) },
  {
    long: 'nice',
    arg: 'optional',
    apply: (o, v) => {
      if (v !== undefined && !/^[+-]?\d+$/.test(v)) throw optionError(`Invalid nice value, must be between -2147483645 and 2147483645`);
      o.nice = v === undefined ? 100 : Number(v);
    },
  },
  { long: 'priority', arg: 'required', apply: (o, v) => (o.priority = v) },
  { long: 'wait', short: 'W', arg: 'none', apply: (o) => (o.wait = true) },
  { long: 'test-only', arg: 'none', apply: (o) => (o.testOnly = true) },
  { long: 'quiet', short: 'Q', arg: 'none', apply: (o) => (o.quiet = true) },
  { long: 'verbose', short: 'v', arg: 'none', apply: () => {} },
  // Accepted and passed to Slurm unchanged (Meridian does not schedule on them).
  ...['distribution:m', 'mincpus', 'tmp', 'switches', 'thread-spec', 'threads-per-core', 'cores-per-socket', 'sockets-per-node', 'gpu-bind', 'gpu-freq', 'cpu-freq', 'wckey', 'deadline', 'delay-boot', 'hint', 'kill-on-invalid-dep', 'export-file', 'cpus-per-gpu', 'ntasks-per-core', 'ntasks-per-socket', 'ntasks-per-gpu', 'mcs-label', 'prefer', 'acctg-freq', 'core-spec:S', 'gres-flags', 'network', 'profile', 'burst-buffer', 'bb', 'bbf', 'container', 'uid', 'gid', 'extra-node-info:B', 'batch', 'cluster-constraint', 'comment']
    .filter((s) => s !== 'comment')
    .map((s): OptDef => {
      const [long, short] = s.split(':');
      return { long: long!, short, arg: 'required', apply: pass };
    }),
  ...['overcommit:O', 'oversubscribe:s', 'spread-job', 'contiguous', 'reboot', 'use-min-nodes', 'ignore-pbs', 'no-kill:k', 'propagate', 'get-user-env', 'exact', 'mem-bind', 'requeue']
    .filter((s) => s !== 'requeue')
    .map((s): OptDef => {
      const [long, short] = s.split(':');
      return { long: long!, short, arg: long === 'propagate' || long === 'get-user-env' || long === 'no-kill' || long === 'mem-bind' ? 'optional' : 'none', apply: pass };
    }),
  { long: 'help', short: 'h', arg: 'none', apply: () => {} },
  { long: 'usage', arg: 'none', apply: () => {} },
  { long: 'version', short: 'V', arg: 'none', apply: () => {} },
];

const BY_LONG = new Map(OPTIONS.map((d) => [d.long, d]));
const BY_SHORT = new Map(OPTIONS.filter((d) => d.short).map((d) => [d.short!, d]));

/** Every long option name Meridian's sbatch accepts. */
export const ACCEPTED_OPTIONS: readonly string[] = OPTIONS.map((d) => d.long);

function lookupLong(name: string): OptDef {
  const exact = BY_LONG.get(name);
  if (exact) return exact;
  const prefixed = OPTIONS.filter((d) => d.long.startsWith(name));
  const distinct = [...new Set(prefixed)];
  if (distinct.length === 1) return distinct[0]!; // getopt_long accepts unique abbreviations
  if (distinct.length > 1) {
    throw new SbatchError(`sbatch: option '--${name}' is ambiguous; possibilities:${distinct.map((d) => ` '--${d.long}'`).join('')}\nTry "sbatch --help" for more information\n`, 255);
  }
  throw new SbatchError(`sbatch: unrecognized option '--${name}'\nTry "sbatch --help" for more information\n`, 255);
}

/**
 * getopt_long-style scan: `--opt=v`, `--opt v`, `-x v`, `-xv`, bundled flags, `--` ends options, the first
 * non-option is the script and the rest are its arguments. Applies into `o` in order (later wins).
 */
export function applyArgs(o: SbatchOptions, argv: string[], where: 'cli' | 'directive'): { positional: string[]; action: SbatchInvocation['action'] } {
  let action: SbatchInvocation['action'] = 'submit';
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const def = lookupLong(name);
      let v: string | undefined;
      if (def.arg === 'none') {
        if (eq >= 0) throw new SbatchError(`sbatch: option '--${def.long}' doesn't allow an argument\nTry "sbatch --help" for more information\n`, 255);
      } else if (eq >= 0) v = a.slice(eq + 1);
      else if (def.arg === 'required') {
        if (i + 1 >= argv.length) throw new SbatchError(`sbatch: option '--${def.long}' requires an argument\nTry "sbatch --help" for more information\n`, 255);
        v = argv[++i];
      }
      if (def.long === 'help' || def.long === 'usage' || def.long === 'version') action = def.long;
      def.apply(o, v, def.long);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const def = BY_SHORT.get(c);
        if (!def) throw new SbatchError(`sbatch: invalid option -- '${c}'\nTry "sbatch --help" for more information\n`, 255);
        if (def.arg === 'none') {
          if (def.long === 'help' || def.long === 'version') action = def.long;
          def.apply(o, undefined, def.long);
          continue;
        }
        let v: string | undefined = a.slice(j + 1);
        if (!v) {
          if (def.arg === 'optional') v = undefined;
          else if (i + 1 >= argv.length) throw new SbatchError(`sbatch: option requires an argument -- '${c}'\nTry "sbatch --help" for more information\n`, 255);
          else v = argv[++i];
        }
        def.apply(o, v, def.long);
        break;
      }
      continue;
    }
    if (where === 'directive') continue; // stray words in #SBATCH lines are ignored
    positional.push(...argv.slice(i));
    break;
  }
  return { positional, action };
}

/** Shell-like word splitting for #SBATCH lines: quotes, backslashes, a trailing `# comment`. */
export function splitDirective(text: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else if (ch === '#' && !inWord) break;
    else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** `#SBATCH` directives: from the line after `#!` up to the first line that is neither blank nor a comment. */
export function directives(script: string): string[] {
  const out: string[] = [];
  const lines = script.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!.replace(/\r$/, '');
    const t = l.trim();
    if (t === '') continue;
    if (!t.startsWith('#')) break;
    const m = /^#SBATCH(\s+(.*))?$/.exec(l);
    if (m) out.push(...splitDirective(m[2] ?? ''));
  }
  return out;
}

/** SBATCH_* input environment variables → equivalent options (sbatch(1) "INPUT ENVIRONMENT VARIABLES"). */
const ENV_OPTIONS: [string, string, 'value' | 'flag'][] = [
  ['SBATCH_ACCOUNT', 'account', 'value'],
  ['SBATCH_ARRAY_INX', 'array', 'value'],
  ['SBATCH_CLUSTERS', 'clusters', 'value'],
  ['SLURM_CLUSTERS', 'clusters', 'value'],
  ['SBATCH_CONSTRAINT', 'constraint', 'value'],
  ['SBATCH_EXCLUSIVE', 'exclusive', 'flag'],
  ['SBATCH_EXPORT', 'export', 'value'],
  ['SBATCH_GRES', 'gres', 'value'],
  ['SBATCH_GPUS', 'gpus', 'value'],
  ['SBATCH_GPUS_PER_NODE', 'gpus-per-node', 'value'],
  ['SBATCH_HOLD', 'hold', 'flag'],
  ['SBATCH_JOB_NAME', 'job-name', 'value'],
  ['SBATCH_MEM_PER_CPU', 'mem-per-cpu', 'value'],
  ['SBATCH_MEM_PER_NODE', 'mem', 'value'],
  ['SBATCH_PARTITION', 'partition', 'value'],
  ['SBATCH_QOS', 'qos', 'value'],
  ['SBATCH_REQUEUE', 'requeue', 'flag'],
  ['SBATCH_NO_REQUEUE', 'no-requeue', 'flag'],
  ['SBATCH_TIMELIMIT', 'time', 'value'],
  ['SBATCH_WAIT', 'wait', 'flag'],
  ['SBATCH_RESERVATION', 'reservation', 'value'],
  ['SBATCH_SIGNAL', 'signal', 'value'],
];

export function envArgs(env: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (const [name, opt, kind] of ENV_OPTIONS) {
    const v = env[name];
    if (v === undefined) continue;
    out.push(kind === 'flag' ? `--${opt}` : `--${opt}=${v}`);
  }
  return out;
}

/** Scans the command line only (to learn the script and --wrap before reading it). */
export function parseCommandLine(argv: string[]): SbatchInvocation {
  const options: SbatchOptions = { passthrough: {} };
  const { positional, action } = applyArgs(options, argv, 'cli');
  if (action === 'submit' && options.wrap !== undefined && positional.length) {
    throw new SbatchError('sbatch: error: Script arguments not permitted with --wrap option\n', 1);
  }
  return { options, scriptPath: positional[0], scriptArgs: positional.slice(1), action };
}

/** The script sbatch submits for --wrap. */
export function wrapScript(cmd: string): string {
  return `#!/bin/sh\n# This script was created by sbatch --wrap.\n\n${cmd}\n`;
}

/**
 * The full option set: #SBATCH directives < SBATCH_* variables < command line (sbatch's precedence).
 * `script` is the text submitted (for --wrap, pass `wrapScript(wrap)`).
 */
export function resolveOptions(argv: string[], script: string, env: Record<string, string | undefined>): SbatchOptions {
  checkScript(script);
  const o: SbatchOptions = { passthrough: {} };
  applyArgs(o, directives(script), 'directive');
  applyArgs(o, envArgs(env), 'directive');
  applyArgs(o, argv, 'cli');
  checkLimits(o, script);
  return o;
}
