// The agent protocol, version 1: defined once, imported by the hub's gateway and by every edge agent.
//
// Transport: one WebSocket per cluster that the agent dials out to (`GET /api/v1/agents/connect`,
// `Authorization: Bearer <cluster credential>`), so clusters behind NAT/firewalls can join.
// Every frame is one JSON envelope. Each direction numbers its messages (`seq`, from 1, per cluster,
// surviving reconnects) and acknowledges the other side's (`ack`) once it has durably handled them.
// On reconnect the agent's `hello` says which hub commands it has applied and the hub's `welcome`
// says which agent events it has stored; each side resends what is past the other's ack. Commands are
// idempotent (dispatch is keyed by the federation job ID), so a resend never runs anything twice.
import { z } from 'zod';
import { CHECKPOINT_SIGNALS } from './bounds.ts';

export const PROTOCOL_VERSION = 1;
export const AGENT_CONNECT_PATH = '/api/v1/agents/connect';

// ---------- shared shapes ----------
export const ResourceAmounts = z.object({
  cpuMilli: z.number().nonnegative(),
  memoryMiB: z.number().nonnegative(),
  gpus: z.number().int().nonnegative(),
  rdma: z.number().int().nonnegative().default(0),
});
export type ResourceAmounts = z.infer<typeof ResourceAmounts>;

export const GpuInfo = z.object({
  index: z.number().int().nonnegative(),
  uuid: z.string().optional(),
  healthy: z.boolean(),
  /** Milli-GPU in use by fractional shares (0..1000). */
  milliUsed: z.number().int().min(0).max(1000).default(0),
  /** Federation job using it, where the cluster can tell. */
  jobId: z.string().optional(),
});

export const NodeInfo = z.object({
  name: z.string().min(1),
  gpuModel: z.string().optional(),
  capacity: ResourceAmounts,
  allocatable: ResourceAmounts,
  /** Sum of requests of pods / jobs running on the node. */
  requested: ResourceAmounts,
  gpus: z.array(GpuInfo).default([]),
  labels: z.record(z.string(), z.string()).default({}),
  taints: z.array(z.object({ key: z.string(), value: z.string().optional(), effect: z.string() })).default([]),
  /** Cordoned (Kubernetes) or drained/down (Slurm): accepts no new work. */
  unschedulable: z.boolean(),
  ready: z.boolean(),
  /** Why it is unschedulable or not ready, in the cluster's own words (e.g. Slurm reason). */
  reason: z.string().optional(),
  /** Slurm node state (idle, alloc, mix, drain, down, ...) on Slurm clusters. */
  state: z.string().optional(),
});
export type NodeInfo = z.infer<typeof NodeInfo>;

