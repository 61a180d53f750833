// Dispatched, waiting: a job the hub placed and dispatched that its member has not started on every task (the
// member's own scheduler keeps the last word). Its GPUs stay reserved at the hub; past the withdraw timeout it
// is taken back (the workflow's requeue cancels it on the member) and placed again, elsewhere or later.
import type { Queryable } from '../db.ts';
import { requestRequeue } from './jobs.ts';

export interface OverdueDispatch {
  id: string;
  attempt: number;
  cluster: string;
  /** The member's last word on why it waits ("dispatched, waiting in <cluster>: <reason>"), if it gave one. */
  reason: string | null;
  waitedSec: number;
}

/**
 * Dispatched attempts older than `timeoutMs` that are not running on their member, not being cancelled, not held
 * on their cluster (a Slurm hold is the user's wish) and not already asked to requeue.
 */
export async function overdueDispatches(db: Queryable, timeoutMs: number, limit = 200): Promise<OverdueDispatch[]> {
  const r = await db.query<OverdueDispatch>(
    `SELECT id::text AS id, attempt, cluster_id AS cluster, reason, extract(epoch FROM now() - dispatched_at)::int AS "waitedSec"
       FROM jobs
      WHERE state = 'Dispatched' AND dispatched_at < now() - make_interval(secs => $1::float8 / 1000)
        AND cancel_requested_at IS NULL AND held_at IS NULL AND requeue_attempt IS DISTINCT FROM attempt
      ORDER BY dispatched_at LIMIT $2`,
    [timeoutMs, limit],
  );
  return r.rows;
}

/**
 * Member reasons that are the job's own wish, not the member disagreeing with the hub: a start time
 * (`sbatch --begin`: BeginTime), a hold on the cluster, a dependency the cluster keeps. Such a job is not withdrawn.
 */
const BY_CHOICE = /\b(BeginTime|JobHeld(User|Admin)?|Dependency)\b/;

/** Whether a dispatched job waits on its member by its own wish (its reason names one), so it stays. */
export function waitsByChoice(reason: string | null): boolean {
  const member = reason?.replace(/^dispatched, waiting in [^:]*: /, '') ?? '';
  return BY_CHOICE.test(member);
}

/** Asks the workflows of overdue dispatches to withdraw and requeue them; returns the job IDs to wake. */
export async function withdrawOverdueDispatches(db: Queryable, timeoutMs: number): Promise<OverdueDispatch[]> {
  const done: OverdueDispatch[] = [];
  for (const d of await overdueDispatches(db, timeoutMs)) {
    if (waitsByChoice(d.reason)) continue;
    const why = d.reason ? d.reason.replace(/^dispatched, /, '') : `waiting in ${d.cluster}`;
    if (await requestRequeue(db, d.id, d.attempt, `withdrawn after ${d.waitedSec}s dispatched but not started (${why})`)) done.push(d);
  }
  return done;
}
