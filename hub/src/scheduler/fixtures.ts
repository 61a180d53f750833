// Small builders for tests, benchmarks and the simulator (no test framework imports here).
import type { ClusterSpec, JobSpec, NodeSpec, RunningAllocation } from './model.ts';

export function node(name: string, gpus: number, model = 'A100', o: Partial<NodeSpec> = {}): NodeSpec {
  return {
    name,
    gpuModel: gpus > 0 ? model : '',
    gpus: Array.from({ length: gpus }, () => ({ healthy: true, milliUsed: 0 })),
    cpuMilli: 64_000,
    memoryMiB: 512 * 1024,
    cpuAllocatedMilli: 0,
    memoryAllocatedMiB: 0,
    schedulable: true,
    ...o,
  };
}

export function cluster(id: string, nodes: NodeSpec[], o: Partial<ClusterSpec> = {}): ClusterSpec {
  return { id, region: o.region ?? `${id}-region`, kind: 'kubernetes', prices: { A100: { onDemand: 2, spot: 1 }, H100: { onDemand: 4, spot: 2 } }, links: [], nodes, ...o };
}

export function job(id: string, o: Partial<JobSpec> = {}): JobSpec {
  return {
    id,
    project: 'p',
    tier: 'batch',
    tasks: 1,
    cpuMilli: 1000,
    memoryMiB: 1024,
    gpus: 1,
    expectedRuntimeSec: 3600,
    submittedAt: 0,
    ...o,
  };
}

/**
 * A running allocation of `gpus` whole GPUs per task, and the matching node usage applied to `nodes`
 * (so inputs stay consistent: node allocation already counts running jobs).
 */
export function runningOn(c: ClusterSpec, nodeName: string, gpuIndices: number[], o: Partial<RunningAllocation> = {}): RunningAllocation {
  const n = c.nodes.find((x) => x.name === nodeName)!;
  for (const g of gpuIndices) n.gpus[g]!.milliUsed = 1000;
  const cpu = o.cpuMilli ?? 1000;
  const mem = o.memoryMiB ?? 1024;
  n.cpuAllocatedMilli += cpu;
  n.memoryAllocatedMiB += mem;
  return {
    jobId: `r-${nodeName}-${gpuIndices.join('')}`,
    project: 'other',
    tier: 'filler',
    clusterId: c.id,
    gpuModel: n.gpuModel ?? '',
    cpuMilli: cpu,
    memoryMiB: mem,
    gpus: gpuIndices.length,
    tasks: [{ node: nodeName, gpuIndices }],
    checkpointable: false,
    startedAt: 0,
    expectedRuntimeSec: 3600,
    ...o,
  };
}
