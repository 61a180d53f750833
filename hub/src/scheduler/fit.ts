// Node-level fit inside one cluster, and the fragmentation measure of Weng et al., "Beware of
// Fragmentation: Scheduling GPU-Sharing Workloads with Fragmentation Gradient Descent" (USENIX ATC '23):
// a node's fragmentation is the expected amount of its free GPU capacity that a task drawn from the
// workload could NOT use. The `fgd` strategy places each task where that expectation grows least.
import type { NodeStrategy } from './model.ts';
import type { ClusterState, ModelIndex, NodeState, TaskAlloc } from './snapshot.ts';
import { reserve, release } from './snapshot.ts';
import { nodeFragmentation } from './fgd.ts';
import type { TaskShape, WorkloadType } from './workload.ts';
import { mix32 } from './rng.ts';

export interface FitOptions {
  strategy: NodeStrategy;
  workload: WorkloadType[];
  /** Feasible nodes scored per task; 0 = all. */
  maxScan: number;
  /**
   * Seed of the `random` strategy. Its draws are a hash of the seed and the node's state, not a stream:
   * a stream would make every decision depend on how many attempts came before, so skipping a
   * pointless attempt (the engine's failed-fit memos) would change later decisions.
   */
  seed: number;
  /**
   * CPU and memory per free milli-GPU that a task asking for no GPU must leave on a GPU node (0 = none):
   * otherwise CPU-only work takes the CPU the node's GPUs need and strands them.
   */
  reserveCpu?: number;
  reserveMem?: number;
  /** Fragmentation counts the GPU shares a node's CPU and memory cannot feed (nodeFragmentation). */
  cpuAware?: boolean;
}

/**
 * A draw in [0, 1) for node n (GPU g, or -1 for the node) from the seed and what the node holds now
 * (its state hash, not its version: an attempt that reserves and rolls back must not change a draw).
 */
function draw(n: NodeState, g: number, seed: number): number {
  let h = seed ^ Math.imul(n.cluster.ord + 1, 0x9e3779b1) ^ Math.imul(n.idx + 1, 0x85ebca6b);
  h = mix32(h ^ Math.imul(stateHash(n) | 0, 0xc2b2ae35) ^ Math.imul(g + 2, 0x27d4eb2d));
  return h / 4294967296;
}

function cachedFrag(n: NodeState, workload: readonly WorkloadType[], cpuAware = false): number {
  // The cpu-aware measure is cached under a negative key (resetFragCache's -1 matches neither).
  const key = cpuAware ? -2 - n.version : n.version;
  if (n.fragVersion !== key) {
    n.fragValue = nodeFragmentation(n, workload, cpuAware);
    n.fragVersion = key;
  }
  return n.fragValue;
}

/** Invalidate cached fragmentation (call when the workload distribution changes). */
export function resetFragCache(nodes: Iterable<NodeState>): void {
  for (const n of nodes) n.fragVersion = -1;
}

/**
 * Fragmentation of node n as if a task took `milli` on each GPU in `gpus` (plus cpu/mem), computed by
 * mutating the node in place and restoring it: no allocation, no index churn.
 */
function fragAfter(n: NodeState, gpus: ArrayLike<number>, count: number, milli: number, cpu: number, mem: number, workload: readonly WorkloadType[], cpuAware: boolean): number {
  const fw = n.freeWhole;
  const fm = n.freeMilli;
  n.cpuFree -= cpu;
  n.memFree -= mem;
  for (let i = 0; i < count; i++) {
    const g = gpus[i]!;
    if (n.used[g] === 0) n.freeWhole--;
    n.used[g] = n.used[g]! + milli;
  }
  n.freeMilli -= milli * count;
  const f = nodeFragmentation(n, workload, cpuAware);
  for (let i = 0; i < count; i++) n.used[gpus[i]!] = n.used[gpus[i]!]! - milli;
  n.cpuFree += cpu;
  n.memFree += mem;
  n.freeWhole = fw;
  n.freeMilli = fm;
  return f;
}

const scratch = new Int32Array(64);
/**
 * A set of int32 keys for the scan's dedupe: open addressing over typed arrays, cleared in O(1) by a
 * generation stamp. A Set<number> boxed most keys (32-bit hashes are outside V8's small-integer range),
 * which made every visited node an allocation. Grows so it stays under half full.
 */
