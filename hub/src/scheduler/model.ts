// Plain-data types for one scheduling cycle. Everything here is JSON-serialisable so the hub can
// persist a cycle's input and replay any decision later (determinism is a feature, not an accident).

export const TIERS = ['realtime', 'batch', 'interruptible', 'filler'] as const;
export type Tier = (typeof TIERS)[number];
/** Lower rank = more important. */
export const TIER_RANK: Record<Tier, number> = { realtime: 0, batch: 1, interruptible: 2, filler: 3 };

export const POLICIES = ['inventory-first', 'cost-first', 'locality-first', 'balanced'] as const;
export type PolicyName = (typeof POLICIES)[number];

/** Node-level choice inside a cluster. `fgd` is the fragmentation-gradient scorer (the default). */
export const NODE_STRATEGIES = ['fgd', 'best-fit', 'first-fit', 'random'] as const;
export type NodeStrategy = (typeof NODE_STRATEGIES)[number];

export const WORKLOAD_WEIGHTINGS = ['per-gpu', 'per-task'] as const;
export type WorkloadWeighting = (typeof WORKLOAD_WEIGHTINGS)[number];

export interface DatasetRef {
  name: string;
  sizeBytes: number;
  /** Cluster ids holding a warm cache. */
  cachedIn: string[];
  homeRegion: string;
}

export interface JobSpec {
  id: string;
  project: string;
  tier: Tier;
  /** Orders jobs inside one project and tier (higher first); fair share decides across projects. */
  priority?: number;
  /** Gang size: number of identical tasks, placed all-or-nothing on one cluster. */
  tasks: number;
  cpuMilli: number;
  memoryMiB: number;
  /** Whole GPUs per task. */
  gpus: number;
  /** Fractional share of one GPU per task (1..999); only with gpus = 0. */
  milliGpu?: number;
  /** Allowed GPU models; empty/absent = any. Use parseGpuModels for the `A|B` form. */
  gpuModels?: string[];
  datasets?: DatasetRef[];
  regions?: string[];
  clusters?: string[];
  expectedRuntimeSec: number;
  checkpointable?: boolean;
  /** Overrides the project's placement policy for this job only. */
  policy?: PolicyName;
  /** Epoch ms. */
  submittedAt: number;
  /** Cluster the job was queued for in the previous cycle (for rebalancing reports). */
  targetCluster?: string;
}

export interface PriceEntry {
  /** $ per GPU-hour. */
  onDemand: number;
  spot?: number;
}

export interface Link {
  region: string;
  bandwidthBytesPerSec: number;
  egressUsdPerGB: number;
}

export interface GpuState {
  healthy: boolean;
  /** Milli-GPU in use on this GPU (0..1000). */
  milliUsed: number;
}

export interface NodeSpec {
  name: string;
  /** Absent or '' for CPU-only nodes. */
  gpuModel?: string;
  gpus: GpuState[];
  cpuMilli: number;
  memoryMiB: number;
  cpuAllocatedMilli: number;
  memoryAllocatedMiB: number;
  schedulable: boolean;
}

export interface PrewarmProgress {
  dataset: string;
  percent: number;
}

export interface ClusterSpec {
  id: string;
  region: string;
  kind: 'kubernetes' | 'slurm';
  prices: Record<string, PriceEntry>;
  /** Links from this cluster to other regions (the data source side is the other region). */
  links: Link[];
  nodes: NodeSpec[];
  /** Cache copies in progress on this cluster. */
  prewarming?: PrewarmProgress[];
}

export type TaskPlacement =
  | { node: string; gpuIndices: number[] }
  | { node: string; gpuIndex: number; milli: number };

export interface RunningAllocation {
  jobId: string;
  project: string;
  tier: Tier;
  clusterId: string;
  gpuModel?: string;
  /** Per-task request, so usage and preemption release are exact. */
  cpuMilli: number;
  memoryMiB: number;
  gpus: number;
  milliGpu?: number;
  tasks: TaskPlacement[];
  checkpointable?: boolean;
  /** Epoch ms. */
  startedAt: number;
  expectedRuntimeSec: number;
  datasets?: DatasetRef[];
}

export interface BalancedWeights {
  cost: number;
  locality: number;
  inventory: number;
}

export interface ProjectSpec {
  name: string;
  weight: number;
  quota?: { totalGpus?: number; perModel?: Record<string, number> };
  budget?: { gpuHours?: number; usd?: number };
  policy?: PolicyName;
  weights?: BalancedWeights;
  /** Pending jobs allowed before admission answers 429 for this project. */
  maxPending?: number;
}

