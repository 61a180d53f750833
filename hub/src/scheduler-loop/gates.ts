// Gates in front of the scheduler: a queued job reaches runCycle only when its --dependency allows it, and a
// job that names a Slurm partition / nodelist / constraint only sees the Slurm clusters that can honour it.
// Reads the store; the rules themselves are pure (slurm-rules.ts).
import type { JobSpec } from '@meridian/protocol/job-spec';
import type { Queryable } from '../store/db.ts';
import { addEvent } from '../store/repos/jobs.ts';
import type { ClusterRow, NodeRow } from '../store/repos/clusters.ts';
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

const TERMINAL = `('Succeeded', 'Failed', 'Cancelled')`;

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
  if (ids.length) {
    const r = await db.query<{ id: string; state: string; started_ms: number | null }>(
      `SELECT id::text AS id, state, (extract(epoch FROM started_at) * 1000)::float8 AS started_ms FROM jobs WHERE id = ANY($1::bigint[])`,
      [ids],
    );
    for (const p of r.rows) prereqs.set(p.id, { state: p.state, startedMs: p.started_ms });
  }
  const singletonUsers = [...new Set(queued.filter((j) => deps.get(j.id)?.terms.some((t) => t.type === 'singleton')).map((j) => j.user_id ?? '0'))];
  const others: { id: string; user_id: string | null; state: string; sname: string }[] = singletonUsers.length
    ? (
        await db.query(
          `SELECT id::text AS id, user_id::text AS user_id, state, COALESCE(NULLIF(spec->'annotations'->>'slurm.meridian.dev/jobName', ''), name) AS sname
           FROM jobs WHERE state NOT IN ${TERMINAL} AND COALESCE(user_id, 0) = ANY($1::bigint[])`,
          [singletonUsers],
        )
      ).rows
    : [];
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
  if (g.waiting.length)
    await db.query(
      `UPDATE jobs j SET reason = p.reason, reason_code = 'Dependency', eta_sec = NULL
       FROM unnest($1::bigint[], $2::text[]) AS p(id, reason)
       WHERE j.id = p.id AND j.state = 'Queued' AND j.held_at IS NULL AND j.reason_code IS DISTINCT FROM 'Dependency'`,
      [g.waiting.map((w) => w.id), g.waiting.map((w) => w.reason)],
    );
  const ended: string[] = [];
  for (const n of g.never) {
    const r = await db.query<{ attempt: number }>(
      `UPDATE jobs SET state = 'Cancelled', reason = $2, reason_code = 'DependencyNeverSatisfied', eta_sec = NULL, finished_at = now(), updated_at = now()
       WHERE id = $1 AND state = 'Queued' RETURNING attempt`,
      [n.id, n.reason],
    );
    if (!r.rows[0]) continue;
    await addEvent(db, n.id, 'finished', 'Cancelled', r.rows[0].attempt, n.reason);
    ended.push(n.id);
  }
  return ended;
}
