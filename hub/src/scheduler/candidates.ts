// Candidates for one job: a (cluster, GPU model) target, or a pooled one, with everything a policy
// ranks by (free capacity, GPU wait, data movement, cost). Built for ~100 targets per job, so the
// job-independent capacity figures are cached (see aggregates) and nothing here walks nodes.
import type { JobSpec, Link, PolicyName, Tier } from './model.ts';
import { taskMilli } from './model.ts';
import type { TaskShape } from './workload.ts';
import { aggregateFits, indexesFor } from './fit.ts';
import type { ClusterState, ModelIndex, Snapshot } from './snapshot.ts';
import type { Candidate } from './policies.ts';
import { gpuPrice } from './policies.ts';
import type { DataCost } from './data.ts';
import { NO_DATA, dataCost, dataCostInto } from './data.ts';
import type { Target, TargetMemo } from './target.ts';
import type { QuotaLedger } from './quota.ts';
import type { Timeline } from './timeline.ts';
import { mix32 } from './rng.ts';

/** What candidate building reads from the engine. */
export interface CandidateEnv {
  readonly snap: Snapshot;
  readonly cfg: { readonly defaultLink: Link };
  readonly timeline: Timeline;
  readonly quota: QuotaLedger;
  readonly prices: Map<string, number>;
}

const gpuHoursOf = (job: JobSpec): number => (job.tasks * taskMilli(job) * job.expectedRuntimeSec) / 3600 / 1000;

/** Per-tier-class $/GPU-hour of a (cluster, model), cached on its index (prices do not change in an engine). */
function priceOf(e: CandidateEnv, cluster: ClusterState, mi: ModelIndex, tier: Tier): number {
  const spot = tier === 'interruptible' || tier === 'filler';
  let p = spot ? mi.spotPrice : mi.onDemandPrice;
  if (p < 0) {
    p = gpuPrice(cluster, mi.model, tier, e.prices);
    if (spot) mi.spotPrice = p;
    else mi.onDemandPrice = p;
  }
  return p;
}