export interface SchedulerConfig {
  seed?: number;
  defaultPolicy?: PolicyName;
  nodeStrategy?: NodeStrategy;
  /** Cap on nodes scored per task (kube-scheduler's percentageOfNodesToScore, as a count). 0 = all. */
  maxNodesScored?: number;
  /**
   * Tasks that ask for no GPU leave a GPU node the CPU and memory its free GPUs need, at the queue's CPU
   * and memory per GPU (default true; off = the FGD paper's scheduler, which only scores fragmentation).
   */
  gpuNodeReserve?: boolean;
  /**
   * The fgd scorer counts GPU capacity a node's CPU and memory could not feed to GPU-sharing tasks as
   * fragmented (default true; off = the paper's measure, which checks whether one task fits).
   */
  cpuAwareFragmentation?: boolean;
  /**
   * How the fgd scorer weighs the queue's task types: 'per-task' (default) by how many tasks ask (the
   * paper's popularity), 'per-gpu' by tasks per GPU asked (fewer GPUs stranded at the end of a fill, but
   * large multi-GPU tasks are turned away more often on the way: see docs/scheduling.md).
   */
  workloadWeighting?: WorkloadWeighting;
  /** Do not hold GPUs idle while data copies for longer than this; pend as Prewarming instead. */
  maxPrewarmHoldSec?: number;
  preemption?: boolean;
  /** Jobs that may try preemption per cycle (highest tiers first); bounds the cost of a saturated cycle. */
  maxPreemptionAttempts?: number;
  backfill?: boolean;
  admission?: { maxPendingPerTier?: Partial<Record<Tier, number>>; maxPendingPerProject?: number };
  migration?: { enabled: boolean; minSavingUsd?: number; minSavingFraction?: number; restartOverheadSec?: number };
  /** Bandwidth/egress when a cluster has no link entry for a region. */
  defaultLink?: { bandwidthBytesPerSec: number; egressUsdPerGB: number };
}

export interface CycleInput {
  /** Epoch ms: the cycle's clock (never read from the system, so replays are exact). */
  now: number;
  clusters: ClusterSpec[];
  jobs: JobSpec[];
  running?: RunningAllocation[];
  projects?: ProjectSpec[];
  config?: SchedulerConfig;
}

export interface Placement {
  jobId: string;
  clusterId: string;
  gpuModel: string | null;
  tasks: TaskPlacement[];
  estimatedUsd: number;
}

export interface Preemption {
  jobId: string;
  clusterId: string;
  victims: string[];
  reason: string;
}

export interface PrewarmRequest {
  dataset: string;
  clusterId: string;
  bytes: number;
  forJobs: string[];
}

export type ReasonCode =
  | 'Invalid'
  | 'NoGPUModel'
  | 'NoClusterAllowed'
  | 'GangTooLarge'
  | 'QuotaExceeded'
  | 'BudgetExhausted'
  | 'WaitingForGang'
  | 'InsufficientGPU'
  | 'WaitingForLocalData'
  | 'Prewarming'
  | 'HeldForReservation'
  | 'ReservedForGpus';

export interface PendingJob {
  jobId: string;
  code: ReasonCode;
  reason: string;
  /** Seconds until the job is expected to start; null when no estimate exists. */
  etaSec: number | null;
}

export interface AdmissionSignal {
  scope: 'tier' | 'project';
  key: string;
  pending: number;
  bound: number;
  admit: boolean;
  retryAfterSec: number;
}

export interface Requeue {
  jobId: string;
  from: string;
  to: string;
  reason: string;
}

export interface Migration {
  jobId: string;
  from: string;
  to: string;
  gpuModel: string;
  savingUsd: number;
  reason: string;
}

export interface CycleOutput {
  placements: Placement[];
  preemptions: Preemption[];
  prewarms: PrewarmRequest[];
  admission: AdmissionSignal[];
  pending: PendingJob[];
  requeues: Requeue[];
  migrations: Migration[];
  warnings: string[];
  stats: { jobs: number; placed: number; pending: number; preempted: number };
}

/** Parse the `A|B` GPU-model form used by sbatch `--gres` and the OpenB trace. */
export function parseGpuModels(spec: string | undefined | null): string[] {
  if (!spec) return [];
  return spec
    .split('|')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** GPU demand of one task in milli-GPU. */
export function taskMilli(job: { gpus: number; milliGpu?: number }): number {
  return job.gpus > 0 ? job.gpus * 1000 : (job.milliGpu ?? 0);
}
