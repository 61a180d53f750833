// Elastic power: each cluster's policy, the hub's ledger of powered elastic nodes, and the power events.
// The decision itself is power/decide.ts; power/service.ts runs it against these rows.
import type { Queryable } from '../db.ts';

// Row shapes; power/decide.ts's PowerPolicy, PowerAction and PowerDecision have the same shapes.
export interface PowerPolicyRow {
  maxPoweredNodes: number | null;
  allowResume: boolean;
}
type PowerAction = 'resume' | 'suspend';
interface PowerAnswer {
  approved: string[];
  denied: { node: string; reason: string }[];
}

/** The cluster's stored policy; undefined when none was ever set. */
export async function readPowerPolicy(db: Queryable, clusterId: string): Promise<PowerPolicyRow | undefined> {
  const r = await db.query<PowerPolicyRow>(
    'SELECT max_powered_nodes AS "maxPoweredNodes", allow_resume AS "allowResume" FROM cluster_power_policies WHERE cluster_id = $1',
    [clusterId],
  );
  return r.rows[0];
}

export async function writePowerPolicy(db: Queryable, clusterId: string, p: PowerPolicyRow): Promise<void> {
  await db.query(
    `INSERT INTO cluster_power_policies (cluster_id, max_powered_nodes, allow_resume) VALUES ($1, $2, $3)
     ON CONFLICT (cluster_id) DO UPDATE SET max_powered_nodes = $2, allow_resume = $3, updated_at = now()`,
    [clusterId, p.maxPoweredNodes, p.allowResume],
  );
}

/** Serialises power decisions of one cluster (two resume programs at once must not both take the last slot). */
export async function lockClusterPower(db: Queryable, clusterId: string): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtext('meridian-power:' || $1))`, [clusterId]);
}

/**
 * Elastic nodes the hub let power up and has not seen power down. The agent's inventory corrects the ledger:
 * a node it reports powered off (`slurm.meridian.dev/power=off`) well after the grant (e.g. a failed resume that
 * Slurm marked DOWN at ResumeTimeout) no longer counts. "Well after": an inventory taken just before the power-up
 * may arrive just after the grant, and must not free the slot.
 */
export const INVENTORY_GRACE_SEC = 60;

export async function poweredNodes(db: Queryable, clusterId: string): Promise<string[]> {
  const r = await db.query<{ node: string }>(
    `SELECT p.node FROM node_power p LEFT JOIN nodes n ON n.cluster_id = p.cluster_id AND n.name = p.node
     WHERE p.cluster_id = $1 AND p.state = 'on'
       AND NOT (COALESCE(n.info->'labels'->>'slurm.meridian.dev/power', '') = 'off' AND n.updated_at > p.changed_at + make_interval(secs => $2))
     ORDER BY p.node`,
    [clusterId, INVENTORY_GRACE_SEC],
  );
  return r.rows.map((x) => x.node);
}

/** Nodes whose latest drain/cordon/uncordon command from the hub is a drain or cordon, with its reason. */
export async function hubDrainedNodes(db: Queryable, clusterId: string): Promise<Map<string, string>> {
  const r = await db.query<{ node: string; op: string; reason: string | null }>(
    `SELECT DISTINCT ON (command->>'node') command->>'node' AS node, command->>'op' AS op, command->>'reason' AS reason
     FROM agent_commands WHERE cluster_id = $1 AND kind = 'node' AND command->>'op' IN ('drain', 'cordon', 'uncordon')
     ORDER BY command->>'node', seq DESC`,
    [clusterId],
  );
  return new Map(r.rows.filter((x) => x.op !== 'uncordon').map((x) => [x.node, x.reason ?? '']));
}

/** Updates the ledger for what was granted and records one event per node asked about. */
export async function recordPower(db: Queryable, clusterId: string, action: PowerAction, d: PowerAnswer, requestedBy: string): Promise<void> {
  if (d.approved.length)
    await db.query(
      `INSERT INTO node_power (cluster_id, node, state) SELECT $1, unnest($2::text[]), $3
       ON CONFLICT (cluster_id, node) DO UPDATE SET state = EXCLUDED.state, changed_at = now()`,
      [clusterId, d.approved, action === 'resume' ? 'on' : 'off'],
    );
  const rows = [...d.approved.map((node) => ({ node, granted: true, reason: '' })), ...d.denied.map((x) => ({ ...x, granted: false }))];
  await db.query(
    `INSERT INTO power_events (cluster_id, node, action, granted, reason, requested_by)
     SELECT $1, x->>'node', $2, (x->>'granted')::boolean, x->>'reason', $3 FROM jsonb_array_elements($4::jsonb) AS x`,
    [clusterId, action, requestedBy, JSON.stringify(rows)],
  );
}

export interface PowerEvent {
  id: string;
  cluster: string;
  node: string;
  at: string;
  action: PowerAction;
  granted: boolean;
  reason: string;
  requestedBy: string;
}

export async function listPowerEvents(db: Queryable, clusterId: string, after: string | null, limit: number, node?: string): Promise<PowerEvent[]> {
  return (
    await db.query<PowerEvent>(
      `SELECT id::text AS id, cluster_id AS cluster, node, at, action, granted, reason, requested_by AS "requestedBy" FROM power_events
       WHERE cluster_id = $1 AND id > $2 AND ($4::text IS NULL OR node = $4) ORDER BY power_events.id LIMIT $3`,
      [clusterId, after ?? '0', limit, node ?? null],
    )
  ).rows;
}
