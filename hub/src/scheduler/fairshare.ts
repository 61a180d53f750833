// Weighted dominant-resource fair share (DRF, Ghodsi et al. 2011) across projects. A project's share is
// its largest fraction of any federation resource (GPU, CPU, memory) divided by its weight; the project
// with the smallest share goes next, and its share is recomputed after every placement.
import { hash32 } from './rng.ts';

export interface Usage {
  gpuMilli: number;
  cpu: number;
  mem: number;
}

export class FairShare {
  private readonly usage = new Map<string, Usage>();
  constructor(
    private readonly totals: Usage,
    private readonly weights: ReadonlyMap<string, number>,
  ) {}

  charge(project: string, u: Usage, sign: 1 | -1 = 1): void {
    let cur = this.usage.get(project);
    if (!cur) this.usage.set(project, (cur = { gpuMilli: 0, cpu: 0, mem: 0 }));
    cur.gpuMilli += sign * u.gpuMilli;
    cur.cpu += sign * u.cpu;
    cur.mem += sign * u.mem;
  }

  /** Weighted dominant share (0 for an idle project). */
  share(project: string): number {
    const u = this.usage.get(project);
    if (!u) return 0;
    const t = this.totals;
    const dom = Math.max(t.gpuMilli > 0 ? u.gpuMilli / t.gpuMilli : 0, t.cpu > 0 ? u.cpu / t.cpu : 0, t.mem > 0 ? u.mem / t.mem : 0);
    return dom / (this.weights.get(project) ?? 1);
  }
}

interface HeapItem {
  project: string;
  share: number;
  tie: number;
}

const less = (a: HeapItem, b: HeapItem): boolean => a.share < b.share || (a.share === b.share && a.tie < b.tie);

class MinHeap {
  private readonly a: HeapItem[] = [];
  get size(): number {
    return this.a.length;
  }
  push(x: HeapItem): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): HeapItem | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l]!, a[m]!)) m = l;
        if (r < a.length && less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * Yield jobs in DRF order. `queues` holds each project's jobs already in its own order (priority,
 * then age). The caller charges `fs` for a placement before asking for the next job.
 */
export function* fairOrder<J>(queues: Map<string, J[]>, fs: FairShare, seed: number): Generator<J> {
  const heap = new MinHeap();
  const pos = new Map<string, number>();
  for (const project of queues.keys()) {
    pos.set(project, 0);
    heap.push({ project, share: fs.share(project), tie: hash32(project, seed) });
  }
  while (heap.size > 0) {
    const it = heap.pop()!;
    const q = queues.get(it.project)!;
    const i = pos.get(it.project)!;
    yield q[i]!;
    if (i + 1 < q.length) {
      pos.set(it.project, i + 1);
      heap.push({ project: it.project, share: fs.share(it.project), tie: it.tie });
    }
  }
}
