// Node-level fit inside one cluster, and the fragmentation measure of Weng et al., "Beware of
// Fragmentation: Scheduling GPU-Sharing Workloads with Fragmentation Gradient Descent" (USENIX ATC '23):
// a node's fragmentation is the expected amount of its free GPU capacity that a task drawn from the
// workload could NOT use. The `fgd` strategy places each task where that expectation grows least.
import type { NodeStrategy } from './model.ts';
import type { ClusterState, ModelIndex, NodeState, TaskAlloc } from './snapshot.ts';
import { reserve, release } from './snapshot.ts';

/** One task's request. models = null means any GPU model. */
export interface TaskShape {
  cpu: number;
  mem: number;
  /** Whole GPUs (0 for fractional or CPU-only tasks). */
  gpus: number;
  /** Share of one GPU, 1..999 (0 for whole-GPU or CPU-only tasks). */
  milli: number;
  models: ReadonlySet<string> | null;
}

/** A task type of the target workload with its popularity (weights sum to 1). */
export interface WorkloadType extends TaskShape {
  weight: number;
}

export interface FitOptions {
  strategy: NodeStrategy;
  workload: WorkloadType[];
  /** Feasible nodes scored per task; 0 = all. */
  maxScan: number;
  rng: () => number;
}

/** Free GPU milli on `n` that a task of type `m` could not use (FGD's F_n(m)). */
function fragFor(n: NodeState, m: WorkloadType): number {
  if (n.freeMilli === 0 || (m.gpus === 0 && m.milli === 0)) return 0;
  if ((m.models && !m.models.has(n.model)) || n.cpuFree < m.cpu || n.memFree < m.mem) return n.freeMilli;
  if (m.milli > 0) {
    let frag = 0;
    let ok = false;
    for (let g = 0; g < n.used.length; g++) {
      if (!n.healthy[g]) continue;
      const free = 1000 - n.used[g]!;
      if (free >= m.milli) ok = true;
      else frag += free;
    }
    return ok ? frag : n.freeMilli;
  }
  if (n.freeWhole < m.gpus) return n.freeMilli;
  // A whole-GPU task cannot use the leftovers of partly used GPUs.
  return n.freeMilli - n.freeWhole * 1000;
}

/** FGD's F_n(M): expected unusable free GPU milli on node n under workload M. */
export function nodeFragmentation(n: NodeState, workload: readonly WorkloadType[]): number {
  let f = 0;
  for (const m of workload) f += m.weight * fragFor(n, m);
  return f;
}

function cachedFrag(n: NodeState, workload: readonly WorkloadType[]): number {
  if (n.fragVersion !== n.version) {
    n.fragValue = nodeFragmentation(n, workload);
    n.fragVersion = n.version;
  }
  return n.fragValue;
}

/** Invalidate cached fragmentation (call when the workload distribution changes). */
export function resetFragCache(nodes: Iterable<NodeState>): void {
  for (const n of nodes) n.fragVersion = -1;
}

/** Fragmentation of the node as if `a` were applied, without touching any index. */
function fragAfter(a: TaskAlloc, workload: readonly WorkloadType[]): number {
  const n = a.node;
  const saved = [n.cpuFree, n.memFree, n.freeWhole, n.freeMilli, n.partialCount] as const;
  n.cpuFree -= a.cpu;
  n.memFree -= a.mem;
  for (const g of a.gpuIndices) {
    const before = n.used[g]!;
    n.used[g] = before + a.milli;
    if (before === 0) n.freeWhole--;
    else if (before + a.milli >= 1000) n.partialCount--;
    if (before === 0 && a.milli < 1000) n.partialCount++;
  }
  n.freeMilli -= a.milli * a.gpuIndices.length;
  const f = nodeFragmentation(n, workload);
  for (const g of a.gpuIndices) n.used[g] = n.used[g]! - a.milli;
  [n.cpuFree, n.memFree, n.freeWhole, n.freeMilli, n.partialCount] = saved;
  return f;
}

/** Candidate GPU choices for one task on one node (empty when it does not fit). */
function gpuChoices(n: NodeState, t: TaskShape, strategy: NodeStrategy, rng: () => number): number[][] {
  if (n.cpuFree < t.cpu || n.memFree < t.mem) return [];
  if (t.gpus > 0) {
    if (n.freeWhole < t.gpus) return [];
    const pick: number[] = [];
    for (let g = 0; g < n.used.length && pick.length < t.gpus; g++) if (n.healthy[g] && n.used[g] === 0) pick.push(g);
    return [pick];
  }
  if (t.milli > 0) {
    // GPUs with the same usage are interchangeable: keep the first of each usage level.
    const seen = new Set<number>();
    const out: number[][] = [];
    for (let g = 0; g < n.used.length; g++) {
      const u = n.used[g]!;
      if (!n.healthy[g] || u + t.milli > 1000 || seen.has(u)) continue;
      seen.add(u);
      out.push([g]);
    }
    if (out.length <= 1 || strategy === 'fgd') return out;
    if (strategy === 'best-fit') return [out.reduce((b, c) => (n.used[c[0]!]! > n.used[b[0]!]! ? c : b))];
    if (strategy === 'random') return [out[Math.floor(rng() * out.length)]!];
    return [out.reduce((b, c) => (c[0]! < b[0]! ? c : b))];
  }
  return [[]];
}

