// The sbatch settings a job carries through the federation. The login-node sbatch writes them as
// `slurm.meridian.dev/<key>` annotations on the job spec; the hub reads some (partition, nodelist,
// constraint, dependency, hold, array) to decide where and when a job may run; the Slurm driver passes them
// to slurmctld and the Kubernetes driver turns them into SLURM_* variables and output paths. One table, so
// a key written on one side is the key read on the other.

export const SLURM_ANNOTATION_PREFIX = 'slurm.meridian.dev/';

/** Every annotation key sbatch writes, with the type its value has once read back (values are strings on the wire). */
export const SLURM_ANNOTATION_KEYS = {
  jobName: 'string',
  partition: 'string',
  account: 'string',
  qos: 'string',
  nodes: 'number',
  ntasks: 'number',
  ntasksPerNode: 'number',
  cpusPerTask: 'number',
  memPerNodeMiB: 'number',
  memPerCpuMiB: 'number',
  gres: 'string',
  timeLimitMin: 'number',
  output: 'string',
  error: 'string',
  workDir: 'string',
  array: 'string',
  /** Slurm dependency syntax whose ids are federation job ids (afterok:123,after:124?...). */
  dependency: 'string',
  hold: 'boolean',
  constraint: 'string',
  exclusive: 'boolean',
  requeue: 'boolean',
  begin: 'string',
  signal: 'string',
  nodelist: 'string',
  submitDir: 'string',
  submitHost: 'string',
  submitUser: 'string',
  comment: 'string',
  mailType: 'string',
  mailUser: 'string',
  /** --export as given (ALL, NONE, NAMES) */
  export: 'string',
  /** --open-mode: append | truncate */
  openMode: 'string',
  /** the batch script's command line as sbatch saw it */
  command: 'string',
} as const satisfies Record<string, 'string' | 'number' | 'boolean'>;

export type SlurmAnnotationKey = keyof typeof SLURM_ANNOTATION_KEYS;

/** The full annotation name for a key: `slurm.meridian.dev/partition`. */
export function slurmAnnotationName(key: SlurmAnnotationKey): string {
  return `${SLURM_ANNOTATION_PREFIX}${key}`;
}

/** A job's value for one key; an empty value counts as not set, as sbatch never writes one. */
export function slurmAnnotation(annotations: Record<string, string> | undefined, key: SlurmAnnotationKey): string | undefined {
  const v = annotations?.[slurmAnnotationName(key)];
  return v === undefined || v === '' ? undefined : v;
}

/** Node labels the Slurm driver reports and the hub filters on. */
export const SLURM_NODE_LABELS = {
  partitions: `${SLURM_ANNOTATION_PREFIX}partitions`,
  /** `slurm.meridian.dev/feature.<name>` = "true" for each node feature (--constraint). */
  featurePrefix: `${SLURM_ANNOTATION_PREFIX}feature.`,
  cluster: `${SLURM_ANNOTATION_PREFIX}cluster`,
  reasonUser: `${SLURM_ANNOTATION_PREFIX}reason-user`,
  cloud: `${SLURM_ANNOTATION_PREFIX}cloud`,
  /** off | powering-up | powering-down, for elastic (State=CLOUD) nodes */
  power: `${SLURM_ANNOTATION_PREFIX}power`,
} as const;
