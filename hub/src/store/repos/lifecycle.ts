// Job state transitions. Each runs in one transaction, checks the state it expects (so a retried
// activity or a replayed event is a no-op), and writes the job event in the same transaction.
import type pg from 'pg';
import type { DispatchCommand, JobStatusEvent } from '@meridian/protocol/agent-protocol';
import type { JobState } from '@meridian/protocol/job-spec';
import { tx } from '../db.ts';
import type { Queryable } from '../db.ts';
import { enqueueCommand, hasCommand } from './agent-stream.ts';
import { addEvent, JOB_COLS } from './jobs.ts';
import type { JobRow } from './jobs.ts';

async function lockJob(db: Queryable, id: string): Promise<JobRow | undefined> {
  return (await db.query<JobRow>(`SELECT ${JOB_COLS} FROM jobs j WHERE j.id = $1 FOR UPDATE`, [id])).rows[0];
}

export interface PlacementWrite {
  jobId: string;
  clusterId: string;
  gpuModel: string | null;
  tasks: unknown[];
  estimatedUsd: number;
}

/** Scheduler decision → Placed (only from Queued, only when not being cancelled or held). */
export async function applyPlacement(db: Queryable, p: PlacementWrite): Promise<boolean> {
  const r = await db.query<{ attempt: number }>(
    `UPDATE jobs SET state = 'Placed', cluster_id = $2, gpu_model = $3, placement = $4, estimated_usd = $5, placed_at = now(),
       reason = NULL, reason_code = NULL, eta_sec = NULL, updated_at = now()
     WHERE id = $1 AND state = 'Queued' AND cancel_requested_at IS NULL AND held_at IS NULL RETURNING attempt`,
    [p.jobId, p.clusterId, p.gpuModel, JSON.stringify(p.tasks), p.estimatedUsd],
  );
  const row = r.rows[0];
  if (!row) return false;
  await addEvent(db, p.jobId, 'placed', 'Placed', row.attempt, `placed on ${p.clusterId}${p.gpuModel ? ` (${p.gpuModel})` : ''}, ~$${p.estimatedUsd}`, { tasks: p.tasks });
  return true;
}

export interface PendingReason {
  jobId: string;
  code: string;
  reason: string;
  etaSec: number | null;
}

/**
 * The one writer of why a Queued, unheld job waits (the scheduler's pending reasons and the dependency gate).
 * `keepSameCode`: a job already pending for the same code keeps its row untouched (the gate re-evaluates every
 * waiting dependency each cycle; rewriting an unchanged reason would only churn rows).
 */
export async function setPendingReasons(db: Queryable, rows: PendingReason[], opts: { keepSameCode?: boolean } = {}): Promise<void> {
  if (!rows.length) return;
  await db.query(
    `UPDATE jobs j SET reason = p.reason, reason_code = p.code, eta_sec = p.eta
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[]) AS p(id, code, reason, eta)
     WHERE j.id = p.id AND j.state = 'Queued' AND j.held_at IS NULL AND (NOT $5::boolean OR j.reason_code IS DISTINCT FROM p.code)`,
    [rows.map((p) => p.jobId), rows.map((p) => p.code), rows.map((p) => p.reason), rows.map((p) => (p.etaSec === null ? null : Math.min(2e9, Math.round(p.etaSec)))), Boolean(opts.keepSameCode)],
  );
}

/** Queued → Cancelled for a job whose --dependency can never be satisfied; false when it is no longer Queued. */
export async function cancelNeverSatisfiable(db: Queryable, jobId: string, reason: string): Promise<boolean> {
  const r = await db.query<{ attempt: number }>(
    `UPDATE jobs SET state = 'Cancelled', reason = $2, reason_code = 'DependencyNeverSatisfied', eta_sec = NULL, finished_at = now(), updated_at = now()
       WHERE id = $1 AND state = 'Queued' RETURNING attempt`,
    [jobId, reason],
  );
  if (!r.rows[0]) return false;
  await addEvent(db, jobId, 'finished', 'Cancelled', r.rows[0].attempt, reason);
  return true;
}

