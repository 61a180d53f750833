// Static filters: which (cluster, GPU model) targets could ever run a job, before looking at free
// capacity. A job with no target gets a pending reason that says exactly which constraint ruled
// everything out, rather than waiting forever.
import type { JobSpec, ReasonCode } from './model.ts';
import type { TaskShape } from './workload.ts';
import type { ClusterState, ModelIndex, Snapshot } from './snapshot.ts';
import { tieKeyOf } from './target.ts';
import type { Target } from './target.ts';

/**
 * The one Target object of a (cluster, GPU model), shared by every constraint set: nothing cached on it
 * depends on more than the target itself.
 */
function targetOf(cluster: ClusterState, mi: ModelIndex): Target {
  let t = mi.target as Target | undefined;
  if (!t) mi.target = t = { cluster, model: mi.model, mi, tieKey: tieKeyOf(cluster, mi.model), poolTieKey: tieKeyOf(cluster, null) };
  return t;
}

export type FilterResult = { ok: true; targets: Target[] } | { ok: false; code: ReasonCode; reason: string };

const list = (xs: readonly string[]): string => `[${xs.join(', ')}]`;

export function eligibleTargets(snap: Snapshot, job: JobSpec, shape: TaskShape): FilterResult {
  const clusters = snap.clusters.filter(
    (c) => (!job.regions?.length || job.regions.includes(c.region)) && (!job.clusters?.length || job.clusters.includes(c.id)),
  );
  const where = job.regions?.length ? `in regions ${list(job.regions)}` : job.clusters?.length ? `in clusters ${list(job.clusters)}` : 'in the federation';
  if (clusters.length === 0)
    return { ok: false, code: 'NoClusterAllowed', reason: `NoClusterAllowed(no member cluster ${where})` };

  // CPU-only targets are per constraint set: their cached aggregates depend on the allowed models.
  if (shape.gpus === 0 && shape.milli === 0)
    return { ok: true, targets: clusters.map((cluster) => ({ cluster, model: null, tieKey: tieKeyOf(cluster, null), poolTieKey: tieKeyOf(cluster, null) })) };

  const targets: Target[] = [];
  for (const cluster of clusters)
    for (const [model, mi] of cluster.models)
      if (model !== '' && (shape.models === null || shape.models.has(model)) && mi.totalHealthy > 0)
        targets.push(targetOf(cluster, mi));
  const wanted = shape.models ? [...shape.models].join('|') : 'any GPU';
  if (targets.length === 0) {
    const unknown = shape.models ? [...shape.models].filter((m) => !snap.models.has(m)) : [];
    const why = unknown.length === shape.models?.size && unknown.length > 0 ? ' (model unknown to the federation)' : '';
    return { ok: false, code: 'NoGPUModel', reason: `NoGPUModel(${wanted}) ${where}${why}` };
  }

  // Gang capacity: one task must fit on one node, the whole gang on one cluster.
  const perTask = shape.gpus > 0 ? shape.gpus : 1;
  const needMilli = (shape.gpus > 0 ? shape.gpus * 1000 : shape.milli) * (job.tasks ?? 1);
  const big = targets.filter((t) => {
    const mi = t.cluster.models.get(t.model!)!;
    return mi.maxPerNode >= perTask && mi.totalHealthy * 1000 >= needMilli;
  });
  if (big.length === 0) {
    const kind = shape.models ? `${wanted} GPUs` : 'GPUs';
    let largest = 0;
    let largestNode = 0;
    for (const t of targets) {
      const mi = t.cluster.models.get(t.model!)!;
      largest = Math.max(largest, mi.totalHealthy);
      largestNode = Math.max(largestNode, mi.maxPerNode);
    }
    const reason =
      largestNode < perTask
        ? `GangTooLarge(${perTask} GPUs per task; the largest eligible node has ${largestNode} healthy ${kind})`
        : `GangTooLarge(${job.tasks} tasks need ${needMilli / 1000} GPUs on one cluster; the largest eligible cluster has ${largest} healthy ${kind})`;
    return { ok: false, code: 'GangTooLarge', reason };
  }
  return { ok: true, targets: big };
}
