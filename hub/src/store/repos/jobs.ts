// Jobs: the spec as submitted, the lifecycle state, and the event history.
import type { JobSpec } from '@meridian/protocol/job-spec';
import type { JobView } from '@meridian/protocol/job-view';
import type { Queryable } from '../db.ts';
import type { Keyring, Sealed } from '../sealed.ts';
import { isEmptyEnv, sealJobEnv, splitJobEnv } from './job-env.ts';

/** A job as the store reads it: every field of the API's job view but the Slurm summary and the environment's visibility, plus the agent's report. */
export interface JobRow extends Omit<JobView, 'slurm' | 'envHidden' | 'secretNames'> {
  agentPhase: string | null;
  agentAttempt: number | null;
  agentReason: string | null;
  requeueReason: string | null;
  requeueAttempt: number | null;
}

/** The channel that wakes the scheduler loop (submits and requeues notify it; see store/listener.ts). */
export const SCHEDULE_CHANNEL = 'meridian_schedule';

export const JOB_COLS = `j.id::text AS id, j.name, j.project, (SELECT u.name FROM users u WHERE u.id = j.user_id) AS "user", j.tier, j.priority,
  j.state, j.attempt, j.cluster_id AS cluster, j.gpu_model AS "gpuModel", j.placement, j.estimated_usd AS "estimatedUsd",
  j.reason, j.reason_code AS "reasonCode", j.eta_sec AS "etaSec", j.exit_code AS "exitCode", j.agent_phase AS "agentPhase",
  j.agent_attempt AS "agentAttempt", j.agent_reason AS "agentReason", j.cluster_job_id AS "clusterJobId",
   (j.cancel_requested_at IS NOT NULL) AS "cancelRequested", (j.held_at IS NOT NULL AND j.state NOT IN ('Succeeded', 'Failed', 'Cancelled')) AS held, j.requeue_reason AS "requeueReason", j.requeue_attempt AS "requeueAttempt",
  j.submitted_at AS "submittedAt", j.placed_at AS "placedAt", j.dispatched_at AS "dispatchedAt", j.started_at AS "startedAt",
  j.finished_at AS "finishedAt", j.spec`;

/**
 * `held`: submitted held (sbatch --hold): Queued with reason JobHeldUser until released. One statement (atomic on
 * its own): the job, its sealed environment (job-env.ts), its `submitted` event and the scheduler's wake-up
 * (delivered at commit), read back through RETURNING. The stored spec has no `workload.env` or `workload.secrets`;
 * a job that has them takes its id first (one more round trip), since the id is sealed with them.
 */
export async function insertJob(db: Queryable, spec: JobSpec, userId: string | null, opts: { held?: boolean; keyring?: Keyring } = {}): Promise<JobRow> {
  const { spec: stored, env } = splitJobEnv(spec);
  let id: string | null = null;
  let sealed: Sealed | null = null;
  if (!isEmptyEnv(env)) {
    if (!opts.keyring) throw new Error('storing a job environment needs the hub secrets key (MERIDIAN_SECRETS_KEY)');
    id = (await db.query<{ id: string }>(`SELECT nextval('job_id_seq')::text AS id`)).rows[0]!.id;
    sealed = sealJobEnv(opts.keyring, id, env);
  }
  const r = await db.query<JobRow>(
    `WITH ins AS (
       INSERT INTO jobs (id, name, project, user_id, tier, priority, spec, reason, reason_code, held_at)
       VALUES (COALESCE($11::bigint, nextval('job_id_seq')), $1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $9 THEN now() END) RETURNING *),
     env AS (INSERT INTO job_env (job_id, key_id, sealed) SELECT id, $12, $13 FROM ins WHERE $13::bytea IS NOT NULL),
     ev AS (INSERT INTO job_events (job_id, type, state, attempt, message) SELECT id, 'submitted', 'Queued', 1, $10 FROM ins)
     SELECT ${JOB_COLS} FROM ins j CROSS JOIN LATERAL (SELECT pg_notify('meridian_schedule', j.id::text)) n`,
    [
      stored.name,
      stored.project,
      userId,
      stored.tier,
      stored.priority,
      JSON.stringify(stored),
      opts.held ? HELD_REASON : 'waiting for the next scheduling cycle',
      opts.held ? 'JobHeldUser' : 'New',
      Boolean(opts.held),
      `submitted to project ${stored.project} (tier ${stored.tier})${opts.held ? ', held' : ''}`,
      id,
      sealed?.keyId ?? null,
      sealed?.blob ?? null,
    ],
  );
  return r.rows[0]!;
}

