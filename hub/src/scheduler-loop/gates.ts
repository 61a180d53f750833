// Gates in front of the scheduler: a queued job reaches runCycle only when its --dependency allows it, and a
// job that names a Slurm partition / nodelist / constraint only sees the Slurm clusters that can honour it.
// Reads the store; the rules themselves are pure (slurm-rules.ts).
import type { JobSpec } from '@meridian/protocol/job-spec';
import type { Queryable } from '../store/db.ts';
import type { ClusterRow, NodeRow } from '../store/repos/clusters.ts';
import { cancelNeverSatisfiable, setPendingReasons } from '../store/repos/lifecycle.ts';
import { prerequisiteStates, unfinishedJobsOfUsers } from '../store/repos/scheduling.ts';
import { dependencyJobIds, eligibleClusters, evaluateDependency, parseDependency, singletonName, slurmAnnotation, type ClusterNodes, type PrereqState } from './slurm-rules.ts';

export interface GatedRow {
  id: string;
  user_id: string | null;
  spec: JobSpec;
}

export interface GateResult {
  /** Job id → the clusters it may be placed on (only jobs with a Slurm-only request). */
  restrict: Map<string, string[]>;
  /** Jobs kept out of this cycle, still Queued, with reason Dependency. */
  waiting: { id: string; reason: string }[];
  /** Jobs whose dependency can never be satisfied: the loop cancels them. */
  never: { id: string; reason: string }[];
}

export function clusterNodes(clusters: Pick<ClusterRow, 'id' | 'kind'>[], nodes: Pick<NodeRow, 'clusterId' | 'name' | 'info'>[]): ClusterNodes[] {
  return clusters.map((c) => ({ id: c.id, kind: c.kind, nodes: nodes.filter((n) => n.clusterId === c.id).map((n) => ({ name: n.name, labels: n.info.labels ?? {} })) }));
}

export async function gateQueued(db: Queryable, queued: GatedRow[], clusters: ClusterNodes[], now: number): Promise<GateResult> {
  const out: GateResult = { restrict: new Map(), waiting: [], never: [] };
  const deps = new Map<string, ReturnType<typeof parseDependency>>();
  for (const j of queued) {
    const text = slurmAnnotation(j.spec, 'dependency');
    if (!text) continue;
    try {
      deps.set(j.id, parseDependency(text));
    } catch (err) {
      out.never.push({ id: j.id, reason: `DependencyNeverSatisfied: ${(err as Error).message}` });
    }
  }
  const ids = [...new Set([...deps.values()].flatMap(dependencyJobIds))];
  const prereqs = new Map<string, PrereqState>();
  if (ids.length) for (const p of await prerequisiteStates(db, ids)) prereqs.set(p.id, { state: p.state, startedMs: p.started_ms });
  const singletonUsers = [...new Set(queued.filter((j) => deps.get(j.id)?.terms.some((t) => t.type === 'singleton')).map((j) => j.user_id ?? '0'))];
  const others = singletonUsers.length ? await unfinishedJobsOfUsers(db, singletonUsers) : [];
  const queuedIds = new Set(queued.map((j) => j.id));
  for (const j of queued) {
    const d = deps.get(j.id);
    if (d) {
      const name = singletonName(j.spec);
      // Singleton: another unfinished job of the same user and name that started, or was submitted earlier, goes first.
      const busy = others.some((o) => o.id !== j.id && o.user_id === j.user_id && o.sname === name && (o.state !== 'Queued' || !queuedIds.has(o.id) || Number(o.id) < Number(j.id)));
      const v = evaluateDependency(d, (id) => prereqs.get(id), busy, now);
      if (v === 'wait') {
        out.waiting.push({ id: j.id, reason: `waiting for its dependency ${slurmAnnotation(j.spec, 'dependency')}` });
        continue;
      }
      if (v === 'never') {
        out.never.push({ id: j.id, reason: `DependencyNeverSatisfied: ${slurmAnnotation(j.spec, 'dependency')} can no longer be satisfied` });
        continue;
      }
    }
    const eligible = eligibleClusters(j.spec, clusters);
    if (eligible) out.restrict.set(j.id, eligible);
  }
  return out;
}

/** Writes a gate result: waiting jobs get reason Dependency; never-satisfiable ones end Cancelled. Returns the ended ids. */
export async function applyGates(db: Queryable, g: Pick<GateResult, 'waiting' | 'never'>): Promise<string[]> {
  await setPendingReasons(db, g.waiting.map((w) => ({ jobId: w.id, code: 'Dependency', reason: w.reason, etaSec: null })), { keepSameCode: true });
  const ended: string[] = [];
  for (const n of g.never) if (await cancelNeverSatisfiable(db, n.id, n.reason)) ended.push(n.id);
  return ended;
}
