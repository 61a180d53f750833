// squeue/sacct rows from the two sources the login node knows: the hub's job view (Meridian jobs, wherever
// they run) and Slurm's own job records (for compatibility tests and Slurm-side detail).
import type { JobView } from '@meridian/protocol/job-view';
import type { SlurmJob } from '../types.ts';
import type { QueueRow } from './format.ts';
import { SLURM_ANNOTATION_PREFIX } from '@meridian/protocol/slurm/annotations';

const sec = (d: Date | undefined) => (d ? Math.floor(d.getTime() / 1000) : undefined);

/** A Slurm job record as squeue would show it. */
export function queueRowFromSlurm(j: SlurmJob, now: number): QueueRow {
  const isRemainder = j.arrayJobId !== undefined && j.arrayTaskId !== undefined && !/^\d+$/.test(j.arrayTaskId);
  const displayId =
    j.arrayJobId !== undefined && j.arrayTaskId !== undefined
      ? isRemainder
        ? `${j.arrayJobId}_[${j.arrayTaskId}${j.arrayTaskThrottle && !j.arrayTaskId.includes('%') ? `%${j.arrayTaskThrottle}` : ''}]`
        : `${j.arrayJobId}_${j.arrayTaskId}`
      : j.jobId;
  return {
    displayId,
    jobId: j.jobId,
    arrayJobId: j.arrayJobId,
    arrayTaskId: j.arrayTaskId,
    partition: j.partition,
    name: j.name,
    user: j.user,
    account: j.account ?? '',
    qos: j.qos ?? '',
    state: j.state,
    reason: j.reason,
    nodeList: j.nodeList,
    numNodes: j.numNodes,
    numCpus: j.numCpus,
    minMemory: j.minMemory,
    timeLimitSec: j.timeLimitMin === undefined ? undefined : j.timeLimitMin * 60,
    submitTime: sec(j.submitTime),
    startTime: sec(j.startTime),
    endTime: sec(j.endTime),
    now,
    priority: j.priority,
    workDir: j.workDir,
    command: j.command ?? '',
    comment: j.comment,
    dependency: j.dependency ?? '',
    features: j.features ?? '',
    tresPerNode: j.tresPerNode,
    exitCode: `${j.exitCode}:${j.signal}`,
  };
}

/**
 * The hub's job view (GET /api/v1/jobs/{id}, @meridian/protocol/job-view) as the login node reads it: its identity
 * always, every other field as optional, so a view from an older hub (or a test's few fields) still reads.
 */
type Deep<T> = { [K in keyof T]?: T[K] extends (infer E)[] ? E[] : T[K] extends object ? Deep<T[K]> : T[K] };
export type HubJobView = Pick<JobView, 'id' | 'name' | 'project' | 'user' | 'state'> & Deep<Omit<JobView, 'id' | 'name' | 'project' | 'user' | 'state'>>;


const epoch = (s: string | null | undefined) => (s ? Math.floor(Date.parse(s) / 1000) : undefined);

/** Hub states → Slurm long states (+ the failure kind from the reason). */
export function slurmStateOf(v: HubJobView): string {
  switch (v.state) {
    case 'Queued':
    case 'Placed':
    case 'Dispatched':
      return 'PENDING';
    case 'Running':
      return 'RUNNING';
    case 'Succeeded':
      return 'COMPLETED';
    case 'Cancelled':
      return 'CANCELLED';
    case 'Failed': {
      const r = `${v.reasonCode ?? ''} ${v.reason ?? ''}`;
      if (/TIMEOUT|DeadlineExceeded/i.test(r)) return 'TIMEOUT';
      if (/OOM|OUT_OF_MEMORY/i.test(r)) return 'OUT_OF_MEMORY';
      if (/NodeFail|NODE_FAIL/i.test(r)) return 'NODE_FAIL';
      return 'FAILED';
    }
    default:
      return 'PENDING';
  }
}

/** Slurm-style pending reason from the hub's reason code. */
export function pendingReason(v: HubJobView): string {
  const code = v.reasonCode ?? '';
  if (v.held || code === 'JobHeldUser') return 'JobHeldUser';
  if (code === 'Dependency') return 'Dependency';
  if (/quota|budget/i.test(code)) return 'AssocGrpGRES';
  if (/priority|fairshare/i.test(code)) return 'Priority';
  if (v.state === 'Placed' || v.state === 'Dispatched') return 'Resources';
  return code ? 'Resources' : 'None';
}

