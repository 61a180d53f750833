// API views of store rows (what clients see).
import { defaultOutputPattern, expandSlurmPattern, inWorkDir } from '@meridian/protocol/slurm/patterns';
import type { JobEnv } from '../store/repos/job-env.ts';
import type { AgentTask, JobRow } from '../store/repos/jobs.ts';
import type { JobView, SlurmJobView } from '@meridian/protocol/job-view';
import { slurmAnnotation, type SlurmAnnotationKey } from '@meridian/protocol/slurm/annotations';

/** Node of each task: as the cluster reported them, else the hub's placement. */
function taskNodes(j: JobRow, tasks: AgentTask[]): string[] {
  const reported = tasks.map((t) => t.node ?? '').filter(Boolean);
  if (reported.length) return reported;
  const placed = Array.isArray(j.placement) ? (j.placement as { node?: string }[]) : [];
  return placed.map((t) => t.node ?? '').filter(Boolean);
}

/** What squeue / scontrol / sacct print besides the lifecycle: Slurm's names for the job's settings. */
export function slurmView(j: JobRow, tasks: AgentTask[] = []): SlurmJobView {
  const a = (k: SlurmAnnotationKey): string | undefined => slurmAnnotation(j.spec.annotations, k);
  const isArray = a('array') !== undefined;
  const workDir = a('workDir') ?? null;
  const nodes = taskNodes(j, tasks);
  // Slurm's ExitCode=code:signal: the signal of the task that set the exit code (the first failed one).
  const failed = tasks.find((t) => t.phase === 'Failed' && (t.signal || t.exitCode)) ?? tasks.find((t) => t.signal);
  const values = { j: j.id, J: j.id, A: j.id, u: a('submitUser') ?? j.user ?? '', x: a('jobName') ?? j.name, n: '0', t: '0', s: 'batch', ...(nodes[0] ? { N: nodes[0] } : {}) };
  const out = a('output') ?? defaultOutputPattern(isArray);
  const limitMin = a('timeLimitMin');
  return {
    jobName: a('jobName') ?? j.name,
    partition: a('partition') ?? j.cluster,
    workDir,
    stdOut: inWorkDir(expandSlurmPattern(out, values), workDir ?? undefined),
    stdErr: inWorkDir(expandSlurmPattern(a('error') ?? out, values), workDir ?? undefined),
    timeLimitSec: limitMin !== undefined && /^\d+$/.test(limitMin) ? Number(limitMin) * 60 : j.spec.maxRuntime,
    nodes,
    exitSignal: failed?.signal ?? null,
    dependency: a('dependency') ?? null,
    array: a('array') ?? null,
    // Per-task state as the cluster reports it (array jobs: one per array index; squeue -r and sacct rows).
    tasks: tasks.map((t) => ({ index: t.index, state: t.phase, node: t.node ?? null, exitCode: t.exitCode ?? null, signal: t.signal ?? null })),
  };
}

/**
 * `env`: the job's opened environment when the caller may read it (its owner, hub admins: api/job-views.ts);
 * absent, the view hides it. Secret values never enter a view, only their names.
 */
export function jobView(j: JobRow, tasks: AgentTask[] = [], env?: JobEnv): JobView {
  // The stored spec holds neither (job-env.ts); taken out again so no row can carry them into an answer.
  const { env: _env, secrets: _secrets, ...workload } = j.spec.workload;
  const spec = { ...j.spec, workload: env && Object.keys(env.env).length ? { ...workload, env: env.env } : workload };
  return {
    id: j.id,
    name: j.name,
    project: j.project,
    user: j.user,
    tier: j.tier,
    priority: j.priority,
    state: j.state,
    attempt: j.attempt,
    cluster: j.cluster,
    gpuModel: j.gpuModel,
    reason: j.reason,
    reasonCode: j.reasonCode,
    etaSec: j.etaSec,
    exitCode: j.exitCode,
    estimatedUsd: j.estimatedUsd,
    cancelRequested: j.cancelRequested,
    held: j.held,
    clusterJobId: j.clusterJobId,
    submittedAt: j.submittedAt,
    placedAt: j.placedAt,
    dispatchedAt: j.dispatchedAt,
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
    placement: j.placement,
    slurm: slurmView(j, tasks),
    spec,
    envHidden: env === undefined,
    secretNames: env ? Object.keys(env.secrets).sort() : [],
  };
}

export function page<T extends { id: string }>(items: T[], limit: number): { items: T[]; nextCursor: string | null } {
  return { items, nextCursor: items.length === limit ? items[items.length - 1]!.id : null };
}
