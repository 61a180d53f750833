// GPU nodes keep CPU and memory for their free GPUs: a task asking for no GPU may not take what the GPU
// work queued would need there, waits under a reason that says so, and the failed-fit memo does not
// outlive a GPU placement that frees that room.
import { describe, expect, it } from 'vitest';
import { runCycle } from './cycle.ts';
import { Engine } from './engine.ts';
import type { ClusterSpec, JobSpec, Tier } from './model.ts';
import { buildWorkload, perGpuWeights } from './workload.ts';
import { validateStructure } from './validate.ts';

const gpuNode = (name: string): ClusterSpec['nodes'][number] => ({
  name,
  gpuModel: 'T4',
  gpus: [{ healthy: true, milliUsed: 0 }],
  cpuMilli: 8000,
  memoryMiB: 16384,
  cpuAllocatedMilli: 0,
  memoryAllocatedMiB: 0,
  schedulable: true,
});
const cluster = (): ClusterSpec => ({ id: 'c', region: 'us', kind: 'kubernetes', prices: { T4: { onDemand: 1 } }, links: [], nodes: [gpuNode('g')] });
const job = (id: string, cpu: number, gpus: number, tier: Tier = 'batch'): JobSpec => ({ id, project: 'p', tier, tasks: 1, cpuMilli: cpu, memoryMiB: 1024, gpus, expectedRuntimeSec: 60, submittedAt: 0 });

describe('CPU kept on GPU nodes for GPU work', () => {
  it('a CPU-only job that would take the CPU a queued GPU job needs waits, naming the reserve', () => {
    // The GPU job asks 4 CPUs per GPU: the node keeps 4 of its 8 CPUs while its GPU is free.
    const out = runCycle({ now: 0, clusters: [cluster()], jobs: [job('cpu', 6000, 0, 'realtime'), job('gpu', 4000, 1)], config: { backfill: false, preemption: false } });
    expect(out.placements.map((p) => p.jobId)).toEqual(['gpu']);
    expect(out.pending).toHaveLength(1);
    expect(out.pending[0]!.code).toBe('ReservedForGpus');
    expect(out.pending[0]!.reason).toMatch(/GPU nodes on c keep 4000 CPU milli and 1024 MiB per free GPU/);
  });

  it('with no GPU work queued, or the reserve turned off, the CPU-only job takes the GPU node', () => {
    const alone = runCycle({ now: 0, clusters: [cluster()], jobs: [job('cpu', 6000, 0)], config: { backfill: false, preemption: false } });
    expect(alone.placements.map((p) => p.jobId)).toEqual(['cpu']);
    const off = runCycle({ now: 0, clusters: [cluster()], jobs: [job('cpu', 6000, 0, 'realtime'), job('gpu', 4000, 1)], config: { backfill: false, preemption: false, gpuNodeReserve: false } });
    expect(off.placements.map((p) => p.jobId)).toEqual(['cpu']);
    expect(off.pending.map((p) => p.code)).toEqual(['InsufficientGPU']);
  });

  it('a GPU placement lowers the reserve, and a memoised failure does not hide it (memos on and off agree)', () => {
    for (const memo of [true, false]) {
      const e = new Engine({ now: 0, clusters: [cluster()], config: { backfill: false, preemption: false } }, { memo });
      e.setWorkload(buildWorkload([{ shape: { cpu: 4000, mem: 1024, gpus: 1, milli: 0, models: null }, count: 1 }]));
      e.beginCycle();
      expect(e.scheduleJob(job('cpu1', 5000, 0)).kind).toBe('pending');
      expect(e.scheduleJob(job('gpu', 2000, 1)).kind).toBe('placed');
      // The GPU is taken: nothing is kept back, and 6 CPUs are free for the same shape.
      expect(e.scheduleJob(job('cpu2', 5000, 0)).kind).toBe('placed');
    }
  });

  it('refuses a config.gpuNodeReserve or config.cpuAwareFragmentation that is not a boolean, naming the field', () => {
    expect(() => validateStructure({ now: 0, clusters: [cluster()], jobs: [], config: { gpuNodeReserve: 'yes' as unknown as boolean } })).toThrow(/config\.gpuNodeReserve: must be true or false, got "yes"/);
    expect(() => validateStructure({ now: 0, clusters: [cluster()], jobs: [], config: { cpuAwareFragmentation: 1 as unknown as boolean } })).toThrow(/config\.cpuAwareFragmentation: must be true or false, got 1/);
    expect(() => validateStructure({ now: 0, clusters: [cluster()], jobs: [], config: { workloadWeighting: 'per-job' as 'per-gpu' } })).toThrow(/config\.workloadWeighting.*per-gpu.*per-task/);
  });
});

describe('per-GPU workload weights', () => {
  it('divide each type by the GPUs one task asks for and sum to 1', () => {
    const w = buildWorkload([
      { shape: { cpu: 1000, mem: 1, gpus: 0, milli: 250, models: null }, count: 1 },
      { shape: { cpu: 1000, mem: 1, gpus: 8, milli: 0, models: null }, count: 1 },
      { shape: { cpu: 1000, mem: 1, gpus: 1, milli: 0, models: null }, count: 2 },
    ]);
    const p = perGpuWeights(w);
    const by = (gpus: number, milli: number): number => p.find((t) => t.gpus === gpus && t.milli === milli)!.weight;
    // Per task 1/4, 1/4, 1/2; per GPU 1, 1/32, 1/2 (÷ 49/32).
    expect(by(0, 250)).toBeCloseTo(32 / 49, 12);
    expect(by(8, 0)).toBeCloseTo(1 / 49, 12);
    expect(by(1, 0)).toBeCloseTo(16 / 49, 12);
    expect(p.reduce((s, t) => s + t.weight, 0)).toBeCloseTo(1, 12);
  });
});