/** The jobs' projects (ids that name no job are left out). */
export async function jobProjects(db: Queryable, ids: string[]): Promise<{ id: string; project: string }[]> {
  return (await db.query<{ id: string; project: string }>('SELECT id::text AS id, project FROM jobs WHERE id = ANY($1::bigint[])', [ids])).rows;
}

/** The job's current attempt; undefined when there is no such job. */
export async function jobAttempt(db: Queryable, id: string): Promise<number | undefined> {
  return (await db.query<{ attempt: number }>('SELECT attempt FROM jobs WHERE id = $1', [id])).rows[0]?.attempt;
}

export async function getJob(db: Queryable, id: string): Promise<JobRow | undefined> {
  if (!/^\d{1,18}$/.test(id)) return undefined;
  return (await db.query<JobRow>(`SELECT ${JOB_COLS} FROM jobs j WHERE j.id = $1::bigint`, [id])).rows[0];
}

/** What admission needs in one round trip: the project's own bound and the Queued counts; undefined = no such project. */
export async function admissionState(db: Queryable, tier: string, project: string): Promise<{ maxPending: number | null; tier: number; project: number; archived: boolean } | undefined> {
  const r = await db.query<{ maxPending: number | null; t: number; p: number; archived: boolean }>(
    `SELECT pr.max_pending AS "maxPending", q.t, q.p, pr.archived_at IS NOT NULL AS archived FROM projects pr,
       LATERAL (SELECT count(*) FILTER (WHERE tier = $1)::int AS t, count(*) FILTER (WHERE project = $2)::int AS p
                FROM jobs WHERE state = 'Queued' AND (tier = $1 OR project = $2)) q
     WHERE pr.name = $2`,
    [tier, project],
  );
  const row = r.rows[0];
  return row && { maxPending: row.maxPending, tier: row.t, project: row.p, archived: row.archived };
}

export interface JobFilter {
  /** null = every project (global admins). */
  projects: string[] | null;
  project?: string;
  state?: string[];
  tier?: string;
  cluster?: string;
  name?: string;
  user?: string;
}

/** Newest first; `before` is the cursor (the last id of the previous page). */
export async function listJobs(db: Queryable, f: JobFilter, limit: number, before: string | null): Promise<JobRow[]> {
  const r = await db.query<JobRow>(
    `SELECT ${JOB_COLS} FROM jobs j
     WHERE ($1::text[] IS NULL OR j.project = ANY($1)) AND ($2::text IS NULL OR j.project = $2)
       AND ($3::text[] IS NULL OR j.state = ANY($3)) AND ($4::text IS NULL OR j.tier = $4)
       AND ($5::text IS NULL OR j.cluster_id = $5) AND ($6::text IS NULL OR j.name = $6)
       AND ($7::bigint IS NULL OR j.id < $7)
       AND ($8::text IS NULL OR j.user_id = (SELECT id FROM users WHERE name = $8))
     ORDER BY j.id DESC LIMIT $9`,
    [f.projects, f.project ?? null, f.state ?? null, f.tier ?? null, f.cluster ?? null, f.name ?? null, before, f.user ?? null, limit],
  );
  return r.rows;
}

export interface JobEvent {
  id: string;
  jobId: string;
  at: string;
  type: string;
  state: string | null;
  attempt: number | null;
  message: string;
  data: unknown;
}

