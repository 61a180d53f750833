// Job views for one caller: the job's environment is shown to its owner and to hub admins only (as Slurm shows
// a job's environment to its owner), opened from its sealed row; everyone else gets `envHidden: true`.
import type { JobView } from '@meridian/protocol/job-view';
import { readJobEnvs } from '../store/repos/job-env.ts';
import type { JobEnv } from '../store/repos/job-env.ts';
import type { AgentTask, JobRow } from '../store/repos/jobs.ts';
import type { Principal } from '../store/repos/users.ts';
import type { ApiContext } from './context.ts';
import { jobView } from './views.ts';

const NONE: JobEnv = { env: {}, secrets: {} };

export function mayReadEnv(p: Principal, j: Pick<JobRow, 'user'>): boolean {
  return p.isAdmin || (j.user !== null && j.user === p.name);
}

/** A job's log may print its environment: the owner and hub admins (as for the environment) and project admins. */
export function mayReadLogs(p: Principal, j: Pick<JobRow, 'user' | 'project'>): boolean {
  return mayReadEnv(p, j) || p.roles[j.project] === 'admin';
}

export async function jobViewsFor(ctx: Pick<ApiContext, 'pool' | 'keyring'>, p: Principal, rows: JobRow[], tasks: Map<string, AgentTask[]> = new Map()): Promise<JobView[]> {
  const readable = rows.filter((j) => mayReadEnv(p, j)).map((j) => j.id);
  const envs = await readJobEnvs(ctx.pool, ctx.keyring, readable);
  const ok = new Set(readable);
  return rows.map((j) => jobView(j, tasks.get(j.id), ok.has(j.id) ? (envs.get(j.id) ?? NONE) : undefined));
}

export async function jobViewFor(ctx: Pick<ApiContext, 'pool' | 'keyring'>, p: Principal, row: JobRow, tasks?: AgentTask[]): Promise<JobView> {
  return (await jobViewsFor(ctx, p, [row], new Map(tasks ? [[row.id, tasks]] : [])))[0]!;
}
