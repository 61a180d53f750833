// What the scheduler loop reads about jobs each cycle: the hub's reservations (placed, dispatched, running), the
// queue, and the jobs that --dependency terms name.
import type { JobSpec as UserSpec } from '@meridian/protocol/job-spec';
import type { TaskPlacement, Tier } from '../../scheduler/index.ts';
import type { Queryable } from '../db.ts';

export interface ActiveRow {
  id: string;
  project: string;
  tier: Tier;
  cluster_id: string;
  gpu_model: string | null;
  placement: TaskPlacement[] | null;
  spec: UserSpec;
  started_ms: number;
  state: 'Placed' | 'Dispatched' | 'Running';
}

export interface QueuedRow {
  id: string;
  project: string;
  tier: Tier;
  priority: number;
  spec: UserSpec;
  submitted_ms: number;
  user_id?: string | null;
}

/** Jobs holding capacity: placed, dispatched or running, with their placement. */
export async function activeAllocations(db: Queryable): Promise<ActiveRow[]> {
  return (
    await db.query<ActiveRow>(
      `SELECT id::text AS id, project, tier, cluster_id, gpu_model, placement, spec, state,
         (extract(epoch FROM COALESCE(started_at, placed_at, submitted_at)) * 1000)::float8 AS started_ms
       FROM jobs WHERE state IN ('Placed', 'Dispatched', 'Running') AND placement IS NOT NULL`,
    )
  ).rows;
}

/** Schedulable Queued jobs (not held, not being cancelled), oldest first, at most `maxJobs`. */
export async function queuedJobs(db: Queryable, maxJobs: number): Promise<QueuedRow[]> {
  return (
    await db.query<QueuedRow>(
      `SELECT id::text AS id, project, tier, priority, spec, (extract(epoch FROM submitted_at) * 1000)::float8 AS submitted_ms, user_id::text AS user_id
       FROM jobs WHERE state = 'Queued' AND cancel_requested_at IS NULL AND held_at IS NULL ORDER BY jobs.id LIMIT $1`,
      [maxJobs],
    )
  ).rows;
}

/** State and start time of the jobs a dependency names. */
export async function prerequisiteStates(db: Queryable, ids: string[]): Promise<{ id: string; state: string; started_ms: number | null }[]> {
  return (
    await db.query<{ id: string; state: string; started_ms: number | null }>(
      `SELECT id::text AS id, state, (extract(epoch FROM started_at) * 1000)::float8 AS started_ms FROM jobs WHERE id = ANY($1::bigint[])`,
      [ids],
    )
  ).rows;
}

const TERMINAL = `('Succeeded', 'Failed', 'Cancelled')`;

/** Unfinished jobs of the given users (0 = no user) with their Slurm job name, for --dependency=singleton. */
export async function unfinishedJobsOfUsers(db: Queryable, userIds: string[]): Promise<{ id: string; user_id: string | null; state: string; sname: string }[]> {
  return (
    await db.query(
      `SELECT id::text AS id, user_id::text AS user_id, state, COALESCE(NULLIF(spec->'annotations'->>'slurm.meridian.dev/jobName', ''), name) AS sname
       FROM jobs WHERE state NOT IN ${TERMINAL} AND COALESCE(user_id, 0) = ANY($1::bigint[])`,
      [userIds],
    )
  ).rows;
}
