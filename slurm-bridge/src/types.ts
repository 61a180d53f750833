// The Slurm bridge's own view of a Slurm cluster: one normalised shape for jobs, nodes and partitions,
// whichever transport (slurmrestd or the CLI over SSH) produced it.

/** Slurm's long job states (scontrol/REST spelling). */
export type SlurmJobState =
  | 'PENDING'
  | 'RUNNING'
  | 'SUSPENDED'
  | 'COMPLETING'
  | 'COMPLETED'
  | 'CANCELLED'
  | 'FAILED'
  | 'TIMEOUT'
  | 'NODE_FAIL'
  | 'PREEMPTED'
  | 'BOOT_FAIL'
  | 'DEADLINE'
  | 'OUT_OF_MEMORY'
  | 'CONFIGURING'
  | 'REQUEUED'
  | 'RESIZING'
  | 'REVOKED'
  | 'SPECIAL_EXIT'
  | 'STOPPED'
  | 'SIGNALING'
  | 'STAGE_OUT'
  | 'REQUEUE_HOLD'
  | 'REQUEUE_FED'
  | 'RESV_DEL_HOLD';

export const TERMINAL_JOB_STATES: ReadonlySet<string> = new Set([
  'COMPLETED',
  'CANCELLED',
  'FAILED',
  'TIMEOUT',
  'NODE_FAIL',
  'PREEMPTED',
  'BOOT_FAIL',
  'DEADLINE',
  'OUT_OF_MEMORY',
  'REVOKED',
  'SPECIAL_EXIT',
]);

export interface SlurmJob {
  /** Slurm job id (for array tasks, the task's own id). */
  jobId: string;
  /** Array parent id and task index for array tasks. */
  arrayJobId?: string;
  arrayTaskId?: string;
  /** Array concurrency limit (`%N`), on the array's records. */
  arrayTaskThrottle?: number;
  name: string;
  comment: string;
  user: string;
  account?: string;
  partition: string;
  /** Base state in Slurm's long spelling, e.g. RUNNING, TIMEOUT, OUT_OF_MEMORY. */
  state: string;
  reason: string;
  /** Exit code and terminating signal: `exit 3` → 3/0, time limit → 0/15. */
  exitCode: number;
  signal: number;
  /** Compressed node list, e.g. gpu-[0-1]; empty while pending. */
  nodeList: string;
  numNodes: number;
  numCpus: number;
  /** Minutes; undefined = UNLIMITED. */
  timeLimitMin?: number;
  submitTime?: Date;
  startTime?: Date;
  endTime?: Date;
  stdout: string;
  stderr: string;
  workDir: string;
  /** e.g. gres:gpu:1 (REST tres_per_node / scontrol TresPerNode). */
  tresPerNode: string;
  priority?: number;
  qos?: string;
  dependency?: string;
  features?: string;
  command?: string;
  minMemory?: string;
}

export interface GresCount {
  name: string;
  type?: string;
  count: number;
}

export interface SlurmNode {
  name: string;
  /** Base state lowercase: idle, allocated, mixed, down, future, unknown, error. */
  baseState: string;
  /** Flags uppercase: DRAIN, NOT_RESPONDING, CLOUD, POWERED_DOWN, POWERING_UP, POWERING_DOWN, COMPLETING, ... */
  flags: string[];
  cpus: number;
  allocCpus: number;
  memoryMiB: number;
  allocMemoryMiB: number;
  gres: GresCount[];
  gresUsed: GresCount[];
  partitions: string[];
  features: string[];
  reason: string;
  reasonUser?: string;
  reasonTime?: Date;
}

export interface SlurmPartition {
  name: string;
  nodes: string;
  state: string;
  isDefault: boolean;
  totalCpus: number;
  totalNodes: number;
  /** Minutes; undefined = UNLIMITED. */
  maxTimeMin?: number;
}

/** What the bridge can ask Slurm to run: the common subset of sbatch options and slurmrestd job properties. */
export interface SubmitRequest {
  script: string;
  name?: string;
  comment?: string;
  partition?: string;
  account?: string;
  qos?: string;
  /** Minimum node count. */
  nodes?: number;
  tasks?: number;
  tasksPerNode?: number;
  cpusPerTask?: number;
  memoryPerNodeMiB?: number;
  memoryPerCpuMiB?: number;
  /** GRES per node, e.g. gpu:2 or gpu:a100:2. */
  gres?: string;
  timeLimitMin?: number;
  stdout?: string;
  stderr?: string;
  workDir?: string;
  /** Environment for the job: over the CLI added to the agent's fixed environment (never sbatch's own); the whole environment over REST. */
  env?: Record<string, string>;
  array?: string;
  dependency?: string;
  hold?: boolean;
  constraint?: string;
  exclusive?: boolean;
  requeue?: boolean;
  /** Node names the job must use (comma list / hostlist). */
  nodeList?: string;
  /** Slurm --begin value (e.g. now+60, 2026-11-22T12:00:00). */
  begin?: string;
  /** Signal before the time limit, e.g. "USR1@60" (checkpoint). */
  signal?: string;
  /** Submit under this job ID (the Meridian ID; CLI transports with the job-ID library only). */
  jobId?: string;
  /** Run the job as this Unix account (sbatch --uid/--gid; the agent must run as root). */
  uid?: number;
  gid?: number;
}

