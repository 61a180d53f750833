// Pure translations between the agent protocol and Slurm: dispatch → submit request (a batch script, or a
// container job wrapped in one), Slurm jobs → JobStatusEvent, Slurm nodes → NodeInfo.
import { GPU_SHARE_LABEL, type DispatchCommand, type JobStatusEvent, type NodeInfo } from '@meridian/protocol/agent-protocol';
import { SLURM_ANNOTATION_KEYS, SLURM_ANNOTATION_PREFIX, SLURM_NODE_LABELS, slurmAnnotationName, type SlurmAnnotationKey } from '@meridian/protocol/slurm/annotations';
import { arraySpecIndices } from '@meridian/protocol/slurm/array-spec';
import { dependencyTerm, SLURM_DRIVER_DEPENDENCY_TYPES } from '@meridian/protocol/slurm/dependency';
import { expandHostlist, gresTotal } from '@meridian/slurm-bridge/parsers/common';
import type { SlurmJob, SlurmNode, SubmitRequest } from '@meridian/slurm-bridge/types';

export const COMMENT_PREFIX = 'meridian:';
export const REASON_PREFIX = 'meridian:';

/** The Slurm comment that marks a federation job attempt: `meridian:<jobId>:<attempt>`. */
export function federationComment(jobId: string, attempt: number): string {
  return `${COMMENT_PREFIX}${jobId}:${attempt}`;
}

export function parseFederationComment(comment: string): { jobId: string; attempt: number } | undefined {
  const m = /^meridian:([^:\s]+):(\d+)$/.exec(comment);
  return m ? { jobId: m[1]!, attempt: Number(m[2]) } : undefined;
}

/** How container jobs run on this Slurm cluster. */
export type ContainerRuntime = 'pyxis' | 'apptainer' | 'podman' | 'docker' | 'host';

const EXTRA_NAMES = [
  'jobName', 'partition', 'account', 'qos', 'nodes', 'ntasks', 'ntasksPerNode', 'cpusPerTask', 'memPerNodeMiB', 'memPerCpuMiB', 'gres',
  'timeLimitMin', 'output', 'error', 'workDir', 'array', 'dependency', 'hold', 'constraint', 'exclusive', 'requeue', 'begin', 'signal',
] as const satisfies readonly SlurmAnnotationKey[];
type ValueOf = { string: string; number: number; boolean: boolean };

/**
 * Slurm-only extras a login-node `sbatch` puts in `DispatchCommand.slurm` (all optional): the sbatch settings the
 * driver passes on to slurmctld, typed by the shared annotation table (`dependency` carries federation job ids).
 */
export type SlurmExtras = { [K in (typeof EXTRA_NAMES)[number]]?: ValueOf[(typeof SLURM_ANNOTATION_KEYS)[K]] };

/** The extras passed on to Slurm, typed as the shared annotation table says. */
const EXTRA_KEYS = Object.fromEntries(EXTRA_NAMES.map((k) => [k, SLURM_ANNOTATION_KEYS[k]])) as Record<keyof SlurmExtras, 'string' | 'number' | 'boolean'>;

/** Reads `DispatchCommand.slurm`; a key of the wrong type is an error naming the key. Unknown keys are ignored. */
export function readExtras(raw: Record<string, unknown> | undefined): SlurmExtras {
  const out: Record<string, unknown> = {};
  for (const [k, want] of Object.entries(EXTRA_KEYS)) {
    const v = raw?.[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== want) throw new Error(`dispatch.slurm.${k} must be a ${want}, got ${JSON.stringify(v)}`);
    out[k] = v;
  }
  return out as SlurmExtras;
}


/** Slurm extras carried as `slurm.meridian.dev/<key>` annotations (what the login-node sbatch writes). */
export function extrasFromAnnotations(annotations: Record<string, string> | undefined): SlurmExtras {
  const raw: Record<string, unknown> = {};
  for (const [k, want] of Object.entries(EXTRA_KEYS)) {
    const v = annotations?.[slurmAnnotationName(k as keyof SlurmExtras)];
    if (v === undefined) continue;
    if (want === 'number') {
      if (!/^\d+$/.test(v)) throw new Error(`annotation ${SLURM_ANNOTATION_PREFIX}${k} must be a whole number, got ${JSON.stringify(v)}`);
      raw[k] = Number(v);
    } else if (want === 'boolean') raw[k] = v === 'true';
    else raw[k] = v;
  }
  return raw as SlurmExtras;
}

