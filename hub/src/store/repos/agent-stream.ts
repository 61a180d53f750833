// Agent stream state per cluster: the last stored agent event seq, and the hub → agent command outbox
// (numbered per cluster, acked by the agent, resent after a reconnect until acked).
import type { Command } from '@meridian/protocol/agent-protocol';
import type { Queryable } from '../db.ts';
import type { Keyring } from '../sealed.ts';
import { openJobEnv } from './job-env.ts';

export const OUTBOX_CHANNEL = 'meridian_outbox';

export interface OutboxCommand {
  seq: number;
  command: Command;
}

/**
 * Appends a command to the cluster's outbox (call inside the caller's transaction, as its last write: the counter
 * row stays locked until commit, which is what makes seq order equal commit order); returns its seq.
 */
export async function enqueueCommand(db: Queryable, clusterId: string, command: Command, jobId?: string, attempt?: number): Promise<number> {
  const s = await db.query<{ seq: string }>(
    `INSERT INTO agent_command_counters AS c (cluster_id, next_seq) VALUES ($1, 1)
     ON CONFLICT (cluster_id) DO UPDATE SET next_seq = c.next_seq + 1 RETURNING next_seq::text AS seq`,
    [clusterId],
  );
  if (!s.rows[0]) throw new Error(`cluster ${clusterId} has no agent stream`);
  const seq = Number(s.rows[0].seq);
  await db.query('INSERT INTO agent_commands (cluster_id, seq, kind, job_id, attempt, command) VALUES ($1, $2, $3, $4, $5, $6)', [
    clusterId,
    seq,
    command.kind,
    jobId ?? null,
    attempt ?? null,
    JSON.stringify(command),
  ]);
  await db.query('SELECT pg_notify($1, $2)', [OUTBOX_CHANNEL, clusterId]);
  return seq;
}

/** The outbox seq of the attempt's latest `signal` command, if one was sent. */
export async function sentSignalSeq(db: Queryable, clusterId: string, jobId: string, attempt: number): Promise<number | undefined> {
  const r = await db.query<{ seq: string }>(`SELECT seq::text AS seq FROM agent_commands WHERE cluster_id = $1 AND job_id = $2 AND attempt = $3 AND kind = 'signal' ORDER BY seq DESC LIMIT 1`, [
    clusterId,
    jobId,
    attempt,
  ]);
  return r.rows[0] ? Number(r.rows[0].seq) : undefined;
}

export async function hasCommand(db: Queryable, jobId: string, attempt: number, kind: 'dispatch' | 'cancel'): Promise<boolean> {
  const r = await db.query('SELECT 1 FROM agent_commands WHERE job_id = $1 AND attempt = $2 AND kind = $3', [jobId, attempt, kind]);
  return (r.rowCount ?? 0) > 0;
}

/**
 * Commands past `afterSeq`, in order, as the agent receives them: a dispatch gets its job's environment and
 * secrets, opened from their sealed row (job-env.ts) only here, on the way to the agent's connection.
 */
export async function pendingCommands(db: Queryable, clusterId: string, afterSeq: number, keyring: Keyring, limit = 500): Promise<OutboxCommand[]> {
  const r = await db.query<{ seq: string; command: Command; job_id: string | null; key_id: string | null; sealed: Buffer | null }>(
    `SELECT c.seq::text AS seq, c.command, c.job_id::text AS job_id, e.key_id, e.sealed FROM agent_commands c
     LEFT JOIN job_env e ON c.kind = 'dispatch' AND e.job_id = c.job_id
     WHERE c.cluster_id = $1 AND c.seq > $2 ORDER BY c.seq LIMIT $3`,
    [clusterId, afterSeq, limit],
  );
  return r.rows.map((x) => {
    if (x.command.kind !== 'dispatch' || !x.sealed || !x.key_id || !x.job_id) return { seq: Number(x.seq), command: x.command };
    const { env, secrets } = openJobEnv(keyring, x.job_id, { keyId: x.key_id, blob: x.sealed });
    return { seq: Number(x.seq), command: { ...x.command, env: { ...x.command.env, ...env }, ...(Object.keys(secrets).length ? { secrets } : {}) } };
  });
}

