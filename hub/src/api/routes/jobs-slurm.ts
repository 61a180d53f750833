// Slurm semantics of job submit and hold/release at the hub: sbatch's own refusals (unknown partition,
// dependency problems), `sbatch --hold` submitting held, and hold/release of a job already pending on Slurm.
import type { JobSpec } from '@meridian/protocol/job-spec';
import { SLURM_ANNOTATION_PREFIX } from '@meridian/protocol/slurm/annotations';
import { dependencyJobIds, parseDependency, slurmAnnotation } from '../../scheduler-loop/slurm-rules.ts';
import { tx } from '../../store/db.ts';
import { commandResult, enqueueCommand } from '../../store/repos/agent-stream.ts';
import { getCluster, slurmPartitions } from '../../store/repos/clusters.ts';
import { jobProjects } from '../../store/repos/jobs.ts';
import type { JobRow } from '../../store/repos/jobs.ts';
import type { Principal } from '../../store/repos/users.ts';
import { hasRole } from '../auth.ts';
import type { ApiContext } from '../context.ts';
import { ApiError, conflict } from '../errors.ts';

/** Error codes whose message is Slurm's own text (the login-node sbatch prints it as sbatch would). */
export const SLURM_TEXT_CODES = ['invalid_partition', 'dependency_problem'] as const;

const field = (key: string) => `annotations.${SLURM_ANNOTATION_PREFIX}${key}`;

/**
 * Checks a submitted spec against the federation and returns what to store: the spec without the hold
 * annotation (a hold lives in the job row, so a release is final) and whether the job starts held.
 */
export async function slurmSubmit(ctx: ApiContext, principal: Principal, spec: JobSpec): Promise<{ spec: JobSpec; held: boolean }> {
  const partition = slurmAnnotation(spec, 'partition');
  if (partition) {
    const known = await slurmPartitions(ctx.pool);
    if (!partition.split(',').some((p) => known.has(p)))
      throw new ApiError(400, 'invalid_partition', 'Invalid partition name specified', [
        { path: field('partition'), message: `no Slurm cluster in the federation has partition "${partition}"; use one of: ${[...known].sort().join(', ') || '(no Slurm cluster has reported its partitions yet)'}` },
      ]);
  }
  const dep = slurmAnnotation(spec, 'dependency');
  if (dep) {
    let ids: string[];
    try {
      ids = dependencyJobIds(parseDependency(dep));
    } catch (err) {
      throw new ApiError(400, 'dependency_problem', 'Job dependency problem', [{ path: field('dependency'), message: (err as Error).message }]);
    }
    if (ids.length) {
      const seen = new Set((await jobProjects(ctx.pool, ids)).filter((x) => hasRole(principal, x.project, 'viewer')).map((x) => x.id));
      const missing = ids.filter((id) => !seen.has(id));
      if (missing.length)
        throw new ApiError(400, 'dependency_problem', 'Job dependency problem', [
          { path: field('dependency'), message: `no job ${missing.join(', ')} that you can see; dependencies name Meridian job ids (squeue lists them)` },
        ]);
    }
  }
  const holdKey = `${SLURM_ANNOTATION_PREFIX}hold`;
  const held = spec.annotations[holdKey] === 'true';
  if (spec.annotations[holdKey] === undefined) return { spec, held };
  const annotations = Object.fromEntries(Object.entries(spec.annotations).filter(([k]) => k !== holdKey));
  return { spec: { ...spec, annotations }, held };
}

/**
 * Forwards a hold / release to the Slurm cluster a job was dispatched to and waits for the agent's answer.
 * A job that already runs, or sits on a Kubernetes cluster, cannot be held: 409 with the reason.
 */
export async function clusterHold(ctx: ApiContext, j: JobRow, kind: 'hold' | 'release'): Promise<void> {
  if (j.state !== 'Dispatched' || !j.cluster) throw conflict(kind === 'hold' ? `Job is no longer pending execution: job ${j.id} is ${j.state}` : `job ${j.id} is not held (${j.state})`);
  const cluster = await getCluster(ctx.pool, j.cluster);
  if (cluster?.kind !== 'slurm')
    throw conflict(`Job is no longer pending execution: job ${j.id} was dispatched to Kubernetes cluster ${j.cluster}; only Queued jobs and jobs pending on a Slurm cluster can be held`);
  const clusterId = j.cluster;
  const seq = await tx(ctx.pool, (c) => enqueueCommand(c, clusterId, { kind, jobId: j.id, attempt: j.attempt }));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const res = (await commandResult(ctx.pool, clusterId, seq)) as { ok: boolean; error?: string } | null;
    if (res) {
      if (!res.ok) throw conflict(res.error ?? `cluster ${clusterId} refused the ${kind}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new ApiError(504, 'agent_timeout', `cluster ${clusterId} did not answer the ${kind} within 10s${ctx.gateway.connected(clusterId) ? '' : ' (its agent is not connected)'}`);
}
