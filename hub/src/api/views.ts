// API views of store rows (what clients see).
import type { JobRow } from '../store/repos/jobs.ts';

export function jobView(j: JobRow): Record<string, unknown> {
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
    clusterJobId: j.clusterJobId,
    submittedAt: j.submittedAt,
    placedAt: j.placedAt,
    dispatchedAt: j.dispatchedAt,
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
    placement: j.placement,
    spec: j.spec,
  };
}

export function page<T extends { id: string }>(items: T[], limit: number): { items: T[]; nextCursor: string | null } {
  return { items, nextCursor: items.length === limit ? items[items.length - 1]!.id : null };
}