export const TaskStatus = z.object({
  index: z.number().int().nonnegative(),
  node: z.string().optional(),
  phase: z.enum(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']),
  exitCode: z.number().int().optional(),
  signal: z.number().int().optional(),
  reason: z.string().optional(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
});

// ---------- hub → agent commands ----------
export const DispatchCommand = z.object({
  kind: z.literal('dispatch'),
  jobId: z.string().min(1),
  /** Increments on each requeue; the cluster object is named after jobId + attempt. */
  attempt: z.number().int().min(1),
  project: z.string(),
  name: z.string(),
  /** The Meridian user who submitted it; a Slurm agent may run the job as the Unix account of that name (docs/slurm.md). */
  user: z.string().optional(),
  tasks: z.number().int().min(1),
  perTask: ResourceAmounts.extend({ milliGpu: z.number().int().optional() }),
  gpuModel: z.string().optional(),
  /** Nodes the hub reserved, one per task (a hint the cluster's scheduler may honour). */
  nodes: z.array(z.string()).default([]),
  /** GPU shares (perTask.milliGpu): per task, the index of the GPU on its node the hub chose for the share. */
  gpuIndices: z.array(z.number().int().nonnegative()).optional(),
  image: z.string().optional(),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()).default({}),
  /** The job's secrets (name → value): never logged; Kubernetes gets a Secret, Slurm a file only the job's user reads. */
  secrets: z.record(z.string(), z.string()).optional(),
  script: z.string().optional(),
  maxRuntimeSec: z.number().positive(),
  checkpointSignal: z.enum(CHECKPOINT_SIGNALS).optional(),
  annotations: z.record(z.string(), z.string()).default({}),
  /** Slurm-only extras (partition, output patterns, array, ...) from the login-node commands. */
  slurm: z.record(z.string(), z.unknown()).optional(),
});
export type DispatchCommand = z.infer<typeof DispatchCommand>;

export const CancelCommand = z.object({
  kind: z.literal('cancel'),
  jobId: z.string().min(1),
  attempt: z.number().int().min(1).optional(),
  /** Send the checkpoint signal first and wait this long before killing. */
  graceSeconds: z.number().int().min(0).default(0),
  reason: z.string().default('cancelled'),
});

export const NodeCommand = z.object({
  kind: z.literal('node'),
  node: z.string().min(1),
  op: z.enum(['cordon', 'uncordon', 'drain', 'taint', 'untaint', 'label', 'power-up', 'power-down']),
  reason: z.string().default(''),
  taint: z.object({ key: z.string(), value: z.string().optional(), effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']) }).optional(),
  labels: z.record(z.string(), z.string().nullable()).optional(),
  timeoutSeconds: z.number().int().positive().default(120),
});

export const PrewarmCommand = z.object({
  kind: z.literal('prewarm'),
  dataset: z.string().min(1),
  sizeBytes: z.number().int().nonnegative(),
  source: z.string().optional(),
});

export const LogsCommand = z.object({
  kind: z.literal('logs'),
  jobId: z.string().min(1),
  task: z.number().int().nonnegative().default(0),
  tailLines: z.number().int().positive().max(10_000).default(200),
  /** Follow: the bytes from this offset to the current end (up to LOGS_CHUNK_BYTES) instead of the tail. */
  offset: z.number().int().nonnegative().optional(),
});

/** The most log bytes one `logs` answer carries; a follower asks again from the new offset. */
export const LOGS_CHUNK_BYTES = 1 << 20;

/**
 * Why a `logs` command found nothing to read, in its result's `detail.code`: the hub answers 404 for
 * `not-found`, 409 for `not-started` and `no-container` (a task on a simulated node runs no container).
 */
export const LOGS_ERROR_CODES = ['not-found', 'not-started', 'no-container'] as const;
export type LogsErrorCode = (typeof LOGS_ERROR_CODES)[number];

/** A `logs` command's result `detail`: the text, where it ends in the log (bytes), and whether the task ended. */
export const LogsDetail = z.object({
  text: z.string(),
  /** Byte offset of the end of `text` in the whole log: the next follow request starts there. */
  offset: z.number().int().nonnegative().optional(),
  /** The task has ended: nothing more will be written after `offset`. */
  finished: z.boolean().optional(),
  path: z.string().optional(),
  pod: z.string().optional(),
  node: z.string().optional(),
});
export type LogsDetail = z.infer<typeof LogsDetail>;

/**
 * Hold / release a dispatched job that is still pending on its cluster (Slurm: `scontrol hold|release`). Sent
 * only to Slurm clusters; the result is `ok: false` with Slurm's text when the job already runs.
 */
export const HoldCommand = z.object({ kind: z.literal('hold'), jobId: z.string().min(1), attempt: z.number().int().min(1) });
export const ReleaseCommand = z.object({ kind: z.literal('release'), jobId: z.string().min(1), attempt: z.number().int().min(1) });

/** Signals a job may trap to checkpoint: the one list in bounds.ts, shared with the job spec. */
export { CHECKPOINT_SIGNALS, type CheckpointSignal } from './bounds.ts';
export const SignalName = z.enum(CHECKPOINT_SIGNALS, {
  error: (iss) =>
    `signal: ${iss.input === undefined ? 'missing' : `${JSON.stringify(iss.input)} is not a signal a job can trap`}; use one of ${CHECKPOINT_SIGNALS.join(', ')} (a name with the SIG prefix, e.g. SIGUSR1)`,
});

/**
 * Send a running attempt its checkpoint signal and leave it running (Slurm: `scancel --signal --batch`;
 * Kubernetes: pod annotation `meridian.dev/checkpoint-requested` + an Event). Added after v1 shipped: an agent
 * that predates it cannot parse the frame and sends no result, which the hub treats as "not delivered".
 */
export const SignalCommand = z.object({
  kind: z.literal('signal'),
  jobId: z.string().min(1),
  attempt: z.number().int().min(1),
  signal: SignalName,
  reason: z.string().default(''),
});
export type SignalCommand = z.infer<typeof SignalCommand>;

export const Command = z.discriminatedUnion('kind', [DispatchCommand, CancelCommand, NodeCommand, PrewarmCommand, LogsCommand, HoldCommand, ReleaseCommand, SignalCommand]);
export type Command = z.infer<typeof Command>;

// ---------- agent → hub events ----------
export const InventorySnapshot = z.object({ type: z.literal('inventory.snapshot'), nodes: z.array(NodeInfo) });
export const InventoryDelta = z.object({
  type: z.literal('inventory.delta'),
  upserts: z.array(NodeInfo).default([]),
  deletes: z.array(z.string()).default([]),
});
export const JobStatusEvent = z.object({
  type: z.literal('job.status'),
  jobId: z.string().min(1),
  attempt: z.number().int().min(1),
  phase: z.enum(['Pending', 'Running', 'Succeeded', 'Failed', 'Cancelled']),
  tasks: z.array(TaskStatus).default([]),
  exitCode: z.number().int().optional(),
  /** A plain reason a person understands: ImagePullBackOff, Unschedulable, OOMKilled, DeadlineExceeded, TIMEOUT... */
  reason: z.string().optional(),
  message: z.string().optional(),
  /**
   * Pending only: why the member has not started every task, in its own words (the pod's Unschedulable message,
   * Slurm's reason code). The hub shows "dispatched, waiting in <cluster>: <pendingReason>".
   */
  pendingReason: z.string().optional(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  /** Cluster-native id (Kubernetes Job name, Slurm job id). */
  clusterJobId: z.string().optional(),
});
export type JobStatusEvent = z.infer<typeof JobStatusEvent>;
export const CommandResult = z.object({
  type: z.literal('command.result'),
  commandSeq: z.number().int().positive(),
  ok: z.boolean(),
  error: z.string().optional(),
  /** Command-specific payload, e.g. log text for `logs`. */
  detail: z.unknown().optional(),
});
export const DriftEvent = z.object({
  type: z.literal('drift'),
  node: z.string(),
  field: z.string(),
  desired: z.unknown(),
  observed: z.unknown(),
  action: z.enum(['reported', 'reconciled']),
});
export const Heartbeat = z.object({ type: z.literal('heartbeat') });
/** Progress of a `prewarm` copy on the cluster (Running with percent, then Succeeded or Failed with the reason). */
export const PrewarmStatusEvent = z.object({
  type: z.literal('prewarm.status'),
  dataset: z.string().min(1),
  phase: z.enum(['Running', 'Succeeded', 'Failed']),
  percent: z.number().min(0).max(100),
  reason: z.string().optional(),
});

export const AgentEvent = z.discriminatedUnion('type', [InventorySnapshot, InventoryDelta, JobStatusEvent, CommandResult, DriftEvent, Heartbeat, PrewarmStatusEvent]);
export type AgentEvent = z.infer<typeof AgentEvent>;

// ---------- frames ----------
export const Hello = z.object({
  v: z.literal(PROTOCOL_VERSION),
  type: z.literal('hello'),
  clusterId: z.string().min(1),
  kind: z.enum(['kubernetes', 'slurm']),
  agentVersion: z.string(),
  /** Highest hub command seq this agent has applied (resume point for commands). */
  appliedCommandSeq: z.number().int().nonnegative(),
});
export type Hello = z.infer<typeof Hello>;

export const Welcome = z.object({
  v: z.literal(PROTOCOL_VERSION),
  type: z.literal('welcome'),
  /** Highest agent event seq the hub has stored (resume point for events). */
  storedEventSeq: z.number().int().nonnegative(),
  heartbeatIntervalMs: z.number().int().positive(),
});
export type Welcome = z.infer<typeof Welcome>;

/** Agent → hub after hello: an event with its seq. */
export const EventFrame = z.object({ v: z.literal(PROTOCOL_VERSION), type: z.literal('event'), seq: z.number().int().positive(), event: AgentEvent });
/** Hub → agent: a command with its seq. */
export const CommandFrame = z.object({ v: z.literal(PROTOCOL_VERSION), type: z.literal('command'), seq: z.number().int().positive(), command: Command });
/** Either direction: everything up to and including `seq` is durably handled. */
export const AckFrame = z.object({ v: z.literal(PROTOCOL_VERSION), type: z.literal('ack'), seq: z.number().int().nonnegative() });
/** Either direction: a frame was refused; the connection closes after it when `fatal`. */
export const ErrorFrame = z.object({ v: z.literal(PROTOCOL_VERSION), type: z.literal('error'), code: z.string(), message: z.string(), fatal: z.boolean().default(false) });
/**
 * The `code` of the fatal ErrorFrame the hub sends before it closes a session whose cluster credential was
 * rotated or revoked (or whose cluster was archived); the close code that follows is CLOSE_CREDENTIAL_REVOKED.
 * An agent must not reconnect with that credential: it needs a new one from an administrator.
 */
export const CREDENTIAL_REVOKED = 'credential-revoked';
export const CLOSE_CREDENTIAL_REVOKED = 4003;

export const AgentToHubFrame = z.discriminatedUnion('type', [Hello, EventFrame, AckFrame, ErrorFrame]);
export const HubToAgentFrame = z.discriminatedUnion('type', [Welcome, CommandFrame, AckFrame, ErrorFrame]);
export type AgentToHubFrame = z.infer<typeof AgentToHubFrame>;
export type HubToAgentFrame = z.infer<typeof HubToAgentFrame>;

/** Labels that mark cluster objects as Meridian's (the federation ID survives re-dispatch). */
export const LABELS = {
  jobId: 'meridian.dev/job-id',
  attempt: 'meridian.dev/attempt',
  project: 'meridian.dev/project',
  managedBy: 'app.kubernetes.io/managed-by',
} as const;

/**
 * NodeInfo label an agent sets on a node whose GPUs can take fractional shares, valued with the mechanism
 * (`time-slicing` on Kubernetes, `shard` on Slurm). The hub sends milli-GPU jobs only to members that have one.
 */
export const GPU_SHARE_LABEL = 'meridian.dev/gpu-share';
