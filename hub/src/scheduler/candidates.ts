// Candidates for one job: a (cluster, GPU model) target, or a pooled one, with everything a policy
// ranks by (free capacity, GPU wait, data movement, cost). Built for ~100 targets per job, so the
// job-independent capacity figures are cached (see aggregates) and nothing here walks nodes.
import type { JobSpec, Link, PolicyName } from './model.ts';
import { taskMilli } from './model.ts';
import type { TaskShape } from './fit.ts';
import { aggregateFits, indexesFor } from './fit.ts';
import type { ClusterState, Snapshot } from './snapshot.ts';
import type { Candidate } from './policies.ts';
import { gpuPrice } from './policies.ts';
import { dataCost } from './data.ts';
import type { Target, TargetMemo } from './filters.ts';
import type { QuotaLedger } from './quota.ts';
import type { Timeline } from './timeline.ts';
import { hash32, mix32 } from './rng.ts';

/** What candidate building reads from the engine. */
export interface CandidateEnv {
  readonly snap: Snapshot;
  readonly cfg: { readonly defaultLink: Link };
  readonly timeline: Timeline;
  readonly quota: QuotaLedger;
  readonly prices: Map<string, number>;
}

const gpuHoursOf = (job: JobSpec): number => (job.tasks * taskMilli(job) * job.expectedRuntimeSec) / 3600 / 1000;

/** hash32 of GPU model names, memoised: tie keys are built for every target of every job. */
const modelHashes = new Map<string, number>();
function modelHash(model: string): number {
  let h = modelHashes.get(model);
  if (h === undefined) modelHashes.set(model, (h = hash32(model)));
  return h;
}

function samePool(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Capacity figures of a target for a gang shape. They depend only on the gang shape and constraints
 * (which is what a Target is shared by) and on the cluster's state, so they are cached on the Target
 * until the cluster next changes: in a cycle most of ~100 targets per job are untouched since the
 * previous job of the same shape.
 */
function aggregates(e: CandidateEnv, job: JobSpec, shape: TaskShape, cluster: ClusterState, model: string | null, pool: string[] | null, target: Target | null): TargetMemo {
  // Per-model targets share one cache per (cluster, model) across all constraint sets; the figures
  // depend only on the gang's task count and GPUs per task (CPU-only and pooled targets use the target's).
  // The key is exact and a small integer (V8 Smi: no boxing, fast hashing) for any realistic shape:
  // gpus * 1000 + milli < 2^17 when gpus < 128, and tasks < 2^13. Larger shapes are just not cached.
  const small = shape.gpus < 128 && job.tasks < 8192;
  const mi = small && pool === null && model !== null ? cluster.models.get(model) : undefined;
  const key = job.tasks * 131_072 + shape.gpus * 1000 + shape.milli;
  const memo = mi ? (mi.memo.get(key) as TargetMemo | undefined) : pool === null ? target?.memo : target?.poolMemo;
  // A per-model entry is stale only when a node of that model changed, not any node of the cluster.
  const version = mi ? mi.version : cluster.version;
  if (memo !== undefined && memo.version === version && (pool === null || (memo.pool !== undefined && samePool(memo.pool, pool)))) return memo;
  const indexes = pool ? pool.map((m) => cluster.models.get(m)!) : indexesFor(cluster, shape, model);
  let freeMilli = 0;
  let totalMilli = 0;
  for (const mi of indexes) {
    freeMilli += shape.gpus > 0 ? mi.freeWhole * 1000 : mi.freeMilli;
    totalMilli += mi.totalHealthy * 1000;
  }
  const need = job.tasks * taskMilli(job);
  const fitsNow = aggregateFits(indexes, shape, job.tasks);
  let gpuWaitSec = 0;
  if (!fitsNow) {
    gpuWaitSec = Number.POSITIVE_INFINITY;
    for (const m of pool ?? (model === null ? [] : [model])) {
      const mi = cluster.models.get(m)!;
      const eta = e.timeline.etaSec(cluster.id, m, shape.gpus > 0 ? mi.freeWhole * 1000 : mi.freeMilli, need);
      if (eta !== null) gpuWaitSec = Math.min(gpuWaitSec, eta);
    }
  }
  const out: TargetMemo = { version, indexes, freeMilli, totalMilli, fitsNow, gpuWaitSec };
  if (mi) mi.memo.set(key, out);
  else if (target && pool === null) target.memo = out;
  else if (target && pool !== null) target.poolMemo = { ...out, pool };
  return out;
}

function candidate(e: CandidateEnv, job: JobSpec, shape: TaskShape, cluster: ClusterState, model: string | null, jobHash: number, pool: string[] | null, target: Target | null): Candidate {
  const { indexes, freeMilli, totalMilli, fitsNow, gpuWaitSec } = aggregates(e, job, shape, cluster, model, pool, target);
  const data = dataCost(e.snap, cluster, job.datasets, e.cfg.defaultLink);
  const hours = gpuHoursOf(job);
  let price = gpuPrice(cluster, model, job.tier, e.prices);
  let maxPrice = price;
  if (pool) {
    price = Number.POSITIVE_INFINITY;
    maxPrice = 0;
    for (const m of pool) {
      const p = gpuPrice(cluster, m, job.tier, e.prices);
      price = Math.min(price, p);
      maxPrice = Math.max(maxPrice, p);
    }
  }
  const gpuUsd = price * hours;
  return {
    cluster,
    model,
    pool,
    indexes,
    freeMilli,
    totalMilli,
    fitsNow,
    gpuWaitSec,
    data,
    readySec: Math.max(gpuWaitSec, data.transferSec),
    gpuUsd,
    costUsd: gpuUsd + data.egressUsd,
    maxCostUsd: maxPrice * hours + data.egressUsd,
    tie: mix32(jobHash ^ Math.imul(cluster.ord + 1, 0x9e3779b1) ^ (model === null ? 0 : modelHash(model))),
    rank: 0,
  };
}

/**
 * Targets for a job. Under the balanced policy a single-task GPU job gets one pooled target per
 * cluster (every allowed model whose quota has room), so FGD chooses model and node together, as
 * in the FGD paper; otherwise one target per (cluster, model).
 */
export function buildCandidates(e: CandidateEnv, job: JobSpec, shape: TaskShape, targets: readonly Target[], policy: PolicyName, jobHash: number, need: number): Candidate[] {
  if (policy !== 'balanced' || job.tasks !== 1 || (shape.gpus === 0 && shape.milli === 0))
    return targets.map((t) => candidate(e, job, shape, t.cluster, t.model, jobHash, null, t));
  const byCluster = new Map<ClusterState, Target[]>();
  for (const t of targets) {
    if (e.quota.check(job.project, t.model, need) !== null) continue;
    let l = byCluster.get(t.cluster);
    if (!l) byCluster.set(t.cluster, (l = []));
    l.push(t);
  }
  if (byCluster.size === 0) return targets.map((t) => candidate(e, job, shape, t.cluster, t.model, jobHash, null, t));
  return [...byCluster].map(([cl, ts]) =>
    ts.length === 1
      ? candidate(e, job, shape, cl, ts[0]!.model, jobHash, null, ts[0]!)
      : candidate(e, 
          job,
          shape,
          cl,
          null,
          jobHash,
          ts.map((t) => t.model!),
          ts[0]!,
        ),
  );
}