export function dispatchCommand(job: JobRow): DispatchCommand {
  const s = job.spec;
  const tasks = (Array.isArray(job.placement) ? job.placement : []) as { node: string; gpuIndex?: number }[];
  const shareGpus = tasks.map((t) => t.gpuIndex);
  return {
    kind: 'dispatch',
    jobId: job.id,
    attempt: job.attempt,
    project: job.project,
    name: job.name,
    ...(job.user ? { user: job.user } : {}),
    tasks: s.tasks,
    perTask: { cpuMilli: s.resources.cpu, memoryMiB: s.resources.memory, gpus: s.resources.gpus, rdma: s.resources.rdma, ...(s.resources.milliGpu ? { milliGpu: s.resources.milliGpu } : {}) },
    ...(job.gpuModel ? { gpuModel: job.gpuModel } : {}),
    nodes: tasks.map((t) => t.node),
    ...(s.resources.milliGpu && shareGpus.length && shareGpus.every((i) => i !== undefined) ? { gpuIndices: shareGpus as number[] } : {}),
    ...(s.workload.image ? { image: s.workload.image } : {}),
    ...(s.workload.command ? { command: s.workload.command } : {}),
    ...(s.workload.args ? { args: s.workload.args } : {}),
    // The stored command holds no environment: the gateway adds the job's sealed env and secrets (job-env.ts)
    // as it sends the command to the agent (agent-stream.ts pendingCommands).
    env: {},
    ...(s.workload.script ? { script: s.workload.script } : {}),
    maxRuntimeSec: s.maxRuntime,
    ...(s.checkpoint ? { checkpointSignal: s.checkpoint.signal } : {}),
    annotations: s.annotations,
  };
}

export type DispatchResult = { outcome: 'dispatched' | 'already'; cluster: string } | { outcome: 'not-placed'; state: JobState };

/** Placed → Dispatched: writes the dispatch command to the cluster's outbox, once per attempt. */
export async function dispatchJob(pool: pg.Pool, jobId: string, attempt: number): Promise<DispatchResult> {
  return tx(pool, async (c) => {
    const job = await lockJob(c, jobId);
    if (!job || job.attempt !== attempt) return { outcome: 'not-placed', state: job?.state ?? 'Cancelled' };
    if (await hasCommand(c, jobId, attempt, 'dispatch')) return { outcome: 'already', cluster: job.cluster! };
    if (job.state !== 'Placed' || !job.cluster) return { outcome: 'not-placed', state: job.state };
    await c.query(`UPDATE jobs SET state = 'Dispatched', dispatched_at = now(), updated_at = now(), reason = $2, reason_code = $3 WHERE id = $1`, [
      jobId,
      waitingReason(job.cluster, 'dispatch sent, not yet reported by the member'),
      DISPATCHED_WAITING,
    ]);
    await addEvent(c, jobId, 'dispatched', 'Dispatched', attempt, `dispatch command sent to ${job.cluster}`);
    await enqueueCommand(c, job.cluster, dispatchCommand(job), jobId, attempt);
    return { outcome: 'dispatched', cluster: job.cluster };
  });
}

/** The reason code of a job the hub dispatched and its member has not started on every task. */
export const DISPATCHED_WAITING = 'DispatchedWaiting';
export const waitingReason = (cluster: string, memberReason: string): string => `dispatched, waiting in ${cluster}: ${memberReason}`;

/** The member's words for why an attempt it holds has not started: its pendingReason, else its reason and message. */
function memberPendingReason(ev: JobStatusEvent): string {
  return ev.pendingReason ?? ([ev.reason, ev.message].filter(Boolean).join(': ') || 'pending, no reason given');
}

