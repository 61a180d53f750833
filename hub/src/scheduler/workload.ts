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