/** Nodes worth looking at for task t, tightest buckets first. */
function* candidates(indexes: readonly ModelIndex[], t: TaskShape): Generator<NodeState> {
  for (const mi of indexes) {
    if (t.gpus === 0 && t.milli === 0) {
      for (const n of mi.nodes) if (n.schedulable) yield n;
      continue;
    }
    if (t.milli > 0) yield* mi.partial;
    const from = Math.max(t.gpus, t.milli > 0 ? 1 : 0);
    for (let k = from; k < mi.byFree.length; k++) yield* mi.byFree[k]!;
  }
}

/** Best single-task allocation in the given model indexes, or null. Does not reserve. */
export function chooseNode(indexes: readonly ModelIndex[], t: TaskShape, o: FitOptions): TaskAlloc | null {
  const whole = t.gpus > 0;
  const milli = whole ? 1000 : t.milli;
  let best: TaskAlloc | null = null;
  let bestScore = Number.POSITIVE_INFINITY;
  let bestTie = Number.POSITIVE_INFINITY;
  let feasible = 0;
  let visited = 0;
  const visitCap = o.maxScan > 0 ? o.maxScan * 20 : Number.POSITIVE_INFINITY;
  for (const n of candidates(indexes, t)) {
    if (++visited > visitCap) break;
    const choices = gpuChoices(n, t, o.strategy, o.rng);
    if (choices.length === 0) continue;
    feasible++;
    for (const gpuIndices of choices) {
      const a: TaskAlloc = { node: n, cpu: t.cpu, mem: t.mem, gpuIndices, milli };
      const freeAfter = n.freeMilli - milli * gpuIndices.length;
      let score: number;
      let tie: number;
      switch (o.strategy) {
        case 'fgd':
          score = fragAfter(a, o.workload) - cachedFrag(n, o.workload);
          // Tie-break towards packing: less free GPU on the node, then on the chosen GPU, then CPU.
          tie = freeAfter * 1e9 + (whole ? 0 : (1000 - n.used[gpuIndices[0]!]! - milli) * 1e4) + (n.cpuFree - t.cpu) / 1e3;
          break;
        case 'best-fit':
          score = freeAfter;
          tie = n.cpuFree - t.cpu;
          break;
        case 'first-fit':
          score = n.idx;
          tie = gpuIndices[0] ?? 0;
          break;
        case 'random':
          score = o.rng();
          tie = 0;
          break;
      }
      if (score < bestScore - 1e-9 || (Math.abs(score - bestScore) <= 1e-9 && tie < bestTie)) {
        best = a;
        bestScore = score;
        bestTie = tie;
      }
    }
    if (o.maxScan > 0 && feasible >= o.maxScan) break;
  }
  return best;
}

/**
 * Place a gang of `count` identical tasks on one cluster, all or nothing. On success the allocations
 * are reserved in the snapshot; on failure nothing is left reserved.
 */
export function placeGang(indexes: readonly ModelIndex[], t: TaskShape, count: number, o: FitOptions): TaskAlloc[] | null {
  if (!aggregateFits(indexes, t, count)) return null;
  const done: TaskAlloc[] = [];
  for (let i = 0; i < count; i++) {
    const a = chooseNode(indexes, t, o);
    if (!a) {
      for (let j = done.length - 1; j >= 0; j--) release(done[j]!);
      return null;
    }
    reserve(a);
    done.push(a);
  }
  return done;
}

/** Cheap necessary condition from the per-model counters (no node walk). */
export function aggregateFits(indexes: readonly ModelIndex[], t: TaskShape, count: number): boolean {
  if (t.gpus === 0 && t.milli === 0) return true;
  let whole = 0;
  let milli = 0;
  for (const mi of indexes) {
    whole += mi.freeWhole;
    milli += mi.freeMilli;
  }
  return t.gpus > 0 ? whole >= t.gpus * count : milli >= t.milli * count;
}

/** Model indexes of a cluster a task may use (CPU-only tasks: CPU-only nodes first, then the rest). */
export function indexesFor(cl: ClusterState, t: TaskShape, model: string | null): ModelIndex[] {
  if (model !== null) {
    const mi = cl.models.get(model);
    return mi ? [mi] : [];
  }
  const out: ModelIndex[] = [];
  const cpuOnly = cl.models.get('');
  if (cpuOnly) out.push(cpuOnly);
  for (const [m, mi] of cl.models) if (m !== '' && (t.models === null || t.models.has(m))) out.push(mi);
  return out;
}

/** Cluster-wide FGD fragmentation (sum over schedulable nodes), in milli-GPU. */
export function clusterFragmentation(cl: ClusterState, workload: readonly WorkloadType[]): number {
  let f = 0;
  for (const n of cl.nodes) if (n.schedulable) f += cachedFrag(n, workload);
  return f;
}