/** Sends a cancel command for the current attempt when the cluster has (or may have) it. */
export async function sendCancel(pool: pg.Pool, jobId: string, attempt: number, graceSeconds: number, reason: string): Promise<boolean> {
  return tx(pool, async (c) => {
    const job = await lockJob(c, jobId);
    if (!job?.cluster || !(await hasCommand(c, jobId, attempt, 'dispatch')) || (await hasCommand(c, jobId, attempt, 'cancel'))) return false;
    await addEvent(c, jobId, 'cancel-sent', job.state, attempt, `cancel sent to ${job.cluster}: ${reason}`);
    await enqueueCommand(c, job.cluster, { kind: 'cancel', jobId, attempt, graceSeconds, reason }, jobId, attempt);
    return true;
  });
}

/**
 * An agent's job.status event (inside the gateway's event transaction). Applies only to the job's current
 * attempt on the reporting cluster; returns whether the workflow should be woken.
 */
export async function recordAgentStatus(db: Queryable, clusterId: string, ev: JobStatusEvent): Promise<{ applied: boolean; why?: string }> {
  const cur = await db.query<{ cluster_id: string | null; attempt: number; state: JobState; agent_phase: string | null; reason: string | null }>(
    'SELECT cluster_id, attempt, state, agent_phase, reason FROM jobs WHERE id = $1 FOR UPDATE',
    [/^\d{1,18}$/.test(ev.jobId) ? ev.jobId : '0'],
  );
  const row = cur.rows[0];
  if (!row) return { applied: false, why: `unknown job ${ev.jobId}` };
  if (row.cluster_id !== clusterId || row.attempt !== ev.attempt) return { applied: false, why: `job ${ev.jobId} attempt ${ev.attempt} is not on cluster ${clusterId}` };
  const toRunning = ev.phase === 'Running' && (row.state === 'Placed' || row.state === 'Dispatched');
  // Dispatched and not started on every task: the job shows the member's own reason; its GPUs stay reserved
  // until it runs or the scheduler loop withdraws it (withdrawOverdueDispatches).
  const waiting = ev.phase === 'Pending' && row.state === 'Dispatched' ? waitingReason(clusterId, memberPendingReason(ev)) : null;
  await db.query(
    `UPDATE jobs SET agent_phase = $2, agent_attempt = $3, agent_reason = $4, exit_code = COALESCE($5, exit_code),
       cluster_job_id = COALESCE($6, cluster_job_id), updated_at = now(),
       started_at = CASE WHEN started_at IS NULL AND $2 IN ('Running', 'Succeeded', 'Failed', 'Cancelled') THEN now() ELSE started_at END,
       state = CASE WHEN $7 THEN 'Running' ELSE state END,
       reason = CASE WHEN $8::text IS NOT NULL THEN $8 WHEN $7 AND reason_code = $9 THEN NULL ELSE reason END,
       reason_code = CASE WHEN $8::text IS NOT NULL THEN $9 WHEN $7 AND reason_code = $9 THEN NULL ELSE reason_code END
     WHERE id = $1`,
    [ev.jobId, ev.phase, ev.attempt, ev.reason ?? ev.message ?? null, ev.exitCode ?? null, ev.clusterJobId ?? null, toRunning, waiting, DISPATCHED_WAITING],
  );
  if (waiting && waiting !== row.reason) await addEvent(db, ev.jobId, 'waiting', row.state, ev.attempt, waiting, { tasks: ev.tasks });
  if (row.agent_phase !== ev.phase || toRunning)
    await addEvent(db, ev.jobId, 'agent-status', toRunning ? 'Running' : row.state, ev.attempt, `${clusterId} reports ${ev.phase}${ev.reason ? `: ${ev.reason}` : ''}`, {
      tasks: ev.tasks,
      exitCode: ev.exitCode,
      // a failed container's last log lines, as the member reported them
      ...(ev.message ? { message: ev.message } : {}),
    });
  return { applied: row.agent_phase !== ev.phase || toRunning };
}

interface BillingContext {
  gpus: number;
  tasks: number;
  milliGpu?: number;
}