/**
 * Output patterns name the job by the id the user was given (the federation id), not Slurm's: `%j`/`%J`/`%A`
 * become the federation id (for arrays only `%A`; `%a` stays for Slurm). `%%` is left alone.
 */
export function federationPattern(pattern: string, jobId: string, isArray: boolean): string {
  return pattern.replace(/%(%|\d*[jJA])/g, (m: string, code: string) => {
    if (code === '%') return m;
    const letter = code.slice(-1);
    const width = code.length > 1 ? Number(code.slice(0, -1)) : 0;
    if (isArray && letter !== 'A') return m;
    return jobId.padStart(width, '0');
  });
}

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A container job as a batch script for the configured runtime. */
export function containerScript(cmd: DispatchCommand, runtime: ContainerRuntime): string {
  if (!cmd.image) throw new Error(`dispatch ${cmd.jobId}: neither a script nor an image`);
  const argv = [...(cmd.command ?? []), ...(cmd.args ?? [])];
  const lines = ['#!/bin/bash', `# Meridian container job ${cmd.jobId} (attempt ${cmd.attempt}), image ${cmd.image}`, 'set -euo pipefail'];
  const secretNames = Object.keys(cmd.secrets ?? {});
  // the secrets file (only the job's user reads it) sets the secret variables for the command
  if (secretNames.length) lines.push('set -a; . "$MERIDIAN_SECRETS_FILE"; set +a');
  const envFlags = (flag: string) => [...Object.keys(cmd.env), ...secretNames].map((k) => `${flag} ${k}`).join(' ');
  const cmdline = argv.map(q).join(' ');
  switch (runtime) {
    case 'pyxis':
      lines.push(`exec srun --container-image=${q(cmd.image)} ${cmdline}`);
      break;
    case 'apptainer':
      lines.push(`exec apptainer exec --cleanenv --nv docker://${cmd.image.replace(/'/g, '')} ${cmdline}`.trimEnd());
      break;
    case 'podman':
    case 'docker':
      lines.push(`exec ${runtime} run --rm --network=host ${envFlags('-e')} -e SLURM_JOB_ID -e CUDA_VISIBLE_DEVICES ${q(cmd.image)} ${cmdline}`.replace(/ +/g, ' ').trimEnd());
      break;
    case 'host':
      // No container runtime: run the command on the node (the image is recorded above only).
      if (!argv.length) throw new Error(`dispatch ${cmd.jobId}: runtime "host" needs a command`);
      lines.push(`exec ${cmdline}`);
      break;
  }
  return `${lines.join('\n')}\n`;
}

export interface TranslateOptions {
  runtime: ContainerRuntime;
  /** GPU model (hub spelling, e.g. A100) → gres type (e.g. a100); default: lower case. */
  gpuTypes?: Record<string, string>;
  /** Output directory when the dispatch names none. */
  defaultWorkDir: string;
  defaultPartition?: string;
  /** The attempt's secrets file on the cluster (./secrets.ts); the job gets its path, never the values. */
  secretsFile?: string;
  /** Submit under the Meridian job ID (the transport can: see SlurmTransport.setsJobIds). */
  jobIds?: boolean;
  /** The Unix account the job runs as (sbatch --uid/--gid); default: the agent's own. */
  runAs?: { uid: number; gid: number };
  /** Pin the job to the nodes the hub chose (--nodelist). Default true. */
  pin?: boolean;
  /** gres/shard per GPU on this cluster (gres.conf); 0 or unset: GPU shares are refused. */
  shardsPerGpu?: number;
}

/** A numeric Meridian job ID Slurm can take as its own (1 .. 67108863). */
export function slurmJobIdFor(jobId: string): string | undefined {
  return /^[1-9]\d{0,7}$/.test(jobId) && Number(jobId) <= 67_108_863 ? jobId : undefined;
}

