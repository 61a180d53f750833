import { describe, expect, it } from 'vitest';
import { buildSnapshot } from './snapshot.ts';
import type { TaskShape, WorkloadType } from './workload.ts';
import { nodeFragmentation } from './fgd.ts';
import { chooseNode, indexesFor, placeGang } from './fit.ts';
import { cluster, node } from './fixtures.ts';

const whole = (gpus: number): TaskShape => ({ cpu: 1000, mem: 1024, gpus, milli: 0, models: null });
const frac = (milli: number): TaskShape => ({ cpu: 1000, mem: 1024, gpus: 0, milli, models: null });
const w = (shape: TaskShape, weight: number): WorkloadType => ({ ...shape, weight });

function snapWith(...nodes: ReturnType<typeof node>[]) {
  const snap = buildSnapshot([cluster('c', nodes)]);
  return { snap, cl: snap.clusters[0]! };
}

describe('nodeFragmentation (FGD measure)', () => {
  it('counts partial GPUs as fragments for whole-GPU tasks, and nothing for a fitting share', () => {
    const n = node('n', 2);
    n.gpus[0]!.milliUsed = 600; // 400 free on GPU0, GPU1 whole
    const { cl } = snapWith(n);
    const s = cl.nodes[0]!;
    expect(nodeFragmentation(s, [w(whole(1), 1)])).toBe(400);
    expect(nodeFragmentation(s, [w(frac(300), 1)])).toBe(0);
    // 500 milli fits only GPU1: the 400 left on GPU0 is a fragment.
    expect(nodeFragmentation(s, [w(frac(500), 1)])).toBe(400);
    // A 2-GPU task cannot run: everything free is fragment.
    expect(nodeFragmentation(s, [w(whole(2), 1)])).toBe(1400);
    // Weighted by popularity.
    expect(nodeFragmentation(s, [w(whole(1), 0.5), w(whole(2), 0.5)])).toBe(900);
  });

  it('treats all free GPUs as fragments when CPU is exhausted or the model is not allowed', () => {
    const { cl } = snapWith(node('n', 2, 'A100', { cpuAllocatedMilli: 64_000 }));
    expect(nodeFragmentation(cl.nodes[0]!, [w(whole(1), 1)])).toBe(2000);
    const { cl: c2 } = snapWith(node('n', 2));
    expect(nodeFragmentation(c2.nodes[0]!, [w({ ...whole(1), models: new Set(['H100']) }, 1)])).toBe(2000);
  });

  it('cpu-aware: GPU capacity that the CPU or memory of the node cannot feed to shares is a fragment too', () => {
    // 2 free GPUs hold eight 250-milli shares, but 3 CPUs feed only three of 1 CPU each: 2000 − 750.
    const { cl } = snapWith(node('n', 2, 'A100', { cpuAllocatedMilli: 61_000 }));
    const s = cl.nodes[0]!;
    expect(nodeFragmentation(s, [w(frac(250), 1)])).toBe(0);
    expect(nodeFragmentation(s, [w(frac(250), 1)], true)).toBe(1250);
    // Memory binds the same way; and with CPU for every share nothing changes.
    const { cl: c2 } = snapWith(node('n', 2, 'A100', { memoryAllocatedMiB: 512 * 1024 - 2048 }));
    expect(nodeFragmentation(c2.nodes[0]!, [w(frac(250), 1)], true)).toBe(1500);
    const { cl: c3 } = snapWith(node('n', 2));
    expect(nodeFragmentation(c3.nodes[0]!, [w(frac(250), 1)], true)).toBe(0);
    // Whole-GPU types keep the paper's measure.
    expect(nodeFragmentation(s, [w(whole(1), 1)], true)).toBe(nodeFragmentation(s, [w(whole(1), 1)]));
  });
});