async function bill(c: Queryable, job: JobRow): Promise<void> {
  if (!job.cluster || !job.startedAt) return;
  const r: BillingContext = { gpus: job.spec.resources.gpus, tasks: job.spec.tasks, milliGpu: job.spec.resources.milliGpu };
  const gpus = (r.gpus > 0 ? r.gpus : (r.milliGpu ?? 0) / 1000) * r.tasks;
  const prices = await c.query<{ cp: Record<string, { onDemand: number }>; pp: Record<string, { onDemand: number }> }>(
    'SELECT c.prices AS cp, p.price_overrides AS pp FROM clusters c, projects p WHERE c.id = $1 AND p.name = $2',
    [job.cluster, job.project],
  );
  const model = job.gpuModel ?? '';
  const price = prices.rows[0]?.pp?.[model]?.onDemand ?? prices.rows[0]?.cp?.[model]?.onDemand ?? 0;
  await c.query(
    `INSERT INTO usage_records (job_id, attempt, project, cluster_id, gpu_model, gpus, gpu_hours, usd, started_at, finished_at)
     SELECT $1, $2, $3, $4, $5, $6::float8, g.h, g.h * $7::float8, $8, now()
     FROM (SELECT $6::float8 * greatest(extract(epoch FROM now() - $8::timestamptz), 0) / 3600.0 AS h) g
     ON CONFLICT (job_id, attempt) DO NOTHING`,
    [job.id, job.attempt, job.project, job.cluster, job.gpuModel, gpus, price, job.startedAt],
  );
}

/** → Succeeded / Failed / Cancelled, exactly once; bills the attempt that ran. Returns false when already final. */
export async function finishJob(pool: pg.Pool, jobId: string, attempt: number, state: 'Succeeded' | 'Failed' | 'Cancelled', reason: string): Promise<boolean> {
  return tx(pool, async (c) => {
    const job = await lockJob(c, jobId);
    if (!job || job.attempt !== attempt || ['Succeeded', 'Failed', 'Cancelled'].includes(job.state)) return false;
    await bill(c, job);
    await c.query(`UPDATE jobs SET state = $2, reason = $3, finished_at = now(), updated_at = now() WHERE id = $1`, [jobId, state, reason]);
    await addEvent(c, jobId, 'finished', state, attempt, reason);
    return true;
  });
}

/**
 * Ends an attempt and queues the job again (new attempt); bills the part that ran; cancels it on the old cluster,
 * with `graceSeconds` for its checkpoint signal (GPU-fault remediation gives checkpointable jobs their grace).
 */
export async function requeueJob(pool: pg.Pool, jobId: string, attempt: number, reason: string, graceSeconds = 0): Promise<boolean> {
  return tx(pool, async (c) => {
    const job = await lockJob(c, jobId);
    if (!job || job.attempt !== attempt || ['Succeeded', 'Failed', 'Cancelled', 'Queued'].includes(job.state)) return false;
    await bill(c, job);
    const cancelOld = job.cluster && (await hasCommand(c, jobId, attempt, 'dispatch')) && !(await hasCommand(c, jobId, attempt, 'cancel'));
    await c.query(
      `UPDATE jobs SET state = 'Queued', attempt = attempt + 1, cluster_id = NULL, gpu_model = NULL, placement = NULL, placed_at = NULL,
         dispatched_at = NULL, started_at = NULL, agent_phase = NULL, agent_attempt = NULL, agent_reason = NULL, exit_code = NULL,
         cluster_job_id = NULL, requeue_reason = NULL, requeue_attempt = NULL, reason = $2, reason_code = 'Requeued', updated_at = now()
       WHERE id = $1`,
      [jobId, `requeued: ${reason}`],
    );
    await addEvent(c, jobId, 'requeued', 'Queued', attempt + 1, `attempt ${attempt} ended (${reason}); queued again as attempt ${attempt + 1}`);
    await c.query(`SELECT pg_notify('meridian_schedule', $1)`, [jobId]);
    if (cancelOld) await enqueueCommand(c, job.cluster!, { kind: 'cancel', jobId, attempt, graceSeconds, reason: `requeued: ${reason}` }, jobId, attempt);
    return true;
  });
}
