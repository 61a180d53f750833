// What native sbatch and slurmctld refuse beyond an option's grammar, with their own wording: the script's sanity
// checks (sbatch.c), the string lengths slurmctld allows (job_mgr.c _test_job_desc_fields), and the limits of
// Meridian's bounds table (protocol/src/bounds.ts) worded as slurmctld words the same refusal. Pure.
import { BOUNDS, utf8Length } from '@meridian/protocol/bounds';

/** sbatch's failure: the exact stderr text and exit code. */
export class SbatchError extends Error {
  constructor(
    readonly stderr: string,
    readonly exitCode: number,
  ) {
    super(stderr.trim());
    this.name = 'SbatchError';
  }
}

export const submitError = (msg: string) => new SbatchError(`sbatch: error: Batch job submission failed: ${msg}\n`, 1);

/** slurmctld's texts (slurm_errno.c) for the refusals below. */
export const SLURM_ERRORS = {
  tooLong: 'Pathname of a file, directory or other parameter too long',
  timeLimit: 'Requested time limit is invalid (missing or exceeds some limit)',
  nodeCount: 'Node count specification invalid',
  cpus: 'More processors requested than permitted',
  memory: 'Memory required by task is not available',
} as const;

/** The script checks of sbatch.c, in its order; each prints sbatch's lines and exits 1. */
export function checkScript(script: string): void {
  const fail = (...lines: string[]) => new SbatchError(lines.map((l) => `sbatch: error: ${l}\n`).join(''), 1);
  if (script.length === 0) throw fail('Batch script is empty!');
  if (/^\s*$/.test(script)) throw fail('Batch script contains only whitespace!');
  if (!script.startsWith('#!')) throw fail('This does not look like a batch script.  The first', 'line must start with #! followed by the path to an interpreter.', 'For instance: #!/bin/sh');
  if (script.includes('\u0000')) throw fail('The Slurm controller does not allow scripts that', "contain a NULL character '\\0'.");
  if (script.includes('\r\n')) throw fail('Batch script contains DOS line breaks (\\r\\n)', 'instead of expected UNIX line breaks (\\n).');
}

const TEXT = BOUNDS.slurmTextLength.max;
const PATH = BOUNDS.slurmPathLength.max;

/** The options these checks read (sbatch-options.ts's SbatchOptions has them all). */
export interface RequestedOptions {
  jobName?: string;
  account?: string;
  comment?: string;
  constraint?: string;
  licenses?: string;
  mailUser?: string;
  partition?: string;
  qos?: string;
  reservation?: string;
  gres?: string;
  array?: string;
  dependency?: string;
  output?: string;
  error?: string;
  input?: string;
  chdir?: string;
  timeSec?: number;
  timeMinSec?: number;
  nodesMin?: number;
  nodesMax?: number;
  ntasks?: number;
  ntasksPerNode?: number;
  cpusPerTask?: number;
  memMiB?: number;
  memPerCpuMiB?: number;
  memPerGpuMiB?: number;
  passthrough: Record<string, string>;
}

type TextOption = { [K in keyof RequestedOptions]-?: RequestedOptions[K] extends string | undefined ? K : never }[keyof RequestedOptions];

/** Option → the longest value slurmctld stores for it (bytes, as strlen counts). */
const LENGTHS: [TextOption, number][] = [
  ['jobName', TEXT],
  ['account', TEXT],
  ['comment', TEXT],
  ['constraint', TEXT],
  ['licenses', TEXT],
  ['mailUser', TEXT],
  ['partition', TEXT],
  ['qos', TEXT],
  ['reservation', TEXT],
  ['gres', TEXT],
  ['array', BOUNDS.arraySpecLength.max],
  ['dependency', 128 * 1024],
  ['output', PATH],
  ['error', PATH],
  ['input', PATH],
  ['chdir', PATH],
];

/**
 * Refusals slurmctld makes at submission, checked on the login node so the hub never sees them:
 * overlong strings and script, and requests beyond the bounds table.
 */
export function checkLimits(o: RequestedOptions, script: string): void {
  for (const [key, max] of LENGTHS) {
    const v = o[key];
    if (typeof v === 'string' && utf8Length(v) > max) throw submitError(SLURM_ERRORS.tooLong);
  }
  for (const name of ['wckey', 'network', 'prefer', 'mcs-label']) if (utf8Length(o.passthrough[name] ?? '') > TEXT) throw submitError(SLURM_ERRORS.tooLong);
  if (utf8Length(script) > BOUNDS.scriptBytes.max) throw submitError(SLURM_ERRORS.tooLong);
  if ((o.timeSec ?? 0) > BOUNDS.runtimeSec.max || (o.timeMinSec ?? 0) > BOUNDS.runtimeSec.max) throw submitError(SLURM_ERRORS.timeLimit);
  if ((o.nodesMin ?? 1) > BOUNDS.tasks.max || (o.nodesMax ?? 1) > BOUNDS.tasks.max) throw submitError(SLURM_ERRORS.nodeCount);
  const nodes = o.nodesMin ?? 1;
  const tasksPerNode = o.ntasksPerNode ?? Math.ceil((o.ntasks ?? nodes) / nodes);
  const cpusPerNode = tasksPerNode * (o.cpusPerTask ?? 1);
  if (cpusPerNode * 1000 > BOUNDS.cpuMilli.max) throw submitError(SLURM_ERRORS.cpus);
  const memMiB = Math.max(o.memMiB ?? 0, (o.memPerCpuMiB ?? 0) * cpusPerNode, o.memPerGpuMiB ?? 0);
  if (memMiB > BOUNDS.memoryMiB.max) throw submitError(SLURM_ERRORS.memory);
}
