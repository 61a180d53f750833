// Preemption: a job may evict only strictly lower tiers. Victims are chosen greedily (filler first,
// then checkpointable, then the ones whose stop loses least work), then pruned so that no victim is
// evicted that the placement does not need. Across clusters the plan with fewest victims wins.
import type { RunningAllocation } from './model.ts';
import type { Candidate } from './policies.ts';
import type { FitOptions, TaskShape } from './fit.ts';
import { placeGang } from './fit.ts';
import type { ClusterState, TaskAlloc } from './snapshot.ts';
import { allocFits, release, reserve } from './snapshot.ts';

export interface RunningEntry {
  spec: RunningAllocation;
  cluster: ClusterState;
  /** GPU model of the nodes it runs on ('' for CPU-only). */
  model: string;
  allocs: TaskAlloc[];
  rank: number;
  milli: number;
  /** GPU-seconds of work lost if stopped now (checkpointable jobs lose at most a checkpoint interval). */
  lostWork: number;
  preempted: boolean;
}

export interface PreemptPlan {
  cand: Candidate;
  victims: RunningEntry[];
  allocs: TaskAlloc[];
}

/** Work since the last checkpoint is lost; assume checkpoints at least every 10 minutes. */
const CHECKPOINT_INTERVAL_SEC = 600;

export function lostWork(r: RunningAllocation, nowMs: number, milli: number): number {
  const elapsed = Math.max(0, (nowMs - r.startedAt) / 1000);
  return (r.checkpointable ? Math.min(elapsed, CHECKPOINT_INTERVAL_SEC) : elapsed) * (milli / 1000);
}

const victimOrder = (a: RunningEntry, b: RunningEntry): number =>
  b.rank - a.rank ||
  Number(b.spec.checkpointable ?? false) - Number(a.spec.checkpointable ?? false) ||
  a.lostWork - b.lostWork ||
  b.milli - a.milli ||
  (a.spec.jobId < b.spec.jobId ? -1 : a.spec.jobId > b.spec.jobId ? 1 : 0);

function evict(v: RunningEntry): void {
  for (const a of v.allocs) release(a);
}
function restore(v: RunningEntry): void {
  for (const a of v.allocs) reserve(a);
}
const canRestore = (v: RunningEntry): boolean => v.allocs.every(allocFits);

/** Try one candidate; leaves the snapshot unchanged and returns the plan (or null). */
function tryCandidate(cand: Candidate, pool: RunningEntry[], shape: TaskShape, count: number, o: FitOptions, maxVictims: number): PreemptPlan | null {
  const victims: RunningEntry[] = [];
  let allocs: TaskAlloc[] | null = null;
  for (const v of pool) {
    if (victims.length >= maxVictims) break;
    evict(v);
    victims.push(v);
    allocs = placeGang(cand.indexes, shape, count, o);
    if (allocs) break;
  }
  if (!allocs) {
    for (let i = victims.length - 1; i >= 0; i--) restore(victims[i]!);
    return null;
  }
  // Prune: give back any victim the placement can do without.
  for (let i = victims.length - 2; i >= 0; i--) {
    const v = victims[i]!;
    for (const a of allocs) release(a);
    if (!canRestore(v)) {
      for (const a of allocs) reserve(a);
      continue;
    }
    restore(v);
    const again = placeGang(cand.indexes, shape, count, o);
    if (again) {
      allocs = again;
      victims.splice(i, 1);
    } else {
      evict(v);
      for (const a of allocs) reserve(a);
    }
  }
  for (const a of allocs) release(a);
  for (let i = victims.length - 1; i >= 0; i--) restore(victims[i]!);
  return { cand, victims, allocs };
}

/**
 * Find the cheapest preemption that lets a job of tier rank `rank` start. On success the victims are
 * evicted and the job's allocations reserved in the snapshot.
 */
export function planPreemption(
  rank: number,
  shape: TaskShape,
  count: number,
  cands: readonly Candidate[],
  runningByCluster: ReadonlyMap<string, RunningEntry[]>,
  o: FitOptions,
  maxCandidates = 8,
  maxVictims = 64,
): PreemptPlan | null {
  const need = (shape.gpus > 0 ? shape.gpus * 1000 : shape.milli) * count;
  let best: PreemptPlan | null = null;
  let bestLost = Number.POSITIVE_INFINITY;
  let tried = 0;
  for (const cand of cands) {
    if (tried >= maxCandidates) break;
    const pool = (runningByCluster.get(cand.cluster.id) ?? []).filter(
      (r) => !r.preempted && r.rank > rank && (cand.model === null || r.model === cand.model),
    );
    if (pool.length === 0) continue;
    const reclaimable = pool.reduce((s, r) => s + r.milli, 0);
    if (cand.freeMilli + reclaimable < need) continue;
    tried++;
    pool.sort(victimOrder);
    const plan = tryCandidate(cand, pool, shape, count, o, maxVictims);
    if (!plan) continue;
    const lost = plan.victims.reduce((s, v) => s + v.lostWork, 0);
    if (!best || plan.victims.length < best.victims.length || (plan.victims.length === best.victims.length && lost < bestLost)) {
      best = plan;
      bestLost = lost;
    }
  }
  if (!best) return null;
  for (const v of best.victims) {
    evict(v);
    v.preempted = true;
  }
  for (const a of best.allocs) reserve(a);
  return best;
}