/** The nodes the hub chose, as a --nodelist; undefined when none, or for an array spread over several nodes. */
export function pinnedNodes(cmd: DispatchCommand, isArray: boolean): string | undefined {
  const nodes = [...new Set(cmd.nodes ?? [])];
  // every array task is its own Slurm job: a list of several nodes would make each task take them all
  if (!nodes.length || (isArray && nodes.length > 1)) return undefined;
  return nodes.join(',');
}

/** A milli-GPU share as gres/shard: ceil(milli × shards per GPU / 1000) shards, all from one GPU. */
export function shardGres(milliGpu: number, shardsPerGpu: number | undefined, jobId: string): string {
  if (!shardsPerGpu) throw new Error(`job ${jobId} asks for ${milliGpu} milli-GPU, but this Slurm cluster offers no GPU shares (gres/shard); start the agent with --slurm-shards-per-gpu matching gres.conf`);
  return `shard:${Math.max(1, Math.ceil((milliGpu * shardsPerGpu) / 1000))}`;
}

/** A dispatch → the request the transport submits. `dependency` must already use Slurm ids. */
export function submitRequestFor(cmd: DispatchCommand, opts: TranslateOptions, slurmDependency?: string): SubmitRequest {
  const x = { ...extrasFromAnnotations(cmd.annotations), ...readExtras(cmd.slurm) };
  const fromLogin = Object.keys(cmd.annotations ?? {}).some((k) => k.startsWith(SLURM_ANNOTATION_PREFIX));
  if (fromLogin && cmd.script) {
    // A login-node sbatch job: file names follow the id the user was told (see federationPattern).
    const isArray = x.array !== undefined;
    x.output = federationPattern(x.output ?? (isArray ? 'slurm-%A_%a.out' : 'slurm-%j.out'), cmd.jobId, isArray);
    if (x.error) x.error = federationPattern(x.error, cmd.jobId, isArray);
  }
  const script = cmd.script ?? containerScript(cmd, opts.runtime);
  const gpus = cmd.perTask.gpus;
  const gresType = cmd.gpuModel ? (opts.gpuTypes?.[cmd.gpuModel] ?? cmd.gpuModel.toLowerCase()) : undefined;
  const cpus = Math.max(1, Math.ceil(cmd.perTask.cpuMilli / 1000));
  const req: SubmitRequest = {
    script,
    name: x.jobName ?? `meridian-${cmd.jobId}`,
    comment: federationComment(cmd.jobId, cmd.attempt),
    partition: x.partition ?? opts.defaultPartition,
    account: x.account,
    qos: x.qos,
    timeLimitMin: x.timeLimitMin ?? Math.max(1, Math.ceil(cmd.maxRuntimeSec / 60)),
    stdout: x.output,
    stderr: x.error,
    workDir: x.workDir ?? opts.defaultWorkDir,
    env: { ...cmd.env, MERIDIAN_JOB_ID: cmd.jobId, MERIDIAN_ATTEMPT: String(cmd.attempt), ...(opts.secretsFile ? { MERIDIAN_SECRETS_FILE: opts.secretsFile } : {}) },
    array: x.array,
    dependency: slurmDependency,
    hold: x.hold,
    constraint: x.constraint,
    exclusive: x.exclusive,
    requeue: x.requeue,
    begin: x.begin,
    signal: x.signal ?? (cmd.checkpointSignal ? `B:${cmd.checkpointSignal.replace(/^SIG/, '')}@60` : undefined),
    nodeList: opts.pin === false ? undefined : pinnedNodes(cmd, x.array !== undefined),
    jobId: opts.jobIds ? slurmJobIdFor(cmd.jobId) : undefined,
    uid: opts.runAs?.uid,
    gid: opts.runAs?.gid,
  };
  for (const k of ['nodeList', 'jobId', 'uid', 'gid'] as const) if (req[k] === undefined) delete req[k];
  if ((cmd.slurm || fromLogin) && (x.nodes !== undefined || x.ntasks !== undefined || x.cpusPerTask !== undefined || x.gres !== undefined || x.memPerNodeMiB !== undefined || x.memPerCpuMiB !== undefined)) {
    // A login-node sbatch: keep the user's own resource shape.
    Object.assign(req, { nodes: x.nodes, tasks: x.ntasks, tasksPerNode: x.ntasksPerNode, cpusPerTask: x.cpusPerTask, gres: x.gres, memoryPerNodeMiB: x.memPerNodeMiB, memoryPerCpuMiB: x.memPerCpuMiB });
  } else if (gpus === 0 && (cmd.perTask.milliGpu ?? 0) > 0) {
    // A GPU share: one task per node, each with its shards of one GPU (Slurm's gres/shard).
    Object.assign(req, { nodes: cmd.tasks, tasks: cmd.tasks, tasksPerNode: 1, cpusPerTask: cpus, gres: shardGres(cmd.perTask.milliGpu!, opts.shardsPerGpu, cmd.jobId), memoryPerNodeMiB: Math.ceil(cmd.perTask.memoryMiB) });
  } else if (gpus > 0) {
    // A gang of N GPU tasks: one task per node, each with its GPUs, CPUs and memory.
    Object.assign(req, { nodes: cmd.tasks, tasks: cmd.tasks, tasksPerNode: 1, cpusPerTask: cpus, gres: `gpu:${gresType ? `${gresType}:` : ''}${gpus}`, memoryPerNodeMiB: Math.ceil(cmd.perTask.memoryMiB) });
  } else {
    Object.assign(req, { tasks: cmd.tasks, cpusPerTask: cpus, memoryPerCpuMiB: Math.max(1, Math.ceil(cmd.perTask.memoryMiB / cpus)) });
  }
  return req;
}

