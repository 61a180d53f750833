// Preemption: a job may evict only strictly lower tiers. Victims are chosen node by node: each task
// goes to the node needing the fewest evictions (victims ordered filler first, then checkpointable,
// then least work lost), so nothing is evicted that the placement does not need. Across clusters the
// plan with fewest victims wins, then the one losing least work.
import type { RunningAllocation } from './model.ts';
import type { Candidate } from './policies.ts';
import type { FitOptions } from './fit.ts';
import type { TaskShape } from './workload.ts';
import { aggregateFits, chooseNode, pickGpus } from './fit.ts';
import type { ClusterState, NodeState, TaskAlloc } from './snapshot.ts';
import { release, reserve } from './snapshot.ts';

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

export const victimOrder = (a: RunningEntry, b: RunningEntry): number =>
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
/**
 * How many of the not-yet-evicted `victims` (in order) must leave `node` before one task fits there;
 * -1 if more than `limit` or never. Those victims are out[0..count). Works on a scratch copy of the node's
 * GPUs, so the snapshot is not touched (this is the hot loop of a preemption search).
 */
function evictionsNeeded(node: NodeState, victims: readonly RunningEntry[], evicted: ReadonlySet<RunningEntry>, t: TaskShape, limit: number, out: RunningEntry[]): number {
  const nG = node.used.length;
  if (scratchUsed.length < nG) scratchUsed = new Int32Array(nG);
  const used = scratchUsed;
  for (let g = 0; g < nG; g++) used[g] = node.used[g]!;
  let cpu = node.cpuFree;
  let mem = node.memFree;
  const want = Math.max(1, t.gpus);
  // out is written by index, never truncated: emptying an array drops its storage, and this runs
  // for up to 64 nodes per task of every preemption search.
  let k = 0;
  for (const v of victims) {
    if (evicted.has(v)) continue;
    if (k >= limit) return -1;
    out[k++] = v;
    for (const a of v.allocs) {
      if (a.node !== node) continue;
      cpu += a.cpu;
      mem += a.mem;
      for (const g of a.gpuIndices) used[g] = Math.max(0, used[g]! - a.milli);
    }
    if (cpu < t.cpu || mem < t.mem) continue;
    if (t.gpus === 0 && t.milli === 0) return k;
    let ok = 0;
    for (let g = 0; g < nG; g++) if (node.healthy[g] && (t.gpus > 0 ? used[g] === 0 : used[g]! + t.milli <= 1000)) ok++;
    if (ok >= want) return k;
  }
  return -1;
}
let scratchUsed = new Int32Array(16);

/** Bound the per-task node search so a preemption attempt stays cheap on big clusters. */
const MAX_NODES_EXAMINED = 64;

/**
 * Try one candidate, task by task: place on free capacity if possible, else on the node that needs the
 * fewest (then cheapest) evictions. Leaves the snapshot unchanged and returns the plan (or null).
 */
