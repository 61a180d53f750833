// Member clusters (agent credential hashed) and their node / GPU snapshots.
import type { NodeInfo } from '@meridian/protocol/agent-protocol';
import type { Queryable } from '../db.ts';
import { newSecret, sha256 } from '../hash.ts';
import { notifyRevoked, REVOKE_CHANNEL } from './revocation.ts';

export type ClusterStatus = 'new' | 'connected' | 'disconnected' | 'lost';

export interface ClusterRow {
  id: string;
  region: string;
  kind: 'kubernetes' | 'slurm';
  prices: Record<string, { onDemand: number; spot?: number }>;
  links: { region: string; bandwidthBytesPerSec: number; egressUsdPerGB: number }[];
  status: ClusterStatus;
  lastSeenAt: string | null;
  agentVersion: string | null;
  createdAt: string;
  /** Set once the cluster is archived (DELETE /api/v1/clusters/{id}): no credential, no placements. */
  archivedAt: string | null;
}

const COLS = `id, region, kind, prices, links, status, last_seen_at AS "lastSeenAt", agent_version AS "agentVersion", created_at AS "createdAt",
  archived_at AS "archivedAt"`;

export type NewCluster = Pick<ClusterRow, 'id' | 'region' | 'kind'> & Partial<Pick<ClusterRow, 'prices' | 'links'>>;

/** Creates the cluster and returns its agent credential in plain text (shown once). */
export async function createCluster(db: Queryable, c: NewCluster): Promise<{ cluster: ClusterRow; credential: string }> {
  const credential = newSecret('mrc');
  const r = await db.query<ClusterRow>(
    `INSERT INTO clusters (id, region, kind, prices, links, credential_hash) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLS}`,
    [c.id, c.region, c.kind, JSON.stringify(c.prices ?? {}), JSON.stringify(c.links ?? []), sha256(credential)],
  );
  await db.query('INSERT INTO agent_streams (cluster_id) VALUES ($1)', [c.id]);
  await db.query('INSERT INTO agent_command_counters (cluster_id) VALUES ($1)', [c.id]);
  return { cluster: r.rows[0]!, credential };
}

/**
 * A new credential for the cluster; the old one stops working, and the same statement notifies every hub to
 * close the sessions it opened. Archived clusters get none (undefined, as for an unknown cluster).
 */
export async function rotateClusterCredential(db: Queryable, id: string): Promise<string | undefined> {
  const credential = newSecret('mrc');
  const r = await db.query(
    `WITH c AS (UPDATE clusters SET credential_hash = $2 WHERE id = $1 AND archived_at IS NULL RETURNING id)
     SELECT pg_notify($3, json_build_object('kind', 'cluster', 'id', c.id)::text) FROM c`,
    [id, sha256(credential), REVOKE_CHANNEL],
  );
  return (r.rowCount ?? 0) > 0 ? credential : undefined;
}

export async function clusterForCredential(db: Queryable, plain: string): Promise<ClusterRow | undefined> {
  return (await db.query<ClusterRow>(`SELECT ${COLS} FROM clusters WHERE credential_hash = $1 AND archived_at IS NULL`, [sha256(plain)])).rows[0];
}

