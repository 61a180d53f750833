// Projects: the unit of quota, fair share and budget.
import type { Queryable } from '../db.ts';
import { notifyRevoked } from './revocation.ts';

export interface ProjectRow {
  name: string;
  weight: number;
  quota: { totalGpus?: number; perModel?: Record<string, number> } | null;
  budget: { gpuHours?: number; usd?: number } | null;
  priceOverrides: Record<string, { onDemand: number; spot?: number }>;
  policy: string | null;
  weights: { cost: number; locality: number; inventory: number } | null;
  maxPending: number | null;
  createdAt: string;
  /** Set once archived (DELETE /api/v1/projects/{name}): read-only, memberships no longer grant access. */
  archivedAt: string | null;
}

const COLS = `name, weight, quota, budget, price_overrides AS "priceOverrides", policy, weights, max_pending AS "maxPending", created_at AS "createdAt",
  archived_at AS "archivedAt"`;

export type NewProject = Partial<Omit<ProjectRow, 'name' | 'createdAt' | 'archivedAt'>> & { name: string };

/** The `default` project the job spec falls back to; a no-op when it exists. */
export async function ensureDefaultProject(db: Queryable): Promise<void> {
  await db.query(`INSERT INTO projects (name) VALUES ('default') ON CONFLICT DO NOTHING`);
}

export async function createProject(db: Queryable, p: NewProject): Promise<ProjectRow> {
  const r = await db.query<ProjectRow>(
    `INSERT INTO projects (name, weight, quota, budget, price_overrides, policy, weights, max_pending)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLS}`,
    [p.name, p.weight ?? 1, p.quota ?? null, p.budget ?? null, p.priceOverrides ?? {}, p.policy ?? null, p.weights ?? null, p.maxPending ?? null],
  );
  return r.rows[0]!;
}

export async function updateProject(db: Queryable, name: string, p: Partial<NewProject>): Promise<ProjectRow | undefined> {
  const r = await db.query<ProjectRow>(
    `UPDATE projects SET weight = COALESCE($2, weight), quota = COALESCE($3, quota), budget = COALESCE($4, budget),
       price_overrides = COALESCE($5, price_overrides), policy = COALESCE($6, policy), weights = COALESCE($7, weights),
       max_pending = COALESCE($8, max_pending) WHERE name = $1 RETURNING ${COLS}`,
    [name, p.weight ?? null, p.quota ?? null, p.budget ?? null, p.priceOverrides ?? null, p.policy ?? null, p.weights ?? null, p.maxPending ?? null],
  );
  return r.rows[0];
}

export async function getProject(db: Queryable, name: string): Promise<ProjectRow | undefined> {
  return (await db.query<ProjectRow>(`SELECT ${COLS} FROM projects WHERE name = $1`, [name])).rows[0];
}

export async function listProjects(db: Queryable, only?: string[]): Promise<ProjectRow[]> {
  if (only) return (await db.query<ProjectRow>(`SELECT ${COLS} FROM projects WHERE name = ANY($1) ORDER BY name`, [only])).rows;
  return (await db.query<ProjectRow>(`SELECT ${COLS} FROM projects ORDER BY name`)).rows;
}

/** Spent GPU-hours and dollars per project (from usage records). */
export async function projectSpend(db: Queryable): Promise<Map<string, { gpuHours: number; usd: number }>> {
  const r = await db.query<{ project: string; gpu_hours: number; usd: number }>(
    'SELECT project, sum(gpu_hours)::float8 AS gpu_hours, sum(usd)::float8 AS usd FROM usage_records GROUP BY project',
  );
  return new Map(r.rows.map((x) => [x.project, { gpuHours: x.gpu_hours, usd: x.usd }]));
}

/**
 * Archives the project unless it still has jobs that are not final; undefined = no such project. The row lock
 * makes a submit racing this wait (see migration 008), so no job slips in after the count.
 */
export async function archiveProject(db: Queryable, name: string): Promise<{ archived: 'now' | 'already' } | { liveJobs: number } | undefined> {
  const p = await db.query<{ archived: boolean }>('SELECT archived_at IS NOT NULL AS archived FROM projects WHERE name = $1 FOR UPDATE', [name]);
  if (!p.rows[0]) return undefined;
  if (p.rows[0].archived) return { archived: 'already' };
  const live = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE project = $1 AND state NOT IN ('Succeeded', 'Failed', 'Cancelled')`, [name]);
  if (live.rows[0]!.n > 0) return { liveJobs: live.rows[0]!.n };
  await db.query('UPDATE projects SET archived_at = now() WHERE name = $1', [name]);
  // members' open event streams of this project end now, on every hub
  await notifyRevoked(db, { kind: 'project', name });
  return { archived: 'now' };
}