function tryCandidate(cand: Candidate, pool: RunningEntry[], shape: TaskShape, count: number, o: FitOptions, maxVictims: number): PreemptPlan | null {
  const onNode = new Map<NodeState, RunningEntry[]>();
  for (const v of pool)
    for (const a of v.allocs) {
      let l = onNode.get(a.node);
      if (!l) onNode.set(a.node, (l = []));
      if (l[l.length - 1] !== v) l.push(v);
    }
  const victims: RunningEntry[] = [];
  const evicted = new Set<RunningEntry>();
  const allocs: TaskAlloc[] = [];
  const undo = (): void => {
    for (let i = allocs.length - 1; i >= 0; i--) release(allocs[i]!);
    for (let i = victims.length - 1; i >= 0; i--) restore(victims[i]!);
  };
  const milli = shape.gpus > 0 ? 1000 : shape.milli;
  const trial: RunningEntry[] = [];
  for (let i = 0; i < count; i++) {
    // The counters rule out free capacity without a node scan (which, failing, would visit every node).
    let a = aggregateFits(cand.indexes, shape, 1) ? chooseNode(cand.indexes, shape, o) : null;
    if (!a) {
      let bestNode: NodeState | null = null;
      let bestList: RunningEntry[] = [];
      let bestLost = Number.POSITIVE_INFINITY;
      let examined = 0;
      for (const [node, list] of onNode) {
        if (!node.schedulable) continue;
        if (++examined > MAX_NODES_EXAMINED) break;
        const limit = bestNode ? bestList.length : list.length;
        const k = evictionsNeeded(node, list, evicted, shape, limit, trial);
        if (k < 0) continue;
        let lost = 0;
        for (let i = 0; i < k; i++) lost += trial[i]!.lostWork;
        // Copied only when it wins (trial is scratch, overwritten by the next node).
        if (!bestNode || k < bestList.length || (k === bestList.length && lost < bestLost)) {
          bestNode = node;
          bestList = trial.slice(0, k);
          bestLost = lost;
        }
      }
      if (!bestNode || victims.length + bestList.length > maxVictims) {
        undo();
        return null;
      }
      for (const v of bestList) {
        evict(v);
        victims.push(v);
        evicted.add(v);
      }
      const g = pickGpus(bestNode, shape, o.strategy, o.seed, o.workload, o.cpuAware === true)!;
      a = { node: bestNode, cpu: shape.cpu, mem: shape.mem, gpuIndices: g, milli };
    }
    reserve(a);
    allocs.push(a);
  }
  undo();
  return { cand, victims, allocs };
}

/**
 * Running jobs of a cluster in victim order (whole cluster, or one GPU model), sorted once per cluster
 * and reused by every preemption search until the running set changes.
 */
export class VictimLists {
  private readonly byCluster = new Map<ClusterState, { version: number; all: RunningEntry[]; byModel: Map<string, RunningEntry[]> }>();
  private version = 0;
  constructor(private readonly running: ReadonlyMap<string, RunningEntry[]>) {}

  /** Call whenever a running job is added or removed. */
  changed(): void {
    this.version++;
  }

  get(cluster: ClusterState, model: string | null): readonly RunningEntry[] {
    let e = this.byCluster.get(cluster);
    if (!e || e.version !== this.version) {
      const all = (this.running.get(cluster.id) ?? []).slice().sort(victimOrder);
      const byModel = new Map<string, RunningEntry[]>();
      for (const r of all) {
        let l = byModel.get(r.model);
        if (!l) byModel.set(r.model, (l = []));
        l.push(r);
      }
      this.byCluster.set(cluster, (e = { version: this.version, all, byModel }));
    }
    return model === null ? e.all : (e.byModel.get(model) ?? []);
  }
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
  victimsOn: VictimLists,
  o: FitOptions,
  onFail: (c: Candidate) => void = () => {},
  maxCandidates = 2,
  /** Candidates known to fail (the engine's memo): they count as tried, exactly as if they had failed. */
  knownFailed: (c: Candidate) => boolean = () => false,
  maxVictims = 64,
): PreemptPlan | null {
  const need = (shape.gpus > 0 ? shape.gpus * 1000 : shape.milli) * count;
  let best: PreemptPlan | null = null;
  let bestLost = Number.POSITIVE_INFINITY;
  let tried = 0;
  for (const cand of cands) {
    if (tried >= maxCandidates) break;
    // Lists come in victim order already, so the filtered pool needs no sort.
    const all = victimsOn.get(cand.cluster, cand.model);
    let reclaimable = 0;
    let victimsHere = 0;
    for (const r of all)
      if (!r.preempted && r.rank > rank && (cand.pool === null || cand.pool.includes(r.model))) {
        reclaimable += r.milli;
        victimsHere++;
      }
    if (victimsHere === 0 || cand.freeMilli + reclaimable < need) continue;
    const pool: RunningEntry[] = [];
    for (const r of all) if (!r.preempted && r.rank > rank && (cand.pool === null || cand.pool.includes(r.model))) pool.push(r);
    tried++;
    if (knownFailed(cand)) continue;
    const plan = tryCandidate(cand, pool, shape, count, o, maxVictims);
    if (!plan) {
      onFail(cand);
      continue;
    }
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
