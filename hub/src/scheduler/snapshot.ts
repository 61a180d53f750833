// In-memory capacity snapshot of every cluster with reserve/release. Nodes are indexed per GPU model by
// their count of fully free GPUs (and a set of nodes holding partly used GPUs), so finding candidates
// for a k-GPU task touches only nodes that can hold it: this is what makes 20,000-node cycles cheap.
import type { ClusterSpec, Link, PriceEntry, TaskPlacement } from './model.ts';
import { Timeline } from './timeline.ts';

export interface NodeState {
  name: string;
  cluster: ClusterState;
  /** Index in cluster.nodes (input order, used by first-fit). */
  idx: number;
  /** '' for CPU-only nodes. */
  model: string;
  used: Int32Array;
  healthy: Uint8Array;
  cpuFree: number;
  memFree: number;
  schedulable: boolean;
  /** Healthy GPUs with nothing on them. */
  freeWhole: number;
  /** Sum of free milli over healthy GPUs. */
  freeMilli: number;
  /** Healthy GPUs that are partly used (0 < used < 1000). */
  partialCount: number;
  /** Bumped on every change; lets fit.ts cache the node's fragmentation. */
  version: number;
  fragVersion: number;
  fragValue: number;
  /** fit.ts's state hash, cached against version like fragValue. */
  hashVersion: number;
  hashValue: number;
}

export interface ModelIndex {
  model: string;
  /** Healthy GPUs on schedulable nodes. */
  totalHealthy: number;
  freeWhole: number;
  freeMilli: number;
  /** Most healthy GPUs on one schedulable node. */
  maxPerNode: number;
  /** byFree[k] = schedulable nodes with exactly k fully free GPUs. */
  byFree: Set<NodeState>[];
  /** Schedulable nodes with at least one partly used healthy GPU. */
  partial: Set<NodeState>;
  nodes: NodeState[];
  /** [this], shared so candidates do not allocate a list each. */
  asList: ModelIndex[];
  /**
   * The engine's capacity aggregates for a gang shape on this (cluster, model), keyed by a number
   * built from the shape, valid while `version` is unchanged (see Engine.aggregates).
   */
  memo: Map<number, unknown>;
  /** Bumped on every reserve or release on a node of this model in this cluster (finer than ClusterState.version). */
  version: number;
  /** filters.ts's Target for this (cluster, model), created on first use. */
  target?: unknown;
  /** Timeline.key(cluster id, model), built once. */
  timelineKey: string;
  /** $/GPU-hour on demand and spot as the engine resolves them (-1 until first asked). */
  onDemandPrice: number;
  spotPrice: number;
}

export interface ClusterState {
  id: string;
  /**
   * Bumped whenever capacity is released in the cluster. Reserving only ever shrinks what fits, so a
   * placement that failed stays impossible until this changes: the engine memoises failures on it.
   */
  releases: number;
  /**
   * Bumped whenever GPU capacity is reserved. The CPU a GPU node keeps for its free GPUs shrinks as they
   * fill, so a task asking for no GPU may fit after a GPU reservation: its failures are memoised on both.
   */
  gpuTakes: number;
  /** Bumped on every reserve or release in the cluster: per-target aggregates are cached against it. */
  version: number;
  ord: number;
  region: string;
  kind: 'kubernetes' | 'slurm';
  prices: Record<string, PriceEntry>;
  links: Map<string, Link>;
  nodes: NodeState[];
  nodeByName: Map<string, NodeState>;
  models: Map<string, ModelIndex>;
  /** The engine's capacity aggregates of pooled targets (several models at once), keyed like ModelIndex.memo. */
  poolMemo: Map<number, unknown>;
  /** dataset → percent copied, for caches being prewarmed. */
  prewarming: Map<string, number>;
}

export interface Snapshot {
  clusters: ClusterState[];
  byId: Map<string, ClusterState>;
  /** Every GPU model present anywhere (healthy or not). */
  models: Set<string>;
  totals: { gpuMilli: number; cpuMilli: number; memMiB: number };
}

/** One task's resources on one node: whole GPUs, or a share of one GPU. */
export interface TaskAlloc {
  node: NodeState;
  cpu: number;
  mem: number;
  readonly gpuIndices: readonly number[];
  /** Milli per GPU in gpuIndices: 1000 for whole GPUs, the share for fractional. */
  milli: number;
}

function recount(n: NodeState): void {
  let fw = 0;
  let fm = 0;
  let pc = 0;
  for (let g = 0; g < n.used.length; g++) {
    if (!n.healthy[g]) continue;
    const u = n.used[g]!;
    if (u === 0) fw++;
    else if (u < 1000) pc++;
    fm += 1000 - Math.min(1000, u);
  }
  n.freeWhole = fw;
  n.freeMilli = fm;
  n.partialCount = pc;
}

function indexOf(n: NodeState): ModelIndex | undefined {
  return n.cluster.models.get(n.model);
}

function unindex(n: NodeState): void {
  const mi = indexOf(n);
  if (!mi || !n.schedulable) return;
  mi.byFree[n.freeWhole]?.delete(n);
  mi.partial.delete(n);
  mi.freeWhole -= n.freeWhole;
  mi.freeMilli -= n.freeMilli;
}

function reindex(n: NodeState): void {
  const mi = indexOf(n);
  if (!mi || !n.schedulable) return;
  mi.byFree[n.freeWhole]!.add(n);
  if (n.partialCount > 0) mi.partial.add(n);
  mi.freeWhole += n.freeWhole;
  mi.freeMilli += n.freeMilli;
}

