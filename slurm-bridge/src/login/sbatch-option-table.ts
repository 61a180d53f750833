// Every sbatch option Meridian's sbatch knows: its spellings, whether it takes a value, and how the value is
// checked and applied, with sbatch's own refusals (Slurm 22.05's words; option errors exit 255). Read by the
// command-line and #SBATCH scanner in sbatch-options.ts.
import { parseDurationSec, parseMemoryMiB } from '../parsers/common.ts';
import { arraySpecIndices, arrayWithinBounds, validArraySpec } from '@meridian/protocol/slurm/array-spec';
import { SbatchError, submitError } from './sbatch-limits.ts';
import { dependencySeparator, dependencyTerm, SBATCH_DEPENDENCY_TYPES } from '@meridian/protocol/slurm/dependency';
import type { SbatchOptions } from './sbatch-types.ts';

const optionError = (msg: string) => new SbatchError(`sbatch: error: ${msg}\n`, 255);

type Arg = 'none' | 'required' | 'optional';
export interface OptDef {
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

export const OPTIONS: OptDef[] = [
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

export const BY_LONG = new Map(OPTIONS.map((d) => [d.long, d]));
export const BY_SHORT = new Map(OPTIONS.filter((d) => d.short).map((d) => [d.short!, d]));

/** Every long option name Meridian's sbatch accepts. */
export const ACCEPTED_OPTIONS: readonly string[] = OPTIONS.map((d) => d.long);