/** Federation ids in a dependency expression → Slurm ids via `lookup`; unknown ids throw. */
export async function translateDependency(dep: string, lookup: (federationId: string) => Promise<string | undefined>): Promise<string> {
  if (dep === 'singleton') return dep;
  const out: string[] = [];
  for (const token of dep.split(/([,?])/)) {
    if (token === ',' || token === '?') {
      out.push(token);
      continue;
    }
    const term = dependencyTerm(token, SLURM_DRIVER_DEPENDENCY_TYPES);
    if (!term) {
      if (token === 'singleton') {
        out.push(token);
        continue;
      }
      throw new Error(`dependency "${token}" is not type:jobid[:jobid...]`);
    }
    const ids: string[] = [];
    for (const part of term.ids) {
      const [id, plus] = part.split('+');
      const slurmId = await lookup(id!);
      if (!slurmId) throw new Error(`dependency on job ${id} which has no Slurm job on this cluster`);
      ids.push(plus !== undefined ? `${slurmId}+${plus}` : slurmId);
    }
    out.push(`${term.type}:${ids.join(':')}`);
  }
  return out.join('');
}

type Phase = JobStatusEvent['phase'];

/** One Slurm job state → phase and a reason a person understands. */
export function phaseOf(j: SlurmJob): { phase: Phase; reason?: string } {
  switch (j.state) {
    case 'PENDING':
    case 'CONFIGURING':
    case 'REQUEUED':
    case 'REQUEUE_HOLD':
    case 'REQUEUE_FED':
    case 'RESV_DEL_HOLD':
      return { phase: 'Pending', reason: j.reason !== 'None' ? j.reason : undefined };
    case 'RUNNING':
    case 'COMPLETING':
    case 'SUSPENDED':
    case 'STOPPED':
    case 'SIGNALING':
    case 'STAGE_OUT':
    case 'RESIZING':
      return { phase: 'Running' };
    case 'COMPLETED':
      return { phase: 'Succeeded' };
    case 'CANCELLED':
      return { phase: 'Cancelled', reason: 'Cancelled' };
    case 'TIMEOUT':
      return { phase: 'Failed', reason: 'TIMEOUT' };
    case 'OUT_OF_MEMORY':
      return { phase: 'Failed', reason: 'OOMKilled' };
    case 'DEADLINE':
      return { phase: 'Failed', reason: 'DeadlineExceeded' };
    case 'NODE_FAIL':
      return { phase: 'Failed', reason: 'NodeFail' };
    case 'BOOT_FAIL':
      return { phase: 'Failed', reason: 'BootFail' };
    case 'PREEMPTED':
      return { phase: 'Failed', reason: 'Preempted' };
    case 'FAILED':
      return { phase: 'Failed', reason: j.signal ? `Signal ${j.signal}` : 'NonZeroExitCode' };
    default:
      return { phase: j.state === 'REVOKED' ? 'Cancelled' : 'Failed', reason: j.state };
  }
}

