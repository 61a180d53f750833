// The dataset registry: datasets with their size and home, and per-cluster cache state (cached, prewarming with
// progress, failed with the reason). The scheduler reads it each cycle; prewarm commands and agent reports write it.
import type { Queryable } from '../db.ts';

export type CacheState = 'cached' | 'prewarming' | 'failed';

export interface CacheRow {
  clusterId: string;
  state: CacheState;
  percent: number;
  reason: string | null;
  updatedAt: string;
}

export interface DatasetRow {
  name: string;
  sizeBytes: number;
  homeRegion: string;
  homeCluster: string | null;
  createdAt: string;
  updatedAt: string;
  caches: CacheRow[];
}

export interface NewDataset {
  name: string;
  sizeBytes: number;
  homeRegion: string;
  homeCluster: string | null;
}

const COLS = `d.name, d.size_bytes::float8 AS "sizeBytes", d.home_region AS "homeRegion", d.home_cluster AS "homeCluster",
  d.created_at AS "createdAt", d.updated_at AS "updatedAt",
  COALESCE((SELECT jsonb_agg(jsonb_build_object('clusterId', c.cluster_id, 'state', c.state, 'percent', c.percent, 'reason', c.reason, 'updatedAt', c.updated_at)
    ORDER BY c.cluster_id) FROM dataset_caches c WHERE c.dataset = d.name), '[]'::jsonb) AS caches`;

type Raw = Omit<DatasetRow, 'createdAt' | 'updatedAt'> & { createdAt: Date; updatedAt: Date };
const toRow = (r: Raw): DatasetRow => ({ ...r, createdAt: r.createdAt.toISOString(), updatedAt: r.updatedAt.toISOString() });

/** Registers or updates a dataset; its home cluster (when given) counts as a warm cache. Returns whether it was new. */
export async function upsertDataset(db: Queryable, d: NewDataset): Promise<boolean> {
  const r = await db.query<{ inserted: boolean }>(
    `INSERT INTO datasets (name, size_bytes, home_region, home_cluster) VALUES ($1, $2, $3, $4)
     ON CONFLICT (name) DO UPDATE SET size_bytes = $2, home_region = $3, home_cluster = $4, updated_at = now()
     RETURNING (xmax = 0) AS inserted`,
    [d.name, d.sizeBytes, d.homeRegion, d.homeCluster],
  );
  if (d.homeCluster) await setCache(db, d.name, d.homeCluster, 'cached', 100, null);
  return r.rows[0]?.inserted ?? false;
}

export async function getDataset(db: Queryable, name: string): Promise<DatasetRow | undefined> {
  const r = await db.query<Raw>(`SELECT ${COLS} FROM datasets d WHERE d.name = $1`, [name]);
  return r.rows[0] ? toRow(r.rows[0]) : undefined;
}

/** Datasets by name, optionally only those with a cache row on `cluster`. */
export async function listDatasets(db: Queryable, o: { cluster?: string; after?: string; limit: number }): Promise<DatasetRow[]> {
  const r = await db.query<Raw>(
    `SELECT ${COLS} FROM datasets d
     WHERE ($1::text IS NULL OR EXISTS (SELECT 1 FROM dataset_caches c WHERE c.dataset = d.name AND c.cluster_id = $1))
       AND ($2::text IS NULL OR d.name > $2)
     ORDER BY d.name LIMIT $3`,
    [o.cluster ?? null, o.after ?? null, o.limit],
  );
  return r.rows.map(toRow);
}

export async function setCache(db: Queryable, dataset: string, clusterId: string, state: CacheState, percent: number, reason: string | null): Promise<void> {
  await db.query(
    `INSERT INTO dataset_caches (dataset, cluster_id, state, percent, reason) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (dataset, cluster_id) DO UPDATE SET state = $3, percent = $4, reason = $5, updated_at = now()`,
    [dataset, clusterId, state, percent, reason],
  );
}

export async function deleteCache(db: Queryable, dataset: string, clusterId: string): Promise<boolean> {
  const r = await db.query('DELETE FROM dataset_caches WHERE dataset = $1 AND cluster_id = $2', [dataset, clusterId]);
  return (r.rowCount ?? 0) > 0;
}

/**
 * Claims a copy of `dataset` to `clusterId`: true when no copy is cached or in flight there. A failed copy may be
 * retried after `retryAfterSec`; a copy silent for `staleAfterSec` is asked for again (the agent adopts its running
 * copy and reports anew, e.g. after an agent restart), keeping its progress. A second claim meanwhile answers false.
 */
