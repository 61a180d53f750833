// The scheduling leader's lock: a session-level advisory lock, held for as long as its connection lives.
import type { Queryable } from '../db.ts';

export const LEADER_LOCK_KEY = 0x4d52444e; // "MRDN"

/** Takes the leader lock on this session if it is free (or already ours). */
export async function tryLeaderLock(db: Queryable): Promise<boolean> {
  const r = await db.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LEADER_LOCK_KEY]);
  return r.rows[0]?.ok === true;
}