export function buildSnapshot(specs: ClusterSpec[]): Snapshot {
  const snap: Snapshot = { clusters: [], byId: new Map(), models: new Set(), totals: { gpuMilli: 0, cpuMilli: 0, memMiB: 0 } };
  specs.forEach((spec, ord) => {
    const cl: ClusterState = {
      id: spec.id,
      releases: 0,
      gpuTakes: 0,
      version: 0,
      ord,
      region: spec.region,
      kind: spec.kind,
      prices: spec.prices,
      links: new Map(spec.links.map((l) => [l.region, l])),
      nodes: [],
      nodeByName: new Map(),
      models: new Map(),
      poolMemo: new Map(),
      prewarming: new Map((spec.prewarming ?? []).map((p) => [p.dataset, p.percent])),
    };
    for (const ns of spec.nodes) {
      const model = ns.gpus.length > 0 ? (ns.gpuModel ?? '') : '';
      const nG = ns.gpus.length;
      const used = new Int32Array(nG);
      const healthy = new Uint8Array(nG);
      let h = 0;
      for (let g = 0; g < nG; g++) {
        const gs = ns.gpus[g]!;
        used[g] = gs.milliUsed;
        if (gs.healthy) {
          healthy[g] = 1;
          h++;
        }
      }
      const n: NodeState = {
        name: ns.name,
        cluster: cl,
        idx: cl.nodes.length,
        model,
        used,
        healthy,
        cpuFree: ns.cpuMilli - ns.cpuAllocatedMilli,
        memFree: ns.memoryMiB - ns.memoryAllocatedMiB,
        schedulable: ns.schedulable,
        freeWhole: 0,
        freeMilli: 0,
        partialCount: 0,
        version: 0,
        fragVersion: -1,
        fragValue: 0,
        hashVersion: -1,
        hashValue: 0,
      };
      recount(n);
      cl.nodes.push(n);
      cl.nodeByName.set(n.name, n);
      if (model) snap.models.add(model);
      let mi = cl.models.get(model);
      if (!mi) {
        mi = { model, totalHealthy: 0, freeWhole: 0, freeMilli: 0, maxPerNode: 0, byFree: [], partial: new Set(), nodes: [], asList: [], memo: new Map(), version: 0, timelineKey: Timeline.key(spec.id, model), onDemandPrice: -1, spotPrice: -1 };
        mi.asList.push(mi);
        cl.models.set(model, mi);
      }
      mi.nodes.push(n);
      if (n.schedulable) {
        mi.totalHealthy += h;
        mi.maxPerNode = Math.max(mi.maxPerNode, h);
        while (mi.byFree.length <= n.used.length) mi.byFree.push(new Set());
        reindex(n);
        snap.totals.gpuMilli += h * 1000;
        snap.totals.cpuMilli += ns.cpuMilli;
        snap.totals.memMiB += ns.memoryMiB;
      }
    }
    snap.clusters.push(cl);
    snap.byId.set(cl.id, cl);
  });
  return snap;
}

/** Apply (sign = +1) or undo (sign = -1) one task's allocation, keeping every index in step. */
export function applyAlloc(a: TaskAlloc, sign: 1 | -1): void {
  const n = a.node;
  unindex(n);
  n.cpuFree -= sign * a.cpu;
  n.memFree -= sign * a.mem;
  for (const g of a.gpuIndices) n.used[g] = Math.max(0, n.used[g]! + sign * a.milli);
  recount(n);
  n.version++;
  n.cluster.version++;
  const mi = indexOf(n);
  if (mi) mi.version++;
  if (sign < 0) n.cluster.releases++;
  else if (a.milli > 0 && a.gpuIndices.length > 0) n.cluster.gpuTakes++;
  reindex(n);
}

export const reserve = (a: TaskAlloc): void => applyAlloc(a, 1);
export const release = (a: TaskAlloc): void => applyAlloc(a, -1);

/** Can `a` be applied without over-allocating CPU, memory or any GPU? */
export function allocFits(a: TaskAlloc): boolean {
  const n = a.node;
  if (n.cpuFree < a.cpu || n.memFree < a.mem) return false;
  for (const g of a.gpuIndices) if (!n.healthy[g] || n.used[g]! + a.milli > 1000) return false;
  return true;
}

export function toTaskPlacement(a: TaskAlloc): TaskPlacement {
  if (a.milli < 1000 && a.gpuIndices.length === 1) return { node: a.node.name, gpuIndex: a.gpuIndices[0]!, milli: a.milli };
  return { node: a.node.name, gpuIndices: [...a.gpuIndices] };
}

/** Turn a reported placement back into an allocation (for releasing running jobs). Null if it names unknown nodes. */
export function fromTaskPlacement(cl: ClusterState, t: TaskPlacement, cpu: number, mem: number): TaskAlloc | null {
  const node = cl.nodeByName.get(t.node);
  if (!node) return null;
  if ('gpuIndex' in t) {
    if (t.gpuIndex < 0 || t.gpuIndex >= node.used.length) return null;
    return { node, cpu, mem, gpuIndices: [t.gpuIndex], milli: t.milli };
  }
  for (const g of t.gpuIndices) if (g < 0 || g >= node.used.length) return null;
  // The input's list is shared, not copied: allocations never modify their GPU lists.
  return { node, cpu, mem, gpuIndices: t.gpuIndices, milli: 1000 };
}