function samePool(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Sum of the pooled models' versions: unchanged exactly when none of them changed (each only grows). */
function poolVersion(indexes: readonly ModelIndex[]): number {
  let v = 0;
  for (const mi of indexes) v += mi.version;
  return v;
}

/**
 * Capacity figures of a target for a gang shape. They depend only on the gang's task count and GPUs
 * per task and on the state of the target's model indexes (and the cycle's release timeline), so they
 * are cached per (cluster, model) or per cluster for pools, until a node of those models changes; the
 * engine drops every cache when a cycle begins. In a cycle most of ~100 targets per job are untouched
 * since the previous job of the same shape.
 */
function aggregates(e: CandidateEnv, s: CandidateScratch, shape: TaskShape, cluster: ClusterState, mi: ModelIndex | undefined, pool: string[] | null, target: Target): TargetMemo {
  const key = s.key;
  let memo: TargetMemo | undefined;
  let version: number;
  let indexes: ModelIndex[] | undefined;
  if (pool !== null) {
    memo = s.small ? (cluster.poolMemo.get(key) as TargetMemo | undefined) : undefined;
    if (memo !== undefined && samePool(memo.pool!, pool)) {
      if (memo.version === poolVersion(memo.indexes)) return memo;
      indexes = memo.indexes;
    } else indexes = pool.map((m) => cluster.models.get(m)!);
    version = poolVersion(indexes);
  } else if (mi !== undefined) {
    // Per-model targets share one cache per (cluster, model) across all constraint sets.
    memo = s.small ? (mi.memo.get(key) as TargetMemo | undefined) : undefined;
    version = mi.version;
    if (memo !== undefined && memo.version === version) return memo;
    indexes = mi.asList;
  } else {
    // CPU-only: any node of the cluster, cached on the target against the cluster's version.
    memo = s.memo ? target.memo : undefined;
    version = cluster.version;
    if (memo !== undefined && memo.version === version) return memo;
    indexes = indexesFor(cluster, shape, null);
  }
  let freeMilli = 0;
  let totalMilli = 0;
  for (const x of indexes) {
    freeMilli += shape.gpus > 0 ? x.freeWhole * 1000 : x.freeMilli;
    totalMilli += x.totalHealthy * 1000;
  }
  const fitsNow = aggregateFits(indexes, shape, s.tasks);
  let gpuWaitSec = 0;
  if (!fitsNow && (pool !== null || mi !== undefined)) {
    gpuWaitSec = Number.POSITIVE_INFINITY;
    for (const x of indexes) {
      const eta = e.timeline.etaSecAt(x.timelineKey, shape.gpus > 0 ? x.freeWhole * 1000 : x.freeMilli, s.need);
      if (eta !== null) gpuWaitSec = Math.min(gpuWaitSec, eta);
    }
  } else if (!fitsNow) gpuWaitSec = Number.POSITIVE_INFINITY;
  if (memo !== undefined) {
    // Stale entries are refreshed in place: misses are frequent (every placement invalidates its
    // model's entries) and a new object each time would be garbage that outlives a scavenge.
    memo.version = version;
    memo.indexes = indexes;
    memo.freeMilli = freeMilli;
    memo.totalMilli = totalMilli;
    memo.fitsNow = fitsNow;
    memo.gpuWaitSec = gpuWaitSec;
    if (pool !== null) memo.pool = pool;
    return memo;
  }
  const out: TargetMemo = { version, indexes, freeMilli, totalMilli, fitsNow, gpuWaitSec, pool };
  if (pool !== null) {
    if (s.small) cluster.poolMemo.set(key, out);
  } else if (mi !== undefined) {
    if (s.small) mi.memo.set(key, out);
  } else if (s.memo) target.memo = out;
  return out;
}

/**
 * Per-job scratch for candidate building: candidate objects are reused from job to job (a cycle builds
 * ~46 per job, and allocating them was most of the cycle's garbage), so a candidate that outlives its
 * job's decision must be copied with keep(). Data costs are computed once per cluster per job.
 */
export class CandidateScratch {
  readonly list: Candidate[] = [];
  private readonly pool: Candidate[] = [];
  private readonly dataStamp: number[] = [];
  /** Per cluster: this job's data figures, in an object reused from job to job (missing left empty). */
  private readonly dataMemo: DataCost[] = [];
  private stamp = 0;
  /** Targets of the pooled candidate being built (reused). */
  readonly group: Target[] = [];
  // The job being built for, and what every one of its candidates needs from it.
  job: JobSpec = null as unknown as JobSpec;
  jobHash = 0;
  tasks = 0;
  need = 0;
  hours = 0;
  /**
   * Aggregate cache key of the gang shape: exact and a small integer (V8 Smi: no boxing, fast hashing)
   * for any realistic shape (gpus * 1000 + milli < 2^17 when gpus < 128, and tasks < 2^13); larger
   * shapes are just not cached (small = false).
   */
  key = 0;
  small = false;
  /** False only in tests: no aggregate is cached or read from a cache. */
  memo = true;

  begin(job: JobSpec, shape: TaskShape, jobHash: number, need: number): void {
    this.list.length = 0;
    this.stamp++;
    this.job = job;
    this.jobHash = jobHash;
    this.tasks = job.tasks;
    this.need = need;
    this.hours = gpuHoursOf(job);
    this.small = this.memo && shape.gpus < 128 && job.tasks < 8192;
    this.key = job.tasks * 131_072 + shape.gpus * 1000 + shape.milli;
  }

  next(): Candidate {
    const i = this.list.length;
    let c = this.pool[i];
    if (!c) this.pool.push((c = blank()));
    this.list.push(c);
    return c;
  }

  data(e: CandidateEnv, cluster: ClusterState): DataCost {
    const ds = this.job.datasets;
    if (!ds || ds.length === 0) return NO_DATA;
    let d = this.dataMemo[cluster.ord];
    if (this.dataStamp[cluster.ord] === this.stamp) return d!;
    if (!d) this.dataMemo[cluster.ord] = d = { missingBytes: 0, transferSec: 0, egressUsd: 0, missing: [] };
    dataCostInto(d, e.snap, cluster, ds, e.cfg.defaultLink, false);
    this.dataStamp[cluster.ord] = this.stamp;
    return d;
  }

  /**
   * A copy of one of this job's candidates that may be kept past the decision, with its own data
   * figures and the list of missing datasets (the same dataCost, which depends only on the job and the
   * cluster).
   */
  keep(e: CandidateEnv, c: Candidate): Candidate {
    return { ...c, data: c.data === NO_DATA ? NO_DATA : dataCost(e.snap, c.cluster, this.job.datasets, e.cfg.defaultLink) };
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
    data: NO_DATA,
    readySec: 0,
    gpuUsd: 0,
    costUsd: 0,
    maxCostUsd: 0,
    tie: 0,
    rank: 0,
  };
}

function candidate(e: CandidateEnv, s: CandidateScratch, shape: TaskShape, t: Target, pool: string[] | null): Candidate {
  const cluster = t.cluster;
  const model = pool === null ? t.model : null;
  const mi = pool === null ? t.mi : undefined;
  const agg = aggregates(e, s, shape, cluster, mi, pool, t);
  const data = s.data(e, cluster);
  const hours = s.hours;
  const tier = s.job.tier;
  let price = mi !== undefined ? priceOf(e, cluster, mi, tier) : 0;
  let maxPrice = price;
  if (pool !== null) {
    price = Number.POSITIVE_INFINITY;
    maxPrice = 0;
    for (const x of agg.indexes) {
      const p = priceOf(e, cluster, x, tier);
      price = Math.min(price, p);
      maxPrice = Math.max(maxPrice, p);
    }
  }
  const gpuUsd = price * hours;
  const c = s.next();
  c.cluster = cluster;
  c.model = model;
  c.pool = pool;
  c.indexes = agg.indexes;
  c.freeMilli = agg.freeMilli;
  c.totalMilli = agg.totalMilli;
  c.fitsNow = agg.fitsNow;
  c.gpuWaitSec = agg.gpuWaitSec;
  c.data = data;
  c.readySec = Math.max(agg.gpuWaitSec, data.transferSec);
  c.gpuUsd = gpuUsd;
  c.costUsd = gpuUsd + data.egressUsd;
  c.maxCostUsd = maxPrice * hours + data.egressUsd;
  c.tie = mix32(s.jobHash ^ (pool === null ? t.tieKey : t.poolTieKey));
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

function flush(e: CandidateEnv, s: CandidateScratch, shape: TaskShape): void {
  const group = s.group;
  if (group.length === 0) return;
  if (group.length === 1) candidate(e, s, shape, group[0]!, null);
  else candidate(e, s, shape, group[0]!, poolOf(group));
  group.length = 0;
}

/**
 * Targets for a job, into s.list (scratch: valid until the next job). Under the balanced policy a
 * single-task GPU job gets one pooled target per cluster (every allowed model whose quota has room), so
 * FGD chooses model and node together, as in the FGD paper; otherwise one target per (cluster, model).
 */
export function buildCandidates(e: CandidateEnv, s: CandidateScratch, job: JobSpec, shape: TaskShape, targets: readonly Target[], policy: PolicyName, jobHash: number, need: number): Candidate[] {
  s.begin(job, shape, jobHash, need);
  if (policy === 'balanced' && job.tasks === 1 && (shape.gpus !== 0 || shape.milli !== 0)) {
    // Targets come grouped by cluster (eligibleTargets walks clusters, then models), so each run of one
    // cluster's quota-passing targets is one pooled candidate.
    const quota = e.quota.limits(job.project);
    const group = s.group;
    group.length = 0;
    for (const t of targets) {
      if (quota && !e.quota.allows(job.project, t.model, need)) continue;
      if (group.length > 0 && group[0]!.cluster !== t.cluster) flush(e, s, shape);
      group.push(t);
    }
    flush(e, s, shape);
    if (s.list.length > 0) return s.list;
  }
  for (const t of targets) candidate(e, s, shape, t, null);
  return s.list;
}