export class IntSet {
  private keys = new Int32Array(4096);
  private stamps = new Uint32Array(4096);
  private gen = 1;
  private size = 0;
  /** 32 − log2(capacity): the top bits of a multiplicative hash pick the slot. */
  private shift = 20;

  clear(): void {
    this.size = 0;
    if (++this.gen === 0xffffffff) {
      this.stamps.fill(0);
      this.gen = 1;
    }
  }

  /** Adds k; returns false if it was already there. */
  add(k: number): boolean {
    if (this.size * 2 >= this.keys.length) this.grow();
    const mask = this.keys.length - 1;
    let i = Math.imul(k, 0x9e3779b1) >>> this.shift;
    while (this.stamps[i] === this.gen) {
      if (this.keys[i] === k) return false;
      i = (i + 1) & mask;
    }
    this.stamps[i] = this.gen;
    this.keys[i] = k;
    this.size++;
    return true;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldStamps = this.stamps;
    const gen = this.gen;
    this.keys = new Int32Array(oldKeys.length * 2);
    this.stamps = new Uint32Array(oldKeys.length * 2);
    this.gen = 1;
    this.size = 0;
    this.shift--;
    for (let i = 0; i < oldKeys.length; i++) if (oldStamps[i] === gen) this.add(oldKeys[i]!);
  }
}
const seenStates = new IntSet();
/** Fragmentation after placing on the GPU bestShareGpu last chose (fgd only). */
let lastShareFrag = 0;
let lastChoiceScore = 0;
let lastChoiceTie = 0;
/** The packing tie-break of chooseNode's last choice (lower = packs tighter). */
export function lastTie(): number {
  return lastChoiceTie;
}
/** The score chooseNode's last choice had (under fgd: how much the node's fragmentation grows). */
export function lastScore(): number {
  return lastChoiceScore;
}

/** First `k` fully free healthy GPUs of a node (into `out`); returns how many were found. */
function firstFree(n: NodeState, k: number, out: Int32Array): number {
  let c = 0;
  for (let g = 0; g < n.used.length && c < k; g++) if (n.healthy[g] && n.used[g] === 0) out[c++] = g;
  return c;
}

/** firstFree as a plain array (no typed-array view in between). */
function freeList(n: NodeState, k: number): number[] {
  const out: number[] = [];
  for (let g = 0; g < n.used.length && out.length < k; g++) if (n.healthy[g] && n.used[g] === 0) out.push(g);
  return out;
}

/** GPU indices a task would take on node n (null when it does not fit there). */
export function pickGpus(n: NodeState, t: TaskShape, strategy: NodeStrategy, seed: number, workload: readonly WorkloadType[] = [], cpuAware = false): number[] | null {
  if (n.cpuFree < t.cpu || n.memFree < t.mem) return null;
  if (t.gpus > 0) {
    if (n.freeWhole < t.gpus) return null;
    return freeList(n, t.gpus);
  }
  if (t.milli === 0) return [];
  const g = bestShareGpu(n, t, strategy, seed, workload, cpuAware);
  return g < 0 ? null : [g];
}

/** For a fractional task: the GPU to share on this node, or -1. */
function bestShareGpu(n: NodeState, t: TaskShape, strategy: NodeStrategy, seed: number, workload: readonly WorkloadType[], cpuAware: boolean): number {
  let best = -1;
  let bestScore = Number.POSITIVE_INFINITY;
  let bestTie = Number.POSITIVE_INFINITY;
  let options = 0;
  for (let g = 0; g < n.used.length; g++) {
    const u = n.used[g]!;
    if (!n.healthy[g] || u + t.milli > 1000) continue;
    // GPUs at the same usage level are interchangeable: score the first of each level only.
    let dup = false;
    for (let h = 0; h < g; h++)
      if (n.healthy[h] && n.used[h] === u) {
        dup = true;
        break;
      }
    if (dup) continue;
    options++;
    let score: number;
    // Ties prefer the fuller GPU (GPU-level best fit).
    const tie = 1000 - u;
    switch (strategy) {
      case 'fgd':
        scratch[0] = g;
        score = fragAfter(n, scratch, 1, t.milli, t.cpu, t.mem, workload, cpuAware);
        break;
      case 'best-fit':
        score = 1000 - u;
        break;
      case 'first-fit':
        score = g;
        break;
      case 'random':
        score = draw(n, g, seed);
        break;
    }
    if (score < bestScore - 1e-9 || (Math.abs(score - bestScore) <= 1e-9 && tie < bestTie)) {
      bestScore = score;
      bestTie = tie;
      best = g;
    }
  }
  // Under fgd the winning score is the node's fragmentation after the share: consider() reuses it.
  lastShareFrag = bestScore;
  return options > 0 ? best : -1;
}

