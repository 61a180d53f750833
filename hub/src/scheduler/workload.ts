// The target workload FGD measures fragmentation against: task types weighted by popularity.
// Built from the pending queue each cycle (or from a trace), capped so node scoring stays cheap.
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

const keyOf = (t: TaskShape): string =>
  `${t.cpu}|${t.mem}|${t.gpus}|${t.milli}|${t.models ? [...t.models].sort().join('|') : '*'}`;

/**
 * Group task shapes (each with its task count) into at most `maxTypes` types, most popular first.
 * Types that do not ask for a GPU are dropped: they never use GPU capacity, so they add nothing to
 * GPU fragmentation (their CPU use is seen through the GPU types' CPU checks).
 */
export function buildWorkload(shapes: Iterable<{ shape: TaskShape; count: number }>, maxTypes = 24): WorkloadType[] {
  const groups = new Map<string, { shape: TaskShape; count: number }>();
  for (const { shape, count } of shapes) {
    if (shape.gpus === 0 && shape.milli === 0) continue;
    const k = keyOf(shape);
    const g = groups.get(k);
    if (g) g.count += count;
    else groups.set(k, { shape, count });
  }
  const top = [...groups.entries()]
    .sort((a, b) => b[1].count - a[1].count || (a[0] < b[0] ? -1 : 1))
    .slice(0, maxTypes);
  const total = top.reduce((s, [, g]) => s + g.count, 0);
  return top.map(([, g]) => ({ ...g.shape, weight: g.count / total }));
}

/**
 * CPU and memory the workload asks per milli-GPU (popularity-weighted): what a GPU node should keep for
 * the GPU tasks its free GPUs can still take. 0 and 0 for a workload with no GPU types.
 */
export function reserveRates(w: readonly WorkloadType[]): { cpu: number; mem: number } {
  let cpu = 0;
  let mem = 0;
  let milli = 0;
  for (const t of w) {
    const m = t.gpus > 0 ? t.gpus * 1000 : t.milli;
    if (m === 0) continue;
    cpu += t.weight * t.cpu;
    mem += t.weight * t.mem;
    milli += t.weight * m;
  }
  return milli > 0 ? { cpu: cpu / milli, mem: mem / milli } : { cpu: 0, mem: 0 };
}

/**
 * The workload reweighted per GPU: each type's share of tasks divided by the GPUs one task asks for
 * (a 0.25-GPU share counts 4×, an 8-GPU task ⅛). The fgd measure then weighs a node's unusable capacity
 * by how many tasks of each type that capacity would hold, not by how often each type arrives, so a rare
 * small type no longer counts as little as a rare large one.
 */
export function perGpuWeights(w: readonly WorkloadType[]): WorkloadType[] {
  const gpusOf = (t: WorkloadType): number => (t.gpus > 0 ? t.gpus : t.milli / 1000);
  let total = 0;
  for (const t of w) if (gpusOf(t) > 0) total += t.weight / gpusOf(t);
  if (total === 0) return [...w];
  return w.map((t) => ({ ...t, weight: gpusOf(t) > 0 ? t.weight / gpusOf(t) / total : 0 }));
}