/** A Unix account on the cluster's login node. */
export interface UnixAccount {
  name: string;
  uid: number;
  gid: number;
}

export interface SubmitResult {
  jobId: string;
}

export type NodeUpdate =
  | { state: 'drain'; reason: string }
  | { state: 'resume' }
  | { state: 'down'; reason: string }
  | { state: 'power_up' }
  | { state: 'power_down' };

/** Files only the account that submits the jobs can read, on the cluster (job secrets). */
export interface PrivateFiles {
  /**
   * Makes `dir` and its parent mode 0700, owned by the submitting account; `parentTraversable`: the parent 0711,
   * so a job running as another account reaches its own directory inside (and lists nothing).
   */
  makePrivateDir(dir: string, opts?: { parentTraversable?: boolean }): Promise<void>;
  /** Writes `path` mode 0600 (a new file renamed into place). */
  writePrivateFile(path: string, content: string | Buffer): Promise<void>;
  /** Removes a directory and the files in it; nothing when it is gone. */
  removeDir(dir: string): Promise<void>;
  /** Names in a directory; [] when it does not exist. */
  listDir(dir: string): Promise<string[]>;
  /** Hands a file or directory to another account (a job that runs as its submitter reads its secrets; needs root). */
  chown?(path: string, uid: number, gid: number): Promise<void>;
}

export interface SlurmTransport {
  readonly kind: 'rest' | 'ssh' | 'local';
  /** Private files on the cluster; undefined when the transport cannot write files (REST without a CLI fallback). */
  readonly files?: PrivateFiles;
  ping(): Promise<void>;
  submit(req: SubmitRequest): Promise<SubmitResult>;
  /** One job by Slurm id; undefined when Slurm no longer knows it. */
  getJob(jobId: string): Promise<SlurmJob | undefined>;
  /** Every job slurmctld knows (pending, running and recently finished), array tasks expanded. */
  listJobs(): Promise<SlurmJob[]>;
  /** Jobs whose comment equals `comment` (the federation id marker). */
  findJobsByComment(comment: string): Promise<SlurmJob[]>;
  cancel(jobId: string, signal?: string): Promise<void>;
  /** Sends `signal` (SIGUSR1 or USR1) to the job's batch script and leaves the job running. */
  signal(jobId: string, signal: string): Promise<void>;
  /** A user hold (JobHeldUser), also when the agent runs as root. */
  hold(jobId: string): Promise<void>;
  release(jobId: string): Promise<void>;
  nodes(): Promise<SlurmNode[]>;
  partitions(): Promise<SlurmPartition[]>;
  updateNode(name: string, update: NodeUpdate): Promise<void>;
  /** Last `lines` lines of a file on the cluster (job output); undefined when it does not exist. */
  readTail(path: string, lines: number): Promise<string | undefined>;
  /** Size in bytes of a file on the cluster; undefined when it does not exist. */
  fileSize(path: string): Promise<number | undefined>;
  /** A file from byte `offset` (0-based) to its current end, as UTF-8 text; undefined when it does not exist. */
  readFrom(path: string, offset: number): Promise<string | undefined>;
  /** Whether `submit` honours `SubmitRequest.jobId`. */
  readonly setsJobIds?: boolean;
  /** A Unix account by name on the host sbatch runs on (getent passwd); undefined when there is none. */
  account?(name: string): Promise<UnixAccount | undefined>;
  close(): Promise<void>;
}

/** A Slurm call failed; `slurmMessage` is Slurm's own words. */
export class SlurmError extends Error {
  constructor(
    message: string,
    readonly slurmMessage: string = message,
    readonly code?: number,
  ) {
    super(message);
    this.name = 'SlurmError';
  }
}

/** The transport cannot do this operation against this Slurm version. */
export class SlurmUnsupportedError extends SlurmError {
  constructor(message: string) {
    super(message);
    this.name = 'SlurmUnsupportedError';
  }
}
