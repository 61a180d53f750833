// Projects: the unit of quota, fair share and budget.
import type { Queryable } from '../db.ts';

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
}

const COLS = `name, weight, quota, budget, price_overrides AS "priceOverrides", policy, weights, max_pending AS "maxPending", created_at AS "createdAt"`;

export type NewProject = Partial<Omit<ProjectRow, 'name' | 'createdAt'>> & { name: string };

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