export async function addEvent(db: Queryable, jobId: string, type: string, state: string | null, attempt: number | null, message: string, data?: unknown): Promise<void> {
  await db.query('INSERT INTO job_events (job_id, type, state, attempt, message, data) VALUES ($1, $2, $3, $4, $5, $6)', [
    jobId,
    type,
    state,
    attempt,
    message,
    data === undefined ? null : JSON.stringify(data),
  ]);
}

/** The `delivery` the attempt's last `checkpoint` event recorded (undefined when none was tried). */
export async function lastCheckpointDelivery(db: Queryable, jobId: string, attempt: number): Promise<string | undefined> {
  const r = await db.query<{ delivery: string | null }>(`SELECT data->>'delivery' AS delivery FROM job_events WHERE job_id = $1 AND attempt = $2 AND type = 'checkpoint' ORDER BY id DESC LIMIT 1`, [jobId, attempt]);
  return r.rows[0]?.delivery ?? undefined;
}

export async function listEvents(db: Queryable, jobId: string, after: string | null, limit: number): Promise<JobEvent[]> {
  return (
    await db.query<JobEvent>(
      `SELECT id::text AS id, job_id::text AS "jobId", at, type, state, attempt, message, data FROM job_events
       WHERE job_id = $1 AND id > $2 ORDER BY job_events.id LIMIT $3`,
      [jobId, after ?? '0', limit],
    )
  ).rows;
}

export async function markWorkflowStarted(db: Queryable, ids: string[]): Promise<void> {
  if (ids.length) await db.query('UPDATE jobs SET workflow_started_at = now() WHERE id = ANY($1::bigint[]) AND workflow_started_at IS NULL', [ids]);
}

/** Jobs whose workflow start was never confirmed (hub crash or Temporal outage between commit and start). */
export async function jobsMissingWorkflow(db: Queryable, olderThanMs: number, limit: number): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    `SELECT id::text AS id FROM jobs WHERE workflow_started_at IS NULL
       AND submitted_at < now() - ($1::double precision * interval '1 millisecond') ORDER BY jobs.id LIMIT $2`,
    [olderThanMs, limit],
  );
  return r.rows.map((x) => x.id);
}

/** Records a cancel request; false when the job is already finished. */
export async function requestCancel(db: Queryable, id: string): Promise<boolean> {
  const r = await db.query(
    `UPDATE jobs SET cancel_requested_at = COALESCE(cancel_requested_at, now()), updated_at = now()
     WHERE id = $1 AND state NOT IN ('Succeeded', 'Failed', 'Cancelled')`,
    [id],
  );
  return (r.rowCount ?? 0) > 0;
}

/** Asks the job's workflow to requeue the given attempt (cluster lost, node fault, preemption). */
export async function requestRequeue(db: Queryable, id: string, attempt: number, reason: string): Promise<boolean> {
  const r = await db.query(
    `UPDATE jobs SET requeue_reason = $3, requeue_attempt = $2, updated_at = now()
     WHERE id = $1 AND attempt = $2 AND state IN ('Placed', 'Dispatched', 'Running') AND requeue_attempt IS DISTINCT FROM $2`,
    [id, attempt, reason],
  );
  return (r.rowCount ?? 0) > 0;
}

/** Active jobs on the given clusters (for cluster-lost requeue). */
export async function activeJobsOn(db: Queryable, clusterIds: string[]): Promise<{ id: string; attempt: number }[]> {
  return (
    await db.query(
      `SELECT id::text AS id, attempt FROM jobs WHERE cluster_id = ANY($1) AND state IN ('Placed', 'Dispatched', 'Running')`,
      [clusterIds],
    )
  ).rows;
}

export async function stateCounts(db: Queryable): Promise<{ state: string; tier: string; project: string; n: number }[]> {
  return (await db.query('SELECT state, tier, project, count(*)::int AS n FROM jobs GROUP BY state, tier, project')).rows;
}

/**
 * Jobs whose workflow has a step to take but has not taken it for `staleMs` (its wake signal was lost, e.g. the
 * hub died between commit and signal, or Temporal was down). Marks them so each is re-woken at most once per period.
 */