/** Why the cluster cannot be archived yet: its live jobs and the nodes not cordoned; undefined = no such cluster. */
export async function clusterDrainState(db: Queryable, id: string): Promise<{ archived: boolean; liveJobs: number; uncordoned: string[] } | undefined> {
  // FOR UPDATE: the archive that follows in this transaction sees the state it checked
  const c = await db.query<{ archived: boolean }>('SELECT archived_at IS NOT NULL AS archived FROM clusters WHERE id = $1 FOR UPDATE', [id]);
  if (!c.rows[0]) return undefined;
  const jobs = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE cluster_id = $1 AND state NOT IN ('Succeeded', 'Failed', 'Cancelled')`, [id]);
  const nodes = await db.query<{ name: string }>(`SELECT name FROM nodes WHERE cluster_id = $1 AND NOT coalesce((info->>'unschedulable')::boolean, false) ORDER BY name`, [id]);
  return { archived: c.rows[0].archived, liveJobs: jobs.rows[0]!.n, uncordoned: nodes.rows.map((x) => x.name) };
}

/**
 * Archives the cluster: its credential is replaced by one nobody holds (open sessions are told through
 * REVOKE_CHANNEL and closed), its node snapshot is dropped, and the scheduler no longer sees it.
 */
export async function archiveCluster(db: Queryable, id: string): Promise<void> {
  await db.query(`UPDATE clusters SET archived_at = now(), credential_hash = $2, status = 'disconnected' WHERE id = $1`, [id, sha256(newSecret('mrc'))]);
  await db.query('DELETE FROM nodes WHERE cluster_id = $1', [id]);
  await notifyRevoked(db, { kind: 'cluster', id });
}

export async function getCluster(db: Queryable, id: string): Promise<ClusterRow | undefined> {
  return (await db.query<ClusterRow>(`SELECT ${COLS} FROM clusters WHERE id = $1`, [id])).rows[0];
}

export async function listClusters(db: Queryable): Promise<ClusterRow[]> {
  return (await db.query<ClusterRow>(`SELECT ${COLS} FROM clusters ORDER BY id`)).rows;
}

export async function setClusterStatus(db: Queryable, id: string, status: ClusterStatus, agentVersion?: string): Promise<void> {
  await db.query('UPDATE clusters SET status = $2, last_seen_at = now(), agent_version = COALESCE($3, agent_version) WHERE id = $1', [
    id,
    status,
    agentVersion ?? null,
  ]);
}

export async function touchCluster(db: Queryable, id: string): Promise<void> {
  await db.query(`UPDATE clusters SET last_seen_at = now(), status = 'connected' WHERE id = $1`, [id]);
}

/** Clusters whose agent has been silent past the timeout; marks them lost and returns their ids. */
export async function markLostClusters(db: Queryable, timeoutMs: number): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    `UPDATE clusters SET status = 'lost' WHERE status IN ('connected', 'disconnected') AND archived_at IS NULL
       AND last_seen_at < now() - ($1::double precision * interval '1 millisecond') RETURNING id`,
    [timeoutMs],
  );
  return r.rows.map((x) => x.id);
}

// ---------- nodes ----------
export async function replaceNodes(db: Queryable, clusterId: string, nodes: NodeInfo[]): Promise<void> {
  await db.query('DELETE FROM nodes WHERE cluster_id = $1 AND NOT (name = ANY($2))', [clusterId, nodes.map((n) => n.name)]);
  await upsertNodes(db, clusterId, nodes);
}

export async function upsertNodes(db: Queryable, clusterId: string, nodes: NodeInfo[]): Promise<void> {
  if (nodes.length === 0) return;
  await db.query(
    `INSERT INTO nodes (cluster_id, name, info, updated_at)
     SELECT $1, x->>'name', x, now() FROM jsonb_array_elements($2::jsonb) AS x
     ON CONFLICT (cluster_id, name) DO UPDATE SET info = EXCLUDED.info, updated_at = now()`,
    [clusterId, JSON.stringify(nodes)],
  );
}

export async function deleteNodes(db: Queryable, clusterId: string, names: string[]): Promise<void> {
  if (names.length) await db.query('DELETE FROM nodes WHERE cluster_id = $1 AND name = ANY($2)', [clusterId, names]);
}

export interface NodeRow {
  clusterId: string;
  name: string;
  info: NodeInfo;
  updatedAt: string;
}

export async function listNodes(db: Queryable, clusterId?: string): Promise<NodeRow[]> {
  const r = await db.query<NodeRow>(
    `SELECT cluster_id AS "clusterId", name, info, updated_at AS "updatedAt" FROM nodes
     WHERE ($1::text IS NULL OR cluster_id = $1) ORDER BY cluster_id, name`,
    [clusterId ?? null],
  );
  return r.rows;
}

/** Every partition the Slurm clusters' nodes report (label `slurm.meridian.dev/partitions`). */
export async function slurmPartitions(db: Queryable): Promise<Set<string>> {
  const r = await db.query<{ p: string }>(
    `SELECT DISTINCT p FROM nodes n JOIN clusters c ON c.id = n.cluster_id AND c.kind = 'slurm',
       unnest(string_to_array(n.info->'labels'->>'slurm.meridian.dev/partitions', ',')) AS p WHERE p <> ''`,
  );
  return new Set(r.rows.map((x) => x.p));
}
