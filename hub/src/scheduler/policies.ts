// Cluster scoring. Each policy orders the feasible (cluster, GPU model) targets for one job; the cycle
// then takes the first one whose nodes can actually hold the gang. Cost = GPU $ over the expected
// runtime + data egress $; ready time = max(GPU wait, missing bytes / link bandwidth).
import type { BalancedWeights, PolicyName, Tier } from './model.ts';
import type { DataCost } from './data.ts';
import type { ClusterState, ModelIndex } from './snapshot.ts';

export const DEFAULT_WEIGHTS: BalancedWeights = { cost: 1, locality: 1, inventory: 1 };

export interface Candidate {
  cluster: ClusterState;
  /** The GPU model, or null for CPU-only jobs and for pooled targets. */
  model: string | null;
  /**
   * Pooled target: every allowed model of the cluster at once, so the node scorer (FGD) picks the model
   * too. Used by the balanced policy for single-task jobs; null otherwise.
   */
  pool: string[] | null;
  indexes: ModelIndex[];
  /** Free capacity usable by this job's tasks, in milli-GPU (whole GPUs × 1000 for whole-GPU jobs). */
  freeMilli: number;
  totalMilli: number;
  /** Aggregate capacity is there now (node-level fit is checked when placing). */
  fitsNow: boolean;
  /** 0 when it fits now; otherwise the estimated wait (Infinity when unknown). */
  gpuWaitSec: number;
  data: DataCost;
  readySec: number;
  gpuUsd: number;
  costUsd: number;
  /** Highest cost the placement can turn out to have (pooled targets: the dearest model); for budgets. */
  maxCostUsd: number;
  /** Seeded tie-break key. */
  tie: number;
  /** Balanced score, written by rankCandidates (kept on the candidate so ranking allocates nothing per target). */
  rank: number;
}

/** $ per GPU-hour: spot for work that may be stopped anyway, on-demand otherwise. */
export function gpuPrice(cl: ClusterState, model: string | null, tier: Tier, fallback: Map<string, number>): number {
  if (model === null) return 0;
  const p = cl.prices[model];
  if (!p) return fallback.get(model) ?? 0;
  return (tier === 'interruptible' || tier === 'filler') && p.spot !== undefined ? p.spot : p.onDemand;
}

/** Highest on-demand price of each model anywhere: unpriced clusters are assumed dear, not free. */
export function fallbackPrices(clusters: readonly ClusterState[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const c of clusters) for (const [model, p] of Object.entries(c.prices)) m.set(model, Math.max(m.get(model) ?? 0, p.onDemand));
  return m;
}

type Cmp = (a: Candidate, b: Candidate) => number;

// Comparators (no per-candidate allocations: this runs for every target of every job).
const orders: Record<Exclude<PolicyName, 'balanced'>, Cmp> = {
  // Most free matching GPUs (shortest wait) first.
  'inventory-first': (a, b) => a.gpuWaitSec - b.gpuWaitSec || b.freeMilli - a.freeMilli || a.costUsd - b.costUsd,
  // Cheapest among those that can start now, then the cheapest of the rest.
  'cost-first': (a, b) => Number(b.fitsNow) - Number(a.fitsNow) || a.costUsd - b.costUsd || a.readySec - b.readySec,
  // Least data to move, then soonest ready.
  'locality-first': (a, b) => a.data.missingBytes - b.data.missingBytes || a.readySec - b.readySec || a.costUsd - b.costUsd,
};

/** NaN-safe (Infinity - Infinity) wrapper with the seeded tie-break last. */
const total =
  (f: Cmp): Cmp =>
  (a, b) => {
    const d = f(a, b);
    return d !== 0 && !Number.isNaN(d) ? d : a.tie - b.tie;
  };

const totals: Record<Exclude<PolicyName, 'balanced'>, Cmp> = {
  'inventory-first': total(orders['inventory-first']),
  'cost-first': total(orders['cost-first']),
  'locality-first': total(orders['locality-first']),
};
const byRank: Cmp = (a, b) => a.rank - b.rank || a.tie - b.tie;

/** Balanced policy: write each candidate's weighted score into c.rank (other policies need nothing). */
export function scoreCandidates(cands: readonly Candidate[], policy: PolicyName, weights: BalancedWeights = DEFAULT_WEIGHTS): void {
  if (policy !== 'balanced') return;
  // Weighted sum of terms normalised to [0, 1] across the candidates; unknown waits rank last.
  let maxCost = 0;
  let maxReady = 0;
  let maxFree = 0;
  for (const c of cands) {
    maxCost = Math.max(maxCost, c.costUsd);
    if (Number.isFinite(c.readySec)) maxReady = Math.max(maxReady, c.readySec);
    maxFree = Math.max(maxFree, c.freeMilli);
  }
  for (const c of cands)
    c.rank =
      weights.cost * (maxCost > 0 ? c.costUsd / maxCost : 0) +
      weights.locality * (Number.isFinite(c.readySec) ? (maxReady > 0 ? c.readySec / maxReady : 0) : 2) +
      weights.inventory * (maxFree > 0 ? 1 - c.freeMilli / maxFree : 1);
}

const comparator = (policy: PolicyName): Cmp => (policy === 'balanced' ? byRank : totals[policy]);

/**
 * Index of the candidate a stable sort by the policy would put first (scored candidates): the first of
 * the minima. Most jobs start on their best target, so the full sort is left until a second is needed.
 */
export function bestCandidate(cands: readonly Candidate[], policy: PolicyName): number {
  const cmp = comparator(policy);
  let best = 0;
  for (let i = 1; i < cands.length; i++) if (cmp(cands[i]!, cands[best]!) < 0) best = i;
  return best;
}

/** Stable in-place sort of scored candidates, best first. */
export function sortCandidates(cands: Candidate[], policy: PolicyName): void {
  cands.sort(comparator(policy));
}

/** Order candidates best-first for a policy. Same candidates and weights, same order; returns a new array. */
export function rankCandidates(cands: Candidate[], policy: PolicyName, weights: BalancedWeights = DEFAULT_WEIGHTS): Candidate[] {
  scoreCandidates(cands, policy, weights);
  const out = cands.slice();
  sortCandidates(out, policy);
  return out;
}
