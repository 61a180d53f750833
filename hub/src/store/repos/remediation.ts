// GPU-fault remediation rows: the node event log, the per-cluster circuit breaker (read under a row lock; the
// decision is telemetry/remediation-breaker.ts), and which federation jobs run on a node.
// Tables: store/migrations/004_remediation.sql.
import type { Queryable } from '../db.ts';

export interface NodeEvent {
  id: string;
  cluster: string;
  node: string;
  at: string;
  type: string;
  message: string;
  data: unknown;
}

export async function addNodeEvent(db: Queryable, cluster: string, node: string, type: string, message: string, data?: unknown): Promise<void> {
  await db.query('INSERT INTO node_events (cluster_id, node, type, message, data) VALUES ($1, $2, $3, $4, $5)', [
    cluster,
    node,
    type,
    message,
    data === undefined ? null : JSON.stringify(data),
  ]);
}

/** A node's events, oldest first, after the cursor `after` (an event id). */
export async function listNodeEvents(db: Queryable, cluster: string, node: string, after: string | null, limit: number): Promise<NodeEvent[]> {
  return (
    await db.query<NodeEvent>(
      `SELECT id::text AS id, cluster_id AS cluster, node, at, type, message, data FROM node_events
       WHERE cluster_id = $1 AND node = $2 AND id > $3 ORDER BY node_events.id LIMIT $4`,
      [cluster, node, after ?? '0', limit],
    )
  ).rows;
}

export interface JobOnNodeRow {
  jobId: string;
  attempt: number;
  state: string;
  checkpointable: boolean;
  tier: 'realtime' | 'batch' | 'interruptible' | 'filler';
  /** the job's checkpoint grace (0 when it has no checkpoint signal) */
  graceSeconds: number;
  signal: string | null;
}

/**
 * Active jobs with a task on the node. The node a task really runs on is what the agent last reported for the
 * current attempt (a Kubernetes scheduler may not honour the hub's reservation); before any report, the
 * hub's placement.
 */
export async function jobsOnNode(db: Queryable, cluster: string, node: string): Promise<JobOnNodeRow[]> {
  const r = await db.query<{ id: string; attempt: number; state: string; tier: string; checkpoint: { signal?: string; graceSeconds?: number } | null; placement: unknown; status: { tasks?: { node?: string }[] } | null }>(
    `SELECT j.id::text AS id, j.attempt, j.state, j.tier, j.spec->'checkpoint' AS checkpoint, j.placement,
       (SELECT e.data FROM job_events e WHERE e.job_id = j.id AND e.type = 'agent-status' AND e.attempt = j.attempt
         ORDER BY e.id DESC LIMIT 1) AS status
     FROM jobs j WHERE j.cluster_id = $1 AND j.state IN ('Placed', 'Dispatched', 'Running') ORDER BY j.id`,
    [cluster],
  );
  const out: JobOnNodeRow[] = [];
  for (const row of r.rows) {
    const reported = (row.status?.tasks ?? []).map((t) => t.node).filter((n): n is string => typeof n === 'string' && n !== '');
    const placed = (Array.isArray(row.placement) ? (row.placement as { node?: string }[]) : []).map((t) => t.node).filter((n): n is string => typeof n === 'string');
    const nodes = reported.length ? reported : placed;
    if (!nodes.includes(node)) continue;
    out.push({
      jobId: row.id,
      attempt: row.attempt,
      state: row.state,
      checkpointable: row.checkpoint !== null,
      tier: row.tier as JobOnNodeRow['tier'],
      graceSeconds: row.checkpoint?.graceSeconds ?? 0,
      signal: row.checkpoint?.signal ?? null,
    });
  }
  return out;
}

/** A cluster's breaker as stored (the shape of telemetry/remediation-policy.ts's BreakerState). */
export interface StoredBreaker {
  totalNodes: number;
  quarantined: string[];
  recentQuarantines: number[];
  trippedAt: number | null;
}

interface BreakerRow {
  quarantined: string[];
  recent: string[];
  tripped_at: string | null;
}

/** The cluster's breaker, created when missing and locked until the transaction ends (call inside one). */
export async function lockBreaker(c: Queryable, cluster: string): Promise<StoredBreaker> {
  await c.query('INSERT INTO remediation_breakers (cluster_id) VALUES ($1) ON CONFLICT DO NOTHING', [cluster]);
  const row = (await c.query<BreakerRow>('SELECT quarantined, recent::text[] AS recent, tripped_at::text FROM remediation_breakers WHERE cluster_id = $1 FOR UPDATE', [cluster])).rows[0]!;
  const total = await c.query<{ n: string }>('SELECT count(*)::text AS n FROM nodes WHERE cluster_id = $1', [cluster]);
  return {
    totalNodes: Number(total.rows[0]?.n ?? 0),
    quarantined: row.quarantined,
    recentQuarantines: row.recent.map(Number),
    trippedAt: row.tripped_at === null ? null : Number(row.tripped_at),
  };
}

export async function saveBreaker(c: Queryable, cluster: string, s: StoredBreaker): Promise<void> {
  await c.query('UPDATE remediation_breakers SET quarantined = $2, recent = $3, tripped_at = $4, updated_at = now() WHERE cluster_id = $1', [
    cluster,
    s.quarantined,
    s.recentQuarantines,
    s.trippedAt,
  ]);
}

/** Each node's latest `remediation.*` node event type (nodes with none are left out). */
export async function latestRemediationSteps(db: Queryable, cluster: string, nodes: string[]): Promise<Map<string, string>> {
  const r = await db.query<{ node: string; type: string }>(
    `SELECT DISTINCT ON (node) node, type FROM node_events
     WHERE cluster_id = $1 AND node = ANY($2) AND type LIKE 'remediation.%' ORDER BY node, id DESC`,
    [cluster, nodes],
  );
  return new Map(r.rows.map((x) => [x.node, x.type]));
}