interface Best {
  node: NodeState | null;
  gpu: number;
  score: number;
  tie: number;
}

/** Score node n for task t into `b` if it beats the current best. Returns false if n does not fit. */
function consider(n: NodeState, t: TaskShape, o: FitOptions, b: Best): boolean {
  if (n.cpuFree < t.cpu || n.memFree < t.mem) return false;
  let gpu = -1;
  let milliTaken: number;
  if (t.gpus > 0) {
    if (n.freeWhole < t.gpus) return false;
    milliTaken = t.gpus * 1000;
  } else if (t.milli > 0) {
    gpu = bestShareGpu(n, t, o.strategy, o.seed, o.workload, o.cpuAware === true);
    if (gpu < 0) return false;
    milliTaken = t.milli;
  } else {
    if (n.freeMilli > 0 && (n.cpuFree - t.cpu < n.freeMilli * (o.reserveCpu ?? 0) || n.memFree - t.mem < n.freeMilli * (o.reserveMem ?? 0))) return false;
    milliTaken = 0;
  }
  const freeAfter = n.freeMilli - milliTaken;
  let score: number;
  let tie: number;
  switch (o.strategy) {
    case 'fgd': {
      let after: number;
      const aware = o.cpuAware === true;
      if (t.gpus > 0) after = fragAfter(n, scratch, firstFree(n, t.gpus, scratch), 1000, t.cpu, t.mem, o.workload, aware);
      else if (gpu >= 0) after = lastShareFrag;
      else after = fragAfter(n, scratch, 0, 0, t.cpu, t.mem, o.workload, aware);
      score = after - cachedFrag(n, o.workload, aware);
      // Ties go towards packing: less free GPU on the node, then on the chosen GPU, then CPU.
      tie = freeAfter * 1e9 + (gpu >= 0 ? (1000 - n.used[gpu]! - t.milli) * 1e4 : 0) + (n.cpuFree - t.cpu) / 1e3;
      break;
    }
    case 'best-fit':
      score = freeAfter;
      tie = n.cpuFree - t.cpu;
      break;
    case 'first-fit':
      score = n.idx;
      tie = 0;
      break;
    case 'random':
      score = draw(n, -1, o.seed);
      tie = 0;
      break;
  }
  if (score < b.score - 1e-9 || (Math.abs(score - b.score) <= 1e-9 && tie < b.tie)) {
    b.node = n;
    b.gpu = gpu;
    b.score = score;
    b.tie = tie;
  }
  return true;
}

/**
 * Hash of what makes two nodes score the same (model, free CPU/memory, GPU usage levels). Nodes in the
 * same state are interchangeable, so a capped scan skips repeats and spends its budget on distinct
 * choices. A rare collision only skips a candidate; it never causes a wrong placement.
 */
function stateHash(n: NodeState): number {
  if (n.hashVersion === n.version) return n.hashValue;
  let h = Math.imul(n.cpuFree | 0, 0x9e3779b1) ^ Math.imul(n.memFree | 0, 0x85ebca6b) ^ n.model.length;
  // Order-independent mix of the per-GPU usage (sum of per-GPU hashes).
  let g = 0;
  for (let i = 0; i < n.used.length; i++) {
    let x = (n.healthy[i] ? n.used[i]! + 1 : 0) * 0x27d4eb2d;
    x ^= x >>> 15;
    g = (g + Math.imul(x, 0x165667b1)) | 0;
  }
  h ^= g;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  n.hashValue = (h ^ (h >>> 15)) >>> 0;
  n.hashVersion = n.version;
  return n.hashValue;
}