const TASK_PHASE: Record<Phase, 'Pending' | 'Running' | 'Succeeded' | 'Failed'> = { Pending: 'Pending', Running: 'Running', Succeeded: 'Succeeded', Failed: 'Failed', Cancelled: 'Failed' };

/**
 * The Slurm jobs of one federation attempt (one job, or the tasks of an array) → one status event.
 * Array: Running while any task runs; terminal when all are; Failed if any failed (first failure's reason).
 */
export function statusEvent(jobId: string, attempt: number, jobs: SlurmJob[]): JobStatusEvent {
  if (!jobs.length) throw new Error(`no Slurm jobs for ${jobId}`);
  const isArray = jobs.some((j) => j.arrayJobId !== undefined);
  // An array's pending remainder (ArrayTaskId=2-3) is one record standing for several tasks.
  const tasks = jobs.flatMap((j, i): JobStatusEvent['tasks'] => {
    const p = phaseOf(j);
    // The pending remainder (ArrayTaskId=4-15%4) stands for one pending task per index.
    if (isArray && j.arrayTaskId && !/^\d+$/.test(j.arrayTaskId)) return arraySpecIndices(j.arrayTaskId).map((index) => ({ index, phase: 'Pending', reason: p.reason }));
    const idx = isArray && /^\d+$/.test(j.arrayTaskId ?? '') ? Number(j.arrayTaskId) : i;
    return [{
      index: idx,
      node: expandHostlist(j.nodeList)[0],
      phase: TASK_PHASE[p.phase],
      exitCode: p.phase === 'Succeeded' || p.phase === 'Failed' ? j.exitCode : undefined,
      signal: j.signal || undefined,
      reason: p.reason,
      startedAt: j.startTime?.toISOString(),
      finishedAt: p.phase !== 'Pending' && p.phase !== 'Running' ? j.endTime?.toISOString() : undefined,
    }];
  });
  const phases = jobs.map(phaseOf);
  let phase: Phase;
  let idx = 0;
  if (phases.some((p) => p.phase === 'Running') || (phases.some((p) => p.phase !== 'Pending') && phases.some((p) => p.phase === 'Pending'))) phase = 'Running';
  else if (phases.every((p) => p.phase === 'Pending')) phase = 'Pending';
  else if ((idx = phases.findIndex((p) => p.phase === 'Failed')) >= 0) phase = 'Failed';
  else if ((idx = phases.findIndex((p) => p.phase === 'Cancelled')) >= 0) phase = 'Cancelled';
  else phase = 'Succeeded';
  const lead = phase === 'Failed' || phase === 'Cancelled' ? jobs[idx]! : jobs[0]!;
  const leadPhase = phaseOf(lead);
  const starts = jobs.map((j) => j.startTime?.getTime()).filter((t): t is number => t !== undefined);
  const ends = jobs.map((j) => j.endTime?.getTime()).filter((t): t is number => t !== undefined);
  const terminal = phase === 'Succeeded' || phase === 'Failed' || phase === 'Cancelled';
  const parent = lead.arrayJobId ?? lead.jobId;
  return {
    type: 'job.status',
    jobId,
    attempt,
    phase,
    tasks: isArray || jobs.length > 1 || !lead.nodeList ? tasks : expandHostlist(lead.nodeList).map((node, i) => ({ ...tasks[0]!, index: i, node })),
    exitCode: terminal ? lead.exitCode : undefined,
    reason: phase === 'Pending' || terminal ? (phase === 'Succeeded' ? undefined : leadPhase.reason) : undefined,
    message: terminal ? `Slurm job ${parent} ${lead.state} ExitCode=${lead.exitCode}:${lead.signal}` : phase === 'Pending' ? `Slurm job ${parent} pending: ${lead.reason}` : undefined,
    // Slurm's own reason code (squeue %r: Resources, Priority, ...) for "dispatched, waiting in <cluster>: <reason>"
    ...(phase === 'Pending' && leadPhase.reason ? { pendingReason: leadPhase.reason } : {}),
    startedAt: starts.length ? new Date(Math.min(...starts)).toISOString() : undefined,
    finishedAt: terminal && ends.length ? new Date(Math.max(...ends)).toISOString() : undefined,
    clusterJobId: parent,
  };
}