describe('chooseNode', () => {
  const opts = (strategy: 'fgd' | 'best-fit' | 'first-fit' | 'random', workload: WorkloadType[] = [w(whole(8), 0.5), w(frac(500), 0.5)]) => ({
    strategy,
    workload,
    maxScan: 0,
    seed: 1,
  });

  it('fgd packs a fractional task onto a partly used GPU instead of breaking a whole node', () => {
    const a = node('a', 8);
    const b = node('b', 8);
    b.gpus[3]!.milliUsed = 500;
    const { cl } = snapWith(a, b);
    const alloc = chooseNode(indexesFor(cl, frac(500), 'A100'), frac(500), opts('fgd'))!;
    expect(alloc.node.name).toBe('b');
    expect(alloc.gpuIndices).toEqual([3]);
  });

  it('fgd keeps a whole free node for big gangs when a 1-GPU task arrives', () => {
    const a = node('a', 8);
    const b = node('b', 8);
    for (let g = 0; g < 4; g++) b.gpus[g]!.milliUsed = 1000;
    const { cl } = snapWith(a, b);
    const alloc = chooseNode(indexesFor(cl, whole(1), 'A100'), whole(1), opts('fgd', [w(whole(8), 1)]))!;
    expect(alloc.node.name).toBe('b');
  });

  it('skips unhealthy GPUs and cordoned nodes', () => {
    const a = node('a', 2, 'A100', { schedulable: false });
    const b = node('b', 2);
    b.gpus[0]!.healthy = false;
    const { cl } = snapWith(a, b);
    const alloc = chooseNode(indexesFor(cl, whole(1), 'A100'), whole(1), opts('best-fit'))!;
    expect(alloc.node.name).toBe('b');
    expect(alloc.gpuIndices).toEqual([1]);
    expect(chooseNode(indexesFor(cl, whole(2), 'A100'), whole(2), opts('best-fit'))).toBeNull();
  });

  it('first-fit takes the lowest node, best-fit the tightest', () => {
    const a = node('a', 8);
    const b = node('b', 2);
    const { cl } = snapWith(a, b);
    expect(chooseNode(indexesFor(cl, whole(1), 'A100'), whole(1), opts('first-fit'))!.node.name).toBe('a');
    expect(chooseNode(indexesFor(cl, whole(1), 'A100'), whole(1), opts('best-fit'))!.node.name).toBe('b');
  });
});

describe('placeGang', () => {
  const o = { strategy: 'fgd' as const, workload: [], maxScan: 0, seed: 1 };
  it('is all-or-nothing: a gang that does not fit leaves no reservation behind', () => {
    const { cl } = snapWith(node('a', 4), node('b', 4), node('c', 2));
    const before = [...cl.nodes].map((n) => [...n.used]);
    // 3 tasks × 4 GPUs: aggregate has 10 free but only two nodes hold 4.
    expect(placeGang(indexesFor(cl, whole(4), 'A100'), whole(4), 3, o)).toBeNull();
    expect(cl.nodes.map((n) => [...n.used])).toEqual(before);
    expect(cl.models.get('A100')!.freeWhole).toBe(10);
  });

  it('reserves every task of a gang that fits and updates the counters', () => {
    const { cl } = snapWith(node('a', 4), node('b', 4));
    const allocs = placeGang(indexesFor(cl, whole(2), 'A100'), whole(2), 3, o)!;
    expect(allocs).toHaveLength(3);
    expect(cl.models.get('A100')!.freeWhole).toBe(2);
  });

  it('never puts two fractional shares over 1000 milli on one GPU', () => {
    const { cl } = snapWith(node('a', 1));
    expect(placeGang(indexesFor(cl, frac(600), 'A100'), frac(600), 1, o)).not.toBeNull();
    expect(placeGang(indexesFor(cl, frac(600), 'A100'), frac(600), 1, o)).toBeNull();
    expect(placeGang(indexesFor(cl, frac(400), 'A100'), frac(400), 1, o)).not.toBeNull();
    expect(cl.nodes[0]!.used[0]).toBe(1000);
  });
});
