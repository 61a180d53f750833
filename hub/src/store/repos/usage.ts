// Usage and billing records: one per job attempt that ran.
import type { Queryable } from '../db.ts';

export interface UsageRow {
  jobId: string;
  attempt: number;
  project: string;
  cluster: string | null;
  gpuModel: string | null;
  gpus: number;
  gpuHours: number;
  usd: number;
  startedAt: string | null;
  finishedAt: string | null;
}

export async function listUsage(db: Queryable, f: { project?: string; jobId?: string; projects: string[] | null }): Promise<UsageRow[]> {
  return (
    await db.query<UsageRow>(
      `SELECT job_id::text AS "jobId", attempt, project, cluster_id AS cluster, gpu_model AS "gpuModel", gpus, gpu_hours AS "gpuHours",
         usd, started_at AS "startedAt", finished_at AS "finishedAt" FROM usage_records
       WHERE ($1::text IS NULL OR project = $1) AND ($2::bigint IS NULL OR job_id = $2) AND ($3::text[] IS NULL OR project = ANY($3))
       ORDER BY id`,
      [f.project ?? null, f.jobId ?? null, f.projects],
    )
  ).rows;
}

export async function usageSummary(db: Queryable, projects: string[] | null): Promise<{ project: string; gpuHours: number; usd: number; jobs: number }[]> {
  return (
    await db.query(
      `SELECT project, sum(gpu_hours)::float8 AS "gpuHours", sum(usd)::float8 AS usd, count(DISTINCT job_id)::int AS jobs
       FROM usage_records WHERE ($1::text[] IS NULL OR project = ANY($1)) GROUP BY project ORDER BY project`,
      [projects],
    )
  ).rows;
}