/** sinfo's compact state (%t) for a node. */
export function compactState(n: SlurmNode): string {
  const f = new Set(n.flags);
  let s: string;
  if (n.baseState === 'down') s = 'down';
  else if (f.has('DRAIN')) s = n.baseState === 'idle' ? 'drain' : 'drng';
  else if (n.baseState === 'allocated') s = 'alloc';
  else if (n.baseState === 'mixed') s = 'mix';
  else if (f.has('COMPLETING')) s = 'comp';
  else s = n.baseState;
  if (f.has('POWERED_DOWN')) s += '~';
  else if (f.has('POWERING_UP')) s += '#';
  else if (f.has('POWERING_DOWN')) s += '%';
  else if (f.has('NOT_RESPONDING')) s += '*';
  return s;
}

/** `shares`: the agent runs milli-GPU jobs as gres/shard (--slurm-shards-per-gpu), so nodes with shards take them. */
export function nodeInfoOf(n: SlurmNode, clusterName?: string, shares = false): NodeInfo {
  const f = new Set(n.flags);
  const gpus = gresTotal(n.gres);
  const gpusUsed = gresTotal(n.gresUsed);
  const cap = { cpuMilli: n.cpus * 1000, memoryMiB: n.memoryMiB, gpus, rdma: 0 };
  const down = ['down', 'error', 'future', 'unknown'].includes(n.baseState);
  const poweredOff = f.has('POWERED_DOWN') || f.has('POWERING_UP') || f.has('POWERING_DOWN');
  const labels: Record<string, string> = { [SLURM_NODE_LABELS.partitions]: n.partitions.join(',') };
  if (clusterName) labels[SLURM_NODE_LABELS.cluster] = clusterName;
  for (const feat of n.features) labels[`${SLURM_NODE_LABELS.featurePrefix}${feat}`] = 'true';
  if (n.reasonUser) labels[SLURM_NODE_LABELS.reasonUser] = n.reasonUser;
  if (f.has('CLOUD')) labels[SLURM_NODE_LABELS.cloud] = 'true';
  // gres/shard on the node and an agent that submits shares as shards: milli-GPU jobs can run here
  if (shares && gpus > 0 && gresTotal(n.gres, 'shard') > 0) labels[GPU_SHARE_LABEL] = 'shard';
  if (poweredOff) labels[SLURM_NODE_LABELS.power] = f.has('POWERING_UP') ? 'powering-up' : f.has('POWERING_DOWN') ? 'powering-down' : 'off';
  const unschedulable = f.has('DRAIN') || down || f.has('FAIL') || f.has('MAINTENANCE') || f.has('REBOOT_REQUESTED');
  return {
    name: n.name,
    gpuModel: n.gres.find((g) => g.name === 'gpu' && g.type)?.type,
    capacity: cap,
    allocatable: cap,
    requested: { cpuMilli: n.allocCpus * 1000, memoryMiB: n.allocMemoryMiB, gpus: gpusUsed, rdma: 0 },
    // Slurm reports a count, not which devices: the first `gpusUsed` carry it, so every reader of the
    // inventory (the scheduler, `meridian nodes`, metrics) sees the GPUs every job holds, Meridian's or not.
    gpus: Array.from({ length: gpus }, (_, index) => ({ index, healthy: !down, milliUsed: index < gpusUsed ? 1000 : 0 })),
    labels,
    taints: [],
    unschedulable,
    ready: !down && !f.has('NOT_RESPONDING') && !poweredOff,
    reason: n.reason || undefined,
    state: compactState(n),
  };
}
