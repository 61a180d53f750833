// The bounds of every field a user writes: one table read by the REST API (through the job spec and the request
// schemas, so the OpenAPI document shows them), the `meridian` CLI, the login-node commands and the portal.
// Each bound says why it is where it is, so a change is a decision, not a guess.

export interface Bound {
  min: number;
  max: number;
  unit: string;
  why: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const DAY = 86_400;

export const BOUNDS = {
  cpuMilli: { min: 1, max: 1_024_000, unit: 'millicores', why: '1m is the smallest share Kubernetes schedules; 1024 cores is more than any single node sold' },
  memoryMiB: { min: 1, max: 64 * MiB, unit: 'MiB', why: '64 TiB is the most memory of any single-system machine; beyond it a number is a typo' },
  gpus: { min: 0, max: 64, unit: 'GPUs per task', why: 'the largest GPU nodes hold 8 to 16 GPUs; 64 leaves room for NVLink domains seen as one node' },
  milliGpu: { min: 1, max: 999, unit: 'thousandths of a GPU', why: 'a share of one GPU; a whole GPU is gpus: 1' },
  rdma: { min: 0, max: 16, unit: 'RDMA devices per task', why: 'nodes carry at most 8 to 16 HCAs' },
  tasks: { min: 1, max: 4096, unit: 'tasks', why: 'gang size; one task per index of Slurm\'s --array limit and then some' },
  priority: { min: -1000, max: 1000, unit: '', why: 'a relative order within a tier' },
  runtimeSec: { min: 1, max: 365 * DAY, unit: 'seconds', why: 'a year: a longer limit means no limit, which a tier and a budget cannot plan for' },
  checkpointGraceSec: { min: 0, max: 3600, unit: 'seconds', why: 'the time between the checkpoint signal and the kill; an hour writes any checkpoint' },
  datasets: { min: 0, max: 64, unit: 'datasets per job', why: 'each dataset is one prewarm copy to plan' },
  datasetSizeBytes: { min: 0, max: Number.MAX_SAFE_INTEGER, unit: 'bytes', why: '8 PiB, the largest whole number JSON carries exactly' },
  nameLength: { min: 1, max: 63, unit: 'characters', why: 'a DNS label: jobs, projects, clusters and regions become Kubernetes names and labels' },
  datasetNameLength: { min: 1, max: 253, unit: 'characters', why: 'a DNS subdomain: dataset names become directory and label values on every cluster' },
  gpuModelLength: { min: 1, max: 128, unit: 'characters', why: 'product names such as NVIDIA-A100-SXM4-80GB' },
  gpuModels: { min: 0, max: 32, unit: 'models', why: 'a list of acceptable GPU models' },
  placementTargets: { min: 0, max: 64, unit: 'clusters or regions', why: 'a federation is tens of clusters' },
  labels: { min: 0, max: 256, unit: 'labels', why: 'labels select; more than a few hundred is data, which belongs in annotations' },
  labelKeyPrefixLength: { min: 0, max: 253, unit: 'characters', why: 'Kubernetes: the prefix of a label or annotation key is a DNS subdomain' },
  labelKeyNameLength: { min: 1, max: 63, unit: 'characters', why: 'Kubernetes: the name part of a label or annotation key' },
  labelValueLength: { min: 0, max: 63, unit: 'characters', why: 'Kubernetes: label values are copied onto pods' },
  annotationsBytes: { min: 0, max: 256 * KiB, unit: 'bytes (keys and values, UTF-8)', why: 'Kubernetes refuses an object whose annotations total more' },
  envVars: { min: 0, max: 4096, unit: 'variables', why: 'a login environment has tens; thousands is a mistake' },
  envNameLength: { min: 1, max: 255, unit: 'characters', why: 'variable names are identifiers' },
  envValueBytes: { min: 0, max: 128 * KiB, unit: 'bytes (UTF-8)', why: 'Linux refuses a single environment string over MAX_ARG_STRLEN (128 KiB) at exec' },
  envBytes: { min: 0, max: 1 * MiB, unit: 'bytes (UTF-8, names and values)', why: 'Linux gives argv and environ together 2 MiB at exec (ARG_MAX)' },
  scriptBytes: { min: 1, max: 4 * MiB, unit: 'bytes (UTF-8)', why: 'Slurm\'s default max_script_size' },
  imageLength: { min: 1, max: 1024, unit: 'characters', why: 'registry/repository:tag@sha256:digest fits with room to spare' },
  commandArgs: { min: 0, max: 1024, unit: 'arguments', why: 'command and args together become one exec' },
  argBytes: { min: 0, max: 128 * KiB, unit: 'bytes (UTF-8)', why: 'Linux refuses a single argument over MAX_ARG_STRLEN (128 KiB) at exec' },
  /** Slurm's default MaxArraySize: indices 0..MaxArraySize-1. */
  arraySize: { min: 1, max: 1001, unit: 'indices (0..1000)', why: 'Slurm\'s default MaxArraySize; slurmctld refuses an index at or above it' },
  arraySpecLength: { min: 1, max: 4 * KiB, unit: 'characters', why: 'slurmctld refuses an --array expression longer than 4096 characters' },
  /** What slurmctld accepts for a job name, account, partition, QOS, comment and other free text (job_mgr.c). */
  slurmTextLength: { min: 0, max: 1024, unit: 'characters', why: 'slurmctld refuses longer job names, accounts, partitions, QOS, comments' },
  slurmPathLength: { min: 0, max: 4096, unit: 'characters', why: 'slurmctld refuses output, error, input and working-directory paths over PATH_MAX' },
  priceUsd: { min: 0, max: 1_000_000, unit: 'USD per GPU-hour or per GB', why: 'prices beyond a million dollars are typos' },
  prices: { min: 0, max: 256, unit: 'GPU models', why: 'one price per GPU model a cluster carries' },
  tokenNameLength: { min: 0, max: 100, unit: 'characters', why: 'a note for the token\'s owner' },
} as const satisfies Record<string, Bound>;

export type BoundName = keyof typeof BOUNDS;

/**
 * The one name pattern: a DNS label (lowercase letters, digits, "-", starting and ending with a letter or digit).
 * Jobs, projects, clusters and regions all become Kubernetes names or label values somewhere.
 */
export const NAME_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const NAME_HINT = 'use lowercase letters, digits and "-", starting and ending with a letter or digit';

/**
 * Dataset names, as the dataset registry takes them: letters, digits, "-", "_" and ".", starting and ending with
 * a letter or digit. Path-safe by construction — one path component, never "/", never "." or ".." alone, never a
 * leading "." — because a dataset name becomes a directory on every cluster that caches it.
 */
export const DATASET_NAME_PATTERN = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
export const DATASET_NAME_HINT = 'use letters, digits, "-", "_" and ".", starting and ending with a letter or digit (e.g. imagenet-1k); no "/" and no ".."';

/** Kubernetes qualified names: label and annotation keys (`[prefix/]name`), and label values. */
export const LABEL_KEY_NAME_PATTERN = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
/** A DNS subdomain: dot-separated DNS labels. */
export const LABEL_KEY_PREFIX_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const LABEL_VALUE_PATTERN = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Environment variable names. */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Signals a job may trap to checkpoint: the agent protocol and the job spec accept these and no others
 * (SIGKILL and SIGSTOP cannot be caught, so a job could never checkpoint on them).
 */
export const CHECKPOINT_SIGNALS = ['SIGUSR1', 'SIGUSR2', 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGALRM', 'SIGCONT', 'SIGTSTP', 'SIGWINCH', 'SIGURG', 'SIGXCPU', 'SIGPWR'] as const;
export type CheckpointSignal = (typeof CHECKPOINT_SIGNALS)[number];

/** "1..1024000 millicores" — the range as every message shows it. */
export function rangeText(b: Bound): string {
  const n = (x: number) => (Number.isSafeInteger(x) ? x.toLocaleString('en-US') : String(x));
  return `${n(b.min)}..${n(b.max)}${b.unit ? ` ${b.unit}` : ''}`;
}

/** Whether a number lies within a bound (NaN and infinities never do). */
export function within(b: Bound, v: number): boolean {
  return Number.isFinite(v) && v >= b.min && v <= b.max;
}

/** UTF-8 length of a string without allocating (lone surrogates count as the 3 bytes of U+FFFD). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/**
 * Why a string cannot be stored, or undefined when it can: Postgres refuses U+0000 in text and jsonb, and a
 * lone UTF-16 surrogate is no character at all (it cannot be written as UTF-8).
 */
export function unsafeStringReason(s: string): string | undefined {
  if (s.includes('\u0000')) return 'contains a NUL character (\\u0000); remove it';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      i++;
      continue;
    }
    return `contains a lone UTF-16 surrogate (\\u${c.toString(16)} at position ${i}); send valid Unicode text`;
  }
  return undefined;
}