export async function ackCommands(db: Queryable, clusterId: string, upTo: number): Promise<void> {
  await db.query('UPDATE agent_streams SET acked_command_seq = GREATEST(acked_command_seq, $2) WHERE cluster_id = $1', [clusterId, upTo]);
  await db.query('UPDATE agent_commands SET acked_at = now() WHERE cluster_id = $1 AND seq <= $2 AND acked_at IS NULL', [clusterId, upTo]);
}

export async function recordCommandResult(db: Queryable, clusterId: string, seq: number, result: unknown): Promise<void> {
  await db.query('UPDATE agent_commands SET result = $3, result_at = now() WHERE cluster_id = $1 AND seq = $2', [clusterId, seq, JSON.stringify(result)]);
}

export async function commandResult(db: Queryable, clusterId: string, seq: number): Promise<unknown> {
  const r = await db.query<{ result: unknown }>('SELECT result FROM agent_commands WHERE cluster_id = $1 AND seq = $2', [clusterId, seq]);
  return r.rows[0]?.result ?? null;
}

export async function streamState(db: Queryable, clusterId: string): Promise<{ storedEventSeq: number; ackedCommandSeq: number; nextCommandSeq: number }> {
  const r = await db.query<{ e: string; a: string; n: string }>(
    `SELECT s.stored_event_seq::text AS e, s.acked_command_seq::text AS a, COALESCE(c.next_seq, 0)::text AS n
     FROM agent_streams s LEFT JOIN agent_command_counters c USING (cluster_id) WHERE s.cluster_id = $1`,
    [clusterId],
  );
  const row = r.rows[0];
  return { storedEventSeq: Number(row?.e ?? 0), ackedCommandSeq: Number(row?.a ?? 0), nextCommandSeq: Number(row?.n ?? 0) };
}

/** The highest agent event seq stored for the cluster (a resent event at or below it is a duplicate). */
export async function storedEventSeq(db: Queryable, clusterId: string): Promise<number> {
  const r = await db.query<{ e: string }>('SELECT stored_event_seq::text AS e FROM agent_streams WHERE cluster_id = $1', [clusterId]);
  return Number(r.rows[0]?.e ?? 0);
}

/**
 * Records agent event `seq` as stored (inside the caller's transaction, as its last write, so the stream row is
 * locked only briefly). Throws when another writer stored it first, rolling the transaction back.
 */
export async function markEventStored(db: Queryable, clusterId: string, seq: number, type: string, event: unknown): Promise<void> {
  const r = await db.query('UPDATE agent_streams SET stored_event_seq = $2 WHERE cluster_id = $1 AND stored_event_seq < $2', [clusterId, seq]);
  if ((r.rowCount ?? 0) === 0) throw new Error(`agent event ${clusterId}#${seq} was stored concurrently`);
  if (type !== 'heartbeat')
    await db.query('INSERT INTO agent_events (cluster_id, seq, type, event) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [
      clusterId,
      seq,
      type,
      JSON.stringify(event),
    ]);
}

export interface CommandRow {
  seq: number;
  kind: string;
  command: Command;
  createdAt: string;
  ackedAt: string | null;
  result: unknown;
  resultAt: string | null;
}

/** One outbox command with its delivery and result state, or undefined. */
export async function getCommand(db: Queryable, clusterId: string, seq: number): Promise<CommandRow | undefined> {
  const r = await db.query<{ seq: string; kind: string; command: Command; created_at: Date; acked_at: Date | null; result: unknown; result_at: Date | null }>(
    'SELECT seq::text AS seq, kind, command, created_at, acked_at, result, result_at FROM agent_commands WHERE cluster_id = $1 AND seq = $2',
    [clusterId, seq],
  );
  const x = r.rows[0];
  if (!x) return undefined;
  return { seq: Number(x.seq), kind: x.kind, command: x.command, createdAt: x.created_at.toISOString(), ackedAt: x.acked_at?.toISOString() ?? null, result: x.result ?? null, resultAt: x.result_at?.toISOString() ?? null };
}
