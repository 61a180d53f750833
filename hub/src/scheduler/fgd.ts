// The FGD fragmentation measure of Weng et al., "Beware of Fragmentation: Scheduling GPU-Sharing
// Workloads with Fragmentation Gradient Descent" (USENIX ATC '23), on a workload compiled for speed.
// Kept apart from fit.ts (node choice) because it is the innermost loop of every placement.
import type { WorkloadType } from './workload.ts';
import type { NodeState } from './snapshot.ts';

const freeBuf = new Int32Array(64);

/**
 * A workload flattened into typed arrays (GPU-asking types only, in their original order so sums come
 * out bit-identical), with a per-model compatibility mask: the FGD loop then does no Set lookups and
 * no property loads on objects. Workload arrays are treated as immutable once scheduled with.
 */
interface CompiledWorkload {
  n: number;
  weight: Float64Array;
  gpus: Int32Array;
  milli: Int32Array;
  cpu: Float64Array;
  mem: Float64Array;
  src: readonly WorkloadType[];
  /** model → 1 where type i may run on that model. */
  compat: Map<string, Uint8Array>;
}

const compiledCache = new WeakMap<readonly WorkloadType[], CompiledWorkload>();
let lastSrc: readonly WorkloadType[] | null = null;
let lastCompiled: CompiledWorkload | null = null;

function compile(workload: readonly WorkloadType[]): CompiledWorkload {
  if (workload === lastSrc) return lastCompiled!;
  let c = compiledCache.get(workload);
  if (!c) {
    const types = workload.filter((m) => m.gpus !== 0 || m.milli !== 0);
    c = {
      n: types.length,
      weight: Float64Array.from(types, (m) => m.weight),
      gpus: Int32Array.from(types, (m) => m.gpus),
      milli: Int32Array.from(types, (m) => m.milli),
      cpu: Float64Array.from(types, (m) => m.cpu),
      mem: Float64Array.from(types, (m) => m.mem),
      src: types,
      compat: new Map(),
    };
    compiledCache.set(workload, c);
  }
  lastSrc = workload;
  lastCompiled = c;
  return c;
}

function compatFor(c: CompiledWorkload, model: string): Uint8Array {
  let m = c.compat.get(model);
  if (!m) {
    m = Uint8Array.from(c.src, (t) => (t.models === null || t.models.has(model) ? 1 : 0));
    c.compat.set(model, m);
  }
  return m;
}

/**
 * FGD's F_n(M): expected free GPU milli on node n that a task drawn from workload M could not use.
 * For one type m: all of the node's free GPU capacity if m cannot run there at all (model, CPU,
 * memory, or too few GPUs); otherwise the free share of GPUs too small for m (for whole-GPU types the
 * leftovers of partly used GPUs, for a share of s milli the GPUs with less than s free). Types that
 * ask for no GPU add nothing. With `cpuAware`, a share type also strands the free GPU capacity beyond
 * what the shares the node's CPU and memory can still feed would use (the paper checks one task only).
 * Inlined into one loop: this is the scheduler's hottest function.
 */
export function nodeFragmentation(n: NodeState, workload: readonly WorkloadType[], cpuAware = false): number {
  const fm = n.freeMilli;
  if (fm === 0) return 0;
  const c = compile(workload);
  const compat = compatFor(c, n.model);
  // Only partly used GPUs can be too small for a share (a fully free GPU holds any share < 1000), so
  // only they are collected; a fully free GPU makes every share fit.
  let k = 0;
  let maxPartial = 0;
  for (let g = 0; g < n.used.length; g++) {
    const u = n.used[g]!;
    if (n.healthy[g] && u > 0 && u < 1000) {
      const v = 1000 - u;
      freeBuf[k++] = v;
      if (v > maxPartial) maxPartial = v;
    }
  }
  const anyWhole = n.freeWhole > 0;
  const partialFree = fm - n.freeWhole * 1000;
  const cpuFree = n.cpuFree;
  const memFree = n.memFree;
  const { weight, gpus, milli, cpu, mem } = c;
  let f = 0;
  for (let i = 0; i < c.n; i++) {
    const w = weight[i]!;
    if (compat[i] === 0 || cpuFree < cpu[i]! || memFree < mem[i]!) {
      f += w * fm;
      continue;
    }
    const s = milli[i]!;
    if (s > 0) {
      if (!anyWhole && maxPartial < s) {
        f += w * fm;
        continue;
      }
      let frag = 0;
      // The share count only matters where CPU or memory could run out before the GPUs do (fm / s
      // bounds the shares the GPUs hold); elsewhere the paper's loop gives the same value.
      if (cpuAware && (cpuFree < cpu[i]! * (fm / s) || memFree < mem[i]! * (fm / s))) {
        // Shares the GPUs could still take, against those the node's CPU and memory can feed: GPU
        // capacity past what the fed shares use is stranded too.
        let slots = n.freeWhole * Math.floor(1000 / s);
        for (let j = 0; j < k; j++) {
          const v = freeBuf[j]!;
          if (v < s) frag += v;
          else slots += Math.floor(v / s);
        }
        const fed = Math.min(cpu[i]! > 0 ? Math.floor(cpuFree / cpu[i]!) : slots, mem[i]! > 0 ? Math.floor(memFree / mem[i]!) : slots);
        if (fed < slots) frag = Math.max(frag, fm - fed * s);
      } else
        for (let j = 0; j < k; j++) {
          const v = freeBuf[j]!;
          if (v < s) frag += v;
        }
      f += w * frag;
    } else f += w * (n.freeWhole < gpus[i]! ? fm : partialFree);
  }
  return f;
}
