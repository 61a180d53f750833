import { describe, expect, it } from 'vitest';
import type { NodeInfo } from '@meridian/protocol/agent-protocol';
import type { NodeSpec } from '../scheduler/index.ts';
import { dropShown, memberOnlyUse, placeMemberUse } from './capacity.ts';

const amounts = { cpuMilli: 8000, memoryMiB: 16000, gpus: 8, rdma: 0 };
function info(gpus: NodeInfo['gpus'], requestedGpus: number): NodeInfo {
  return { name: 'n', capacity: amounts, allocatable: amounts, requested: { ...amounts, gpus: requestedGpus }, gpus, labels: {}, taints: [], unschedulable: false, ready: true };
}
const gpu = (index: number, milliUsed = 0, jobId?: string, healthy = true) => ({ index, healthy, milliUsed, ...(jobId ? { jobId } : {}) });
function node(used: number[], unhealthy: number[] = []): NodeSpec {
  return { name: 'n', gpuModel: 'a100', gpus: Array.from({ length: 8 }, (_, i) => ({ healthy: !unhealthy.includes(i), milliUsed: used.includes(i) ? 1000 : 0 })), cpuMilli: 8000, memoryMiB: 16000, cpuAllocatedMilli: 0, memoryAllocatedMiB: 0, schedulable: true };
}
const usedCount = (n: NodeSpec) => n.gpus.filter((g) => g.milliUsed > 0).length;

describe('member-reported GPU use next to the hub reservations', () => {
  it('Kubernetes: a pod the hub did not create counts; a hub pod the agent put on other indices is not counted twice', () => {
    // agent: hub job 7 on 0-1, someone else's pod on 2-5; hub: job 7 reserved on 6-7
    const report = info([gpu(0, 1000, '7'), gpu(1, 1000, '7'), gpu(2, 1000), gpu(3, 1000), gpu(4, 1000), gpu(5, 1000), gpu(6), gpu(7)], 6);
    const use = memberOnlyUse(report, new Map([['7', new Set(['n'])]]));
    expect(use).toEqual([1000, 1000, 1000, 1000]);
    const n = node([6, 7]);
    placeMemberUse(n, use);
    expect(usedCount(n)).toBe(6);
    expect(n.gpus.map((g) => g.milliUsed)).toEqual([1000, 1000, 1000, 1000, 0, 0, 1000, 1000]);
  });

  it('a GPU tagged with a job the hub no longer holds is still in use', () => {
    expect(memberOnlyUse(info([gpu(0, 1000, '9')], 1), new Map([['7', new Set(['n'])]]))).toEqual([1000]);
  });

  it('a hub pod that landed on another node than the hub chose counts where it runs', () => {
    expect(memberOnlyUse(info([gpu(0, 1000, '7')], 1), new Map([['7', new Set(['other'])]]))).toEqual([1000]);
  });

  it('Slurm: native jobs count; a hub job Slurm runs is in the count once; a dispatch in flight is added on top', () => {
    // Slurm says 6 of 8 in use; 2 of them are a hub job that runs there (shown), 2 more are a hub dispatch Slurm has not started
    const report = info([0, 1, 2, 3, 4, 5, 6, 7].map((i) => gpu(i, i < 6 ? 1000 : 0)), 6);
    const use = new Map([['n', memberOnlyUse(report, new Map())]]);
    dropShown(use, new Map([['n', 2]]));
    expect(use.get('n')).toHaveLength(4);
    const n = node([0, 1, 2, 3]); // hub: running job on 0-1, dispatched job on 2-3
    placeMemberUse(n, use.get('n')!);
    expect(usedCount(n)).toBe(8);
  });

  it('Slurm: a hub job Slurm started on other nodes than the hub chose comes off the count once', () => {
    // hub placed a 4-GPU job on a, Slurm runs it on b; native jobs hold 2 GPUs on a and 1 on c
    const use = new Map([['a', [1000, 1000]], ['b', [1000, 1000, 1000, 1000]], ['c', [1000]]]);
    dropShown(use, new Map([['a', 4]]));
    // 7 in use by Slurm's count, 4 of them the hub's own (reserved on a): 3 more, wherever they sit
    expect([...use.values()].flat()).toHaveLength(3);
    // shares are never taken for a whole GPU
    const shares = new Map([['a', [500]]]);
    dropShown(shares, new Map([['a', 1]]));
    expect(shares.get('a')).toEqual([500]);
  });

  it('a report with only a count (no per-GPU use) still counts', () => {
    expect(memberOnlyUse(info([], 3), new Map())).toEqual([1000, 1000, 1000]);
    expect(memberOnlyUse(info([gpu(0), gpu(1), gpu(2), gpu(3)], 4), new Map())).toEqual([1000, 1000, 1000, 1000]);
  });

  it('shares pack onto partly used GPUs; healthy GPUs take member use first; overflow is dropped', () => {
    const n = node([], [0]);
    placeMemberUse(n, [1000, 300, 500]);
    expect(n.gpus.map((g) => g.milliUsed)).toEqual([0, 1000, 800, 0, 0, 0, 0, 0]);
    const full = node([0, 1, 2, 3, 4, 5, 6, 7]);
    placeMemberUse(full, [1000]);
    expect(full.gpus.every((g) => g.milliUsed === 1000)).toBe(true);
  });
});
