// Choices the engine makes about targets beyond the policy's ranking: the memo key of a placement
// attempt, the fragmentation-aware pick of the balanced policy, and which ledger to blame for a wait.
import type { BalancedWeights, JobSpec } from './model.ts';
import type { Candidate } from './policies.ts';
import type { FitOptions } from './fit.ts';
import { aggregateFits, chooseNode, lastScore, lastTie } from './fit.ts';
import type { TaskShape } from './workload.ts';
import type { Target } from './target.ts';
import type { QuotaLedger } from './quota.ts';
import type { BudgetLedger } from './budget.ts';
import type { Pend } from './reasons.ts';
import type { TaskAlloc } from './snapshot.ts';

/** The part of a memo key that names which nodes a placement attempt may use. */
export function targetKey(c: Candidate, modelsKey: string): object | string {
  // A per-model target: its ModelIndex (object keys: no string built per target tried).
  if (c.model !== null) return c.cluster.models.get(c.model) ?? c.cluster;
  // A pooled target covers exactly its pool; a CPU-only one the CPU nodes plus the allowed GPU models.
  if (c.pool !== null) return `${c.cluster.ord}\u0000p\u0000${c.pool.join('\u0001')}`;
  return `${c.cluster.ord}\u0000c\u0000${modelsKey}`;
}

/**
 * What a failed fit on target c is memoised against: capacity released there, and for a task asking
 * for no GPU also GPU capacity taken there (it lowers what GPU nodes keep back; see FitOptions.reserveCpu).
 */
export function memoStamp(c: Candidate, shape: TaskShape): number {
  return shape.gpus === 0 && shape.milli === 0 ? c.cluster.releases + c.cluster.gpuTakes : c.cluster.releases;
}

/**
 * The reason a task asking for no GPU waits when it would fit on some GPU node but for the CPU and memory
 * that node keeps for its free GPUs (null when that is not what blocks it).
 */
export function gpuNodeReserveReason(cands: readonly Candidate[], shape: TaskShape, fitOpts: FitOptions): Pend | null {
  if (shape.gpus !== 0 || shape.milli !== 0 || (!fitOpts.reserveCpu && !fitOpts.reserveMem)) return null;
  // A task asking for no GPU fits a node iff its CPU and memory do: a plain scan, no scoring.
  for (const c of cands) {
    if (!c.indexes.some((mi) => mi.nodes.some((n) => n.schedulable && n.cpuFree >= shape.cpu && n.memFree >= shape.mem))) continue;
    const per = (x: number): string => String(Math.round(x * 1000));
    return {
      code: 'ReservedForGpus',
      reason: `ReservedForGpus(no CPU-only room; GPU nodes on ${c.cluster.id} keep ${per(fitOpts.reserveCpu ?? 0)} CPU milli and ${per(fitOpts.reserveMem ?? 0)} MiB per free GPU for the GPU work queued)`,
      etaSec: null,
    };
  }
  return null;
}

/** Rank slack within which the balanced policy compares targets by fragmentation, and how many it probes. */
const FRAG_SLACK = 0.5;
const FRAG_PROBES = 4;
/** Rank units per GPU of fragmentation growth. */
const FRAG_WEIGHT = 1;

/**
 * A quota or budget reason when one of them, not capacity, keeps the job from a target that has room
 * now (aggregate capacity; the node-level fit is not tried for targets the job may not use anyway).
 */
export function limitReason(quota: QuotaLedger, budget: BudgetLedger, job: JobSpec, shape: TaskShape, targets: readonly Target[], need: number, hours: number, overBudget: Candidate | undefined): Pend | null {
  if (need > 0 && quota.limits(job.project))
    for (const t of targets)
      if (t.mi && !quota.allows(job.project, t.model, need) && aggregateFits(t.mi.asList, shape, job.tasks))
        return { code: 'QuotaExceeded', reason: quota.check(job.project, t.model, need)!, etaSec: null };
  if (overBudget) return { code: 'BudgetExhausted', reason: budget.check(job.project, hours, overBudget.maxCostUsd)!, etaSec: null };
  return null;
}

/**
 * Balanced, single-task jobs under the fgd node strategy: among the targets with room now whose rank
 * (less the inventory term) is within FRAG_SLACK of the best, up to FRAG_PROBES of them, take the one
 * where rank plus FRAG_WEIGHT × the growth of its best node's fragmentation (in GPUs) is least. Without it each cluster is packed well but the cluster is chosen blind to it:
 * CPU-only tasks land on GPU nodes of one cluster while CPU-only nodes of another are idle, and
 * tasks pinned to a model strand GPUs in whichever cluster ranks first. The winner is ranked first.
 */
export function fragmentationChoice(cands: Candidate[], top: Candidate, shape: TaskShape, weights: BalancedWeights, fitOpts: FitOptions, probe: Candidate[], picked: { alloc: TaskAlloc | null }): Candidate {
  picked.alloc = null;
  if (!top.fitsNow || cands.length < 2) return top;
  // The inventory term (most free capacity first) spreads work over clusters: among targets that all
  // have room now it is left out, and packing breaks ties as it does between nodes.
  let maxFree = 0;
  for (const c of cands) maxFree = Math.max(maxFree, c.freeMilli);
  const spread = (c: Candidate): number => weights.inventory * (maxFree > 0 ? 1 - c.freeMilli / maxFree : 1);
  // Targets with room, by rank without the spreading term; the best FRAG_PROBES within FRAG_SLACK.
  probe.length = 0;
  let baseMin = Number.POSITIVE_INFINITY;
  for (const c of cands) if (c.fitsNow) baseMin = Math.min(baseMin, c.rank - spread(c));
  for (const c of cands) if (c.fitsNow && c.rank - spread(c) <= baseMin + FRAG_SLACK) probe.push(c);
  // One target within reach: nothing to compare, and placing it finds the same node anyway.
  if (probe.length < 2) return probe.length === 1 && probe[0] !== top ? rankFirst(probe[0]!, top) : top;
  if (probe.length > FRAG_PROBES) probe.sort((a, b) => a.rank - spread(a) - (b.rank - spread(b)) || a.tie - b.tie).length = FRAG_PROBES;
  let best = top;
  let bestScore = Number.POSITIVE_INFINITY;
  let bestTie = Number.POSITIVE_INFINITY;
  for (const c of probe) {
    const a = chooseNode(c.indexes, shape, fitOpts);
    if (!a) continue;
    const score = c.rank - spread(c) + (FRAG_WEIGHT * lastScore()) / 1000;
    const tie = lastTie();
    if (score < bestScore - 1e-9 || (Math.abs(score - bestScore) <= 1e-9 && (tie < bestTie || (tie === bestTie && c.tie < best.tie)))) {
      best = c;
      bestScore = score;
      bestTie = tie;
      picked.alloc = a;
    }
  }
  return best === top ? top : rankFirst(best, top);
}

function rankFirst(c: Candidate, top: Candidate): Candidate {
  c.rank = top.rank - 1;
  return c;
}