export async function claimStaleSteps(db: Queryable, staleMs: number, limit: number): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    `UPDATE jobs SET updated_at = now() WHERE id IN (
       SELECT id FROM jobs
       WHERE state NOT IN ('Succeeded', 'Failed', 'Cancelled') AND updated_at < now() - ($1::double precision * interval '1 millisecond')
         AND (state = 'Placed' OR cancel_requested_at IS NOT NULL OR requeue_attempt = attempt
              OR (agent_attempt = attempt AND agent_phase IN ('Succeeded', 'Failed', 'Cancelled')))
       ORDER BY updated_at LIMIT $2)
     RETURNING id::text AS id`,
    [staleMs, limit],
  );
  return r.rows.map((x) => x.id);
}

export const HELD_REASON = 'held by the user; release it to make it schedulable again';

/** Holds a Queued job (not being cancelled): it stays Queued with reason JobHeldUser and is not scheduled. */
export async function holdJob(db: Queryable, id: string): Promise<boolean> {
  const r = await db.query<{ attempt: number }>(
    `UPDATE jobs SET held_at = COALESCE(held_at, now()), reason = $2, reason_code = 'JobHeldUser', eta_sec = NULL, updated_at = now()
     WHERE id = $1 AND state = 'Queued' AND cancel_requested_at IS NULL RETURNING attempt`,
    [id, HELD_REASON],
  );
  const row = r.rows[0];
  if (!row) return false;
  await addEvent(db, id, 'held', 'Queued', row.attempt, 'held by the user');
  return true;
}

/** Releases a held job; false when it is not held (or no longer Queued). */
export async function releaseJob(db: Queryable, id: string): Promise<boolean> {
  const r = await db.query<{ attempt: number }>(
    `UPDATE jobs SET held_at = NULL, reason = 'waiting for the next scheduling cycle', reason_code = 'New', updated_at = now()
     WHERE id = $1 AND state = 'Queued' AND held_at IS NOT NULL RETURNING attempt`,
    [id],
  );
  const row = r.rows[0];
  if (!row) return false;
  await addEvent(db, id, 'released', 'Queued', row.attempt, 'released by the user');
  return true;
}

/** Records a hold / release the job's cluster applied to its pending attempt (the job stays Dispatched). */
export async function setClusterHold(db: Queryable, id: string, attempt: number, held: boolean): Promise<boolean> {
  const r = await db.query(
    `UPDATE jobs SET held_at = CASE WHEN $3 THEN COALESCE(held_at, now()) END, updated_at = now()
     WHERE id = $1 AND attempt = $2 AND state = 'Dispatched'`,
    [id, attempt, held],
  );
  if (!r.rowCount) return false;
  await addEvent(db, id, held ? 'held' : 'released', 'Dispatched', attempt, held ? 'held by the user on its cluster' : 'released by the user on its cluster');
  return true;
}

/** A task as the cluster last reported it (from the job's agent-status events of its current attempt). */
export interface AgentTask {
  index: number;
  node?: string;
  phase: string;
  exitCode?: number;
  signal?: number;
}

/** The latest non-empty task list each job's cluster reported for its current attempt (one query for a page). */
export async function latestAgentTasks(db: Queryable, ids: string[]): Promise<Map<string, AgentTask[]>> {
  if (!ids.length) return new Map();
  const r = await db.query<{ id: string; tasks: AgentTask[] }>(
    `SELECT DISTINCT ON (e.job_id) e.job_id::text AS id, e.data->'tasks' AS tasks
     FROM job_events e JOIN jobs j ON j.id = e.job_id AND e.attempt = j.attempt
     WHERE e.job_id = ANY($1::bigint[]) AND e.type = 'agent-status' AND jsonb_typeof(e.data->'tasks') = 'array' AND jsonb_array_length(e.data->'tasks') > 0
     ORDER BY e.job_id, e.id DESC`,
    [ids],
  );
  return new Map(r.rows.map((x) => [x.id, x.tasks]));
}