export function queueRowFromHub(v: HubJobView, now: number): QueueRow {
  const ann = v.spec?.annotations ?? {};
  const a = (k: string) => ann[`${SLURM_ANNOTATION_PREFIX}${k}`];
  const state = slurmStateOf(v);
  const nodes = Array.isArray(v.placement) ? (v.placement as { node?: string }[]).map((t) => t.node).filter((n): n is string => !!n) : [];
  const tasks = v.spec?.tasks ?? 1;
  const cpus = Math.max(1, Math.round(((v.spec?.resources?.cpu ?? 1000) / 1000) * tasks));
  const limitMin = a('timeLimitMin');
  const memPerNode = Number(v.spec?.resources?.memory ?? 1024);
  return {
    displayId: v.id,
    jobId: v.id,
    partition: v.slurm?.partition ?? a('partition') ?? v.cluster ?? 'meridian',
    name: a('jobName') ?? v.name,
    user: v.user ?? 'nobody', // a job submitted with a token that names no user
    account: a('account') ?? v.project,
    qos: a('qos') ?? '',
    state,
    reason: state === 'PENDING' ? pendingReason(v) : state === 'FAILED' ? 'NonZeroExitCode' : state === 'TIMEOUT' ? 'TimeLimit' : 'None',
    nodeList: [...new Set(v.slurm?.nodes ?? nodes)].join(','),
    numNodes: tasks,
    numCpus: cpus,
    timeLimitSec: limitMin !== undefined ? Number(limitMin) * 60 : v.spec?.maxRuntime,
    submitTime: epoch(v.submittedAt),
    startTime: epoch(v.startedAt),
    endTime: epoch(v.finishedAt),
    now,
    workDir: v.slurm?.workDir ?? a('workDir') ?? '',
    priority: v.priority ?? 0,
    command: a('command') ?? '',
    comment: a('comment') ?? '',
    dependency: a('dependency') ?? '',
    features: a('constraint') ?? '',
    tresPerNode: a('gres') ? `gres:${a('gres')}` : '',
    exitCode: `${v.exitCode ?? 0}:${v.slurm?.exitSignal ?? 0}`,
    minMemory: `${memPerNode}M`,
    // as Slurm's tres-alloc: what the job holds, memory over all its nodes
    tresAlloc: `cpu=${cpus},mem=${memPerNode * tasks}M,node=${tasks},billing=${cpus}`,
    reqNodes: a('nodelist') ?? '',
    stdOut: v.slurm?.stdOut,
    stdErr: v.slurm?.stdErr,
    cluster: v.cluster ?? undefined,
    nice: v.spec?.priority !== undefined ? -v.spec.priority : 0,
    ntasks: a('ntasks') !== undefined ? Number(a('ntasks')) : undefined,
    cpusPerTask: a('ntasks') !== undefined || a('cpusPerTask') !== undefined ? Number(a('cpusPerTask') ?? 1) : undefined,
  };
}

/** Slurm's job state numbers (job_states in slurm.h): squeue's default sort is by state, then priority. */
const STATE_ORDER = ['PENDING', 'RUNNING', 'SUSPENDED', 'COMPLETED', 'CANCELLED', 'FAILED', 'TIMEOUT', 'NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE', 'OUT_OF_MEMORY'];
const TIER_RANK: Record<string, number> = { realtime: 3, batch: 2, interruptible: 1, filler: 0 };

/**
 * squeue's default order ("P,t,-p"): partition, then state, then priority highest first; the hub's priority
 * is its tier then the job's own priority. Ties keep submission order (job id).
 */
export function squeueOrder<T extends { v: HubJobView; r: QueueRow }>(rows: T[]): T[] {
  const st = (s: string) => (STATE_ORDER.includes(s) ? STATE_ORDER.indexOf(s) : STATE_ORDER.length);
  return [...rows].sort(
    (x, y) =>
      x.r.partition.localeCompare(y.r.partition) ||
      st(x.r.state) - st(y.r.state) ||
      (TIER_RANK[y.v.tier ?? 'batch'] ?? 2) - (TIER_RANK[x.v.tier ?? 'batch'] ?? 2) ||
      (y.v.priority ?? 0) - (x.v.priority ?? 0) ||
      Number(x.r.jobId) - Number(y.r.jobId),
  );
}

/** `[0,1,2,5,7,8]` → `0-2,5,7-8` (how squeue writes a pending index range). */
export function compressIndices(ix: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < ix.length; ) {
    let j = i;
    while (j + 1 < ix.length && ix[j + 1] === ix[j]! + 1) j++;
    out.push(j === i ? String(ix[i]) : `${ix[i]}-${ix[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

const TASK_STATE: Record<string, string> = { Running: 'RUNNING', Succeeded: 'COMPLETED', Failed: 'FAILED', Pending: 'PENDING', Unknown: 'PENDING' };

/**
 * An array job as squeue lists it: started tasks as `N_i` rows, the indices not started yet as one pending
 * `N_[4-15%4]` row (one `N_i` row each with `expand`, squeue -r). `indices` is the array's index list.
 */
export function arrayRows(v: HubJobView, base: QueueRow, indices: number[], expand = false): QueueRow[] {
  const spec = v.slurm?.array ?? v.spec?.annotations?.[`${SLURM_ANNOTATION_PREFIX}array`];
  if (!spec) return [base];
  const limit = spec.split('%')[1];
  const tasks = new Map((v.slurm?.tasks ?? []).map((t) => [t.index, t]));
  const pending = indices.filter((i) => !tasks.has(i) || TASK_STATE[tasks.get(i)!.state] === 'PENDING');
  const rows: QueueRow[] = [];
  for (const i of indices) {
    const t = tasks.get(i);
    if (!t || TASK_STATE[t.state] === 'PENDING') continue;
    const state = TASK_STATE[t.state] ?? 'PENDING';
    rows.push({ ...base, displayId: `${base.jobId}_${i}`, arrayJobId: base.jobId, arrayTaskId: String(i), state, reason: state === 'FAILED' ? 'NonZeroExitCode' : 'None', nodeList: t.node ?? base.nodeList, numNodes: 1, exitCode: `${t.exitCode ?? 0}:${t.signal ?? 0}` });
  }
  if (pending.length) {
    const running = rows.filter((r) => r.state === 'RUNNING').length;
    const reason = base.state === 'PENDING' ? base.reason : limit && running >= Number(limit) ? 'JobArrayTaskLimit' : 'None';
    const pend = { ...base, arrayJobId: base.jobId, state: 'PENDING', reason, nodeList: '', startTime: undefined };
    if (expand) for (const i of pending) rows.push({ ...pend, displayId: `${base.jobId}_${i}`, arrayTaskId: String(i) });
    else rows.push({ ...pend, displayId: `${base.jobId}_[${compressIndices(pending)}${limit ? `%${limit}` : ''}]`, arrayTaskId: compressIndices(pending) });
  }
  return rows;
}