export async function claimPrewarm(db: Queryable, dataset: string, clusterId: string, retryAfterSec: number, staleAfterSec: number): Promise<boolean> {
  const r = await db.query(
    `INSERT INTO dataset_caches AS c (dataset, cluster_id, state, percent) VALUES ($1, $2, 'prewarming', 0)
     ON CONFLICT (dataset, cluster_id) DO UPDATE
       SET state = 'prewarming', percent = CASE WHEN c.state = 'failed' THEN 0 ELSE c.percent END, reason = NULL, command_seq = NULL, updated_at = now()
       WHERE (c.state = 'failed' AND c.updated_at < now() - make_interval(secs => $3))
          OR (c.state = 'prewarming' AND c.updated_at < now() - make_interval(secs => $4))
     RETURNING 1`,
    [dataset, clusterId, retryAfterSec, staleAfterSec],
  );
  return (r.rowCount ?? 0) > 0;
}

export async function setPrewarmCommand(db: Queryable, dataset: string, clusterId: string, seq: number): Promise<void> {
  await db.query('UPDATE dataset_caches SET command_seq = $3 WHERE dataset = $1 AND cluster_id = $2', [dataset, clusterId, seq]);
}

/** Applies an agent's progress report; a copy the hub no longer tracks (row deleted) is ignored. */
export async function recordPrewarmStatus(db: Queryable, clusterId: string, s: { dataset: string; phase: 'Running' | 'Succeeded' | 'Failed'; percent: number; reason?: string | undefined }): Promise<void> {
  const state: CacheState = s.phase === 'Succeeded' ? 'cached' : s.phase === 'Failed' ? 'failed' : 'prewarming';
  const percent = s.phase === 'Succeeded' ? 100 : Math.min(100, Math.max(0, s.percent));
  await db.query(
    `UPDATE dataset_caches SET state = $3, percent = $4, reason = $5, updated_at = now()
     WHERE dataset = $1 AND cluster_id = $2 AND NOT (state = 'cached' AND $3 <> 'cached')`,
    [s.dataset, clusterId, state, percent, s.phase === 'Failed' ? (s.reason ?? 'copy failed') : null],
  );
}

/** Copies the cluster refused outright (the command's result is not ok): failed, with the cluster's words. */
export async function failRefusedPrewarms(db: Queryable): Promise<number> {
  const r = await db.query(
    `UPDATE dataset_caches d SET state = 'failed', reason = COALESCE(a.result->>'error', 'the cluster refused the prewarm'), updated_at = now()
     FROM agent_commands a
     WHERE d.state = 'prewarming' AND a.cluster_id = d.cluster_id AND a.seq = d.command_seq AND a.result IS NOT NULL AND (a.result->>'ok')::boolean IS FALSE`,
  );
  return r.rowCount ?? 0;
}

/** Every cache row, for building the scheduler's input. */
export async function allCaches(db: Queryable): Promise<{ name: string; sizeBytes: number; homeRegion: string; clusterId: string | null; state: CacheState | null; percent: number | null }[]> {
  const r = await db.query<{ name: string; sizeBytes: number; homeRegion: string; clusterId: string | null; state: CacheState | null; percent: number | null }>(
    `SELECT d.name, d.size_bytes::float8 AS "sizeBytes", d.home_region AS "homeRegion", c.cluster_id AS "clusterId", c.state, c.percent
     FROM datasets d LEFT JOIN dataset_caches c ON c.dataset = d.name`,
  );
  return r.rows;
}

export interface CacheFact {
  name: string;
  sizeBytes: number;
  homeRegion: string;
  clusterId: string | null;
  state: CacheState | null;
  percent: number | null;
}

/** Registry rows (one per dataset × cache) for the named datasets. */
export async function cacheFacts(db: Queryable, names: string[]): Promise<CacheFact[]> {
  if (names.length === 0) return [];
  const r = await db.query<CacheFact>(
    `SELECT d.name, d.size_bytes::float8 AS "sizeBytes", d.home_region AS "homeRegion", c.cluster_id AS "clusterId", c.state, c.percent
     FROM datasets d LEFT JOIN dataset_caches c ON c.dataset = d.name WHERE d.name = ANY($1::text[])`,
    [names],
  );
  return r.rows;
}

/** The dataset's size as text (bigint), undefined when it is not registered. */
export async function datasetSize(db: Queryable, name: string): Promise<string | undefined> {
  const size = await db.query<{ s: string }>('SELECT size_bytes::text AS s FROM datasets WHERE name = $1', [name]);
  return size.rows[0]?.s;
}
