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
import type { DataCost } from './data.ts';
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

/**
 * Per-job scratch for candidate building: candidate objects are reused from job to job (a cycle builds
 * ~46 per job, and allocating them was most of the cycle's garbage), so a candidate that outlives its
 * job's decision must be copied with cloneCandidate. Data costs are computed once per cluster per job.
 */
export class CandidateScratch {
  readonly list: Candidate[] = [];
  private readonly pool: Candidate[] = [];
  private readonly dataStamp: number[] = [];
  private readonly dataMemo: DataCost[] = [];
  private stamp = 0;
  /** Models of the pooled target being built (reused). */
  readonly group: Target[] = [];

  begin(): void {
    this.list.length = 0;
    this.stamp++;
  }

  next(): Candidate {
    const i = this.list.length;
    let c = this.pool[i];
    if (!c) this.pool.push((c = blank()));
    this.list.push(c);
    return c;
  }

  data(e: CandidateEnv, cluster: ClusterState, job: JobSpec): DataCost {
    if (!job.datasets || job.datasets.length === 0) return dataCost(e.snap, cluster, job.datasets, e.cfg.defaultLink);
    if (this.dataStamp[cluster.ord] === this.stamp) return this.dataMemo[cluster.ord]!;
    const d = dataCost(e.snap, cluster, job.datasets, e.cfg.defaultLink);
    this.dataStamp[cluster.ord] = this.stamp;
    this.dataMemo[cluster.ord] = d;
    return d;
  }
}

function blank(): Candidate {
  return {
    cluster: null as unknown as ClusterState,
    model: null,
    pool: null,
    indexes: [],
    freeMilli: 0,
    totalMilli: 0,
    fitsNow: false,
    gpuWaitSec: 0,
    data: null as unknown as DataCost,
    readySec: 0,
    gpuUsd: 0,
    costUsd: 0,
    maxCostUsd: 0,
    tie: 0,
    rank: 0,
  };
}

/** A copy of a scratch candidate that may be kept past the job's decision (its data object is immutable). */
export function cloneCandidate(c: Candidate): Candidate {
  return { ...c };
}

function candidate(e: CandidateEnv, s: CandidateScratch, job: JobSpec, shape: TaskShape, cluster: ClusterState, model: string | null, jobHash: number, pool: string[] | null, target: Target | null): Candidate {
  const { indexes, freeMilli, totalMilli, fitsNow, gpuWaitSec } = aggregates(e, job, shape, cluster, model, pool, target);
  const data = s.data(e, cluster, job);
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
  const c = s.next();
  c.cluster = cluster;
  c.model = model;
  c.pool = pool;
  c.indexes = indexes;
  c.freeMilli = freeMilli;
  c.totalMilli = totalMilli;
  c.fitsNow = fitsNow;
  c.gpuWaitSec = gpuWaitSec;
  c.data = data;
  c.readySec = Math.max(gpuWaitSec, data.transferSec);
  c.gpuUsd = gpuUsd;
  c.costUsd = gpuUsd + data.egressUsd;
  c.maxCostUsd = maxPrice * hours + data.egressUsd;
  c.tie = mix32(jobHash ^ Math.imul(cluster.ord + 1, 0x9e3779b1) ^ (model === null ? 0 : modelHash(model)));
  c.rank = 0;
  return c;
}

/** The pooled model list for a group of targets, reused from the lead target while the group is unchanged. */
function poolOf(group: readonly Target[]): string[] {
  const lead = group[0]!;
  const prev = lead.poolModels;
  if (prev && prev.length === group.length) {
    let same = true;
    for (let i = 0; i < group.length; i++)
      if (prev[i] !== group[i]!.model) {
        same = false;
        break;
      }
    if (same) return prev;
  }
  return (lead.poolModels = group.map((t) => t.model!));
}

/**
 * Targets for a job, into s.list (scratch: valid until the next job). Under the balanced policy a
 * single-task GPU job gets one pooled target per cluster (every allowed model whose quota has room), so
 * FGD chooses model and node together, as in the FGD paper; otherwise one target per (cluster, model).
 */
export function buildCandidates(e: CandidateEnv, s: CandidateScratch, job: JobSpec, shape: TaskShape, targets: readonly Target[], policy: PolicyName, jobHash: number, need: number): Candidate[] {
  s.begin();
  const perTarget = (): Candidate[] => {
    for (const t of targets) candidate(e, s, job, shape, t.cluster, t.model, jobHash, null, t);
    return s.list;
  };
  if (policy !== 'balanced' || job.tasks !== 1 || (shape.gpus === 0 && shape.milli === 0)) return perTarget();
  // Targets come grouped by cluster (eligibleTargets walks clusters, then models), so each run of one
  // cluster's quota-passing targets is one pooled candidate.
  const quota = e.quota.limits(job.project);
  const group = s.group;
  group.length = 0;
  const flush = (): void => {
    if (group.length === 0) return;
    const lead = group[0]!;
    if (group.length === 1) candidate(e, s, job, shape, lead.cluster, lead.model, jobHash, null, lead);
    else candidate(e, s, job, shape, lead.cluster, null, jobHash, poolOf(group), lead);
    group.length = 0;
  };
  for (const t of targets) {
    if (quota && e.quota.check(job.project, t.model, need) !== null) continue;
    if (group.length > 0 && group[0]!.cluster !== t.cluster) flush();
    group.push(t);
  }
  flush();
  if (s.list.length === 0) return perTarget();
  return s.list;
}