// State of the scan in progress (module-level rather than a closure per call: chooseNode runs for
// every task placed and every preemption probe). chooseNode is not re-entrant, and never was (scratch).
let vCap = 0;
let vVisitCap = 0;
let vFeasible = 0;
let vVisited = 0;
let vDedupe: IntSet | null = null;

/**
 * Offer node n to the scan; false = stop scanning. The caps only shorten the search once something
 * feasible is in hand: a capped scan must never report "does not fit" while a fitting node exists.
 */
function visit(n: NodeState, t: TaskShape, o: FitOptions, b: Best): boolean {
  if (vDedupe !== null) {
    const h = stateHash(n) ^ (n.cluster.ord << 20);
    if (!vDedupe.add(h)) return ++vVisited <= vVisitCap || vFeasible === 0;
  }
  if (++vVisited > vVisitCap && vFeasible > 0) return false;
  if (consider(n, t, o, b) && ++vFeasible >= vCap) return false;
  return true;
}

/** Best single-task allocation in the given model indexes, or null. Does not reserve. */
export function chooseNode(indexes: readonly ModelIndex[], t: TaskShape, o: FitOptions): TaskAlloc | null {
  const b: Best = { node: null, gpu: -1, score: Number.POSITIVE_INFINITY, tie: Number.POSITIVE_INFINITY };
  vCap = o.maxScan > 0 ? o.maxScan : Number.POSITIVE_INFINITY;
  vVisitCap = vCap * 20;
  vFeasible = 0;
  vVisited = 0;
  vDedupe = o.strategy === 'fgd' || o.strategy === 'best-fit' ? seenStates : null;
  vDedupe?.clear();
  // Tightest buckets first, so a capped scan still sees the best packing candidates.
  scan: for (const mi of indexes) {
    if (t.gpus === 0 && t.milli === 0) {
      for (const n of mi.nodes) if (n.schedulable && !visit(n, t, o, b)) break scan;
      continue;
    }
    if (t.milli > 0) for (const n of mi.partial) if (!visit(n, t, o, b)) break scan;
    for (let k = Math.max(t.gpus, t.milli > 0 ? 1 : 0); k < mi.byFree.length; k++) for (const n of mi.byFree[k]!) if (!visit(n, t, o, b)) break scan;
  }
  lastChoiceScore = b.score;
  lastChoiceTie = b.tie;
  if (!b.node) return null;
  const n = b.node;
  if (t.gpus > 0) {
    return { node: n, cpu: t.cpu, mem: t.mem, gpuIndices: freeList(n, t.gpus), milli: 1000 };
  }
  if (t.milli > 0) return { node: n, cpu: t.cpu, mem: t.mem, gpuIndices: [b.gpu], milli: t.milli };
  return { node: n, cpu: t.cpu, mem: t.mem, gpuIndices: [], milli: 0 };
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

/**
 * Cheap necessary condition from the per-model counters and buckets (no walk over nodes): whole-GPU
 * tasks count the slots each bucket offers (a node with k free GPUs holds floor(k/g) tasks of g GPUs).
 */
export function aggregateFits(indexes: readonly ModelIndex[], t: TaskShape, count: number): boolean {
  if (t.gpus === 0 && t.milli === 0) return true;
  if (t.gpus === 0) {
    let milli = 0;
    for (const mi of indexes) milli += mi.freeMilli;
    return milli >= t.milli * count;
  }
  let whole = 0;
  for (const mi of indexes) whole += mi.freeWhole;
  if (whole < t.gpus * count) return false;
  let slots = 0;
  for (const mi of indexes)
    for (let k = t.gpus; k < mi.byFree.length; k++) {
      slots += mi.byFree[k]!.size * Math.floor(k / t.gpus);
      if (slots >= count) return true;
    }
  return false;
}

/** Model indexes of a cluster a task may use (CPU-only tasks: CPU-only nodes first, then the rest). */
export function indexesFor(cl: ClusterState, t: TaskShape, model: string | null): ModelIndex[] {
  if (model !== null) {
    return cl.models.get(model)?.asList ?? [];
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
