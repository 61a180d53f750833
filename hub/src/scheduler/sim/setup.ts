// Federations built from the OpenB trace: the whole cluster as one member, or its nodes dealt round-robin
// into three priced regions (so cost and locality policies have something to choose between).
import type { ClusterSpec, JobSpec, Tier } from '../model.ts';
import type { TaskShape, WorkloadType } from '../workload.ts';
import { buildWorkload } from '../workload.ts';
import type { TraceNode, TracePod } from './trace.ts';
import { podRequest, toNodeSpec } from './trace.ts';

/** Illustrative on-demand $/GPU-hour per trace GPU model (the trace has no prices). */
export const MODEL_PRICES: Record<string, number> = { G2: 1.2, G3: 1.6, T4: 0.35, P100: 0.8, V100M16: 1.5, V100M32: 2.0, A10: 0.9 };

export const REGIONS = [
  { id: 'us', priceFactor: 1.0 },
  { id: 'eu', priceFactor: 1.3 },
  { id: 'ap', priceFactor: 0.8 },
] as const;

function prices(factor: number): ClusterSpec['prices'] {
  return Object.fromEntries(Object.entries(MODEL_PRICES).map(([m, p]) => [m, { onDemand: p * factor, spot: p * factor * 0.4 }]));
}

export function oneCluster(nodes: TraceNode[]): ClusterSpec[] {
  return [{ id: 'openb', region: 'us', kind: 'kubernetes', prices: prices(1), links: [], nodes: nodes.map(toNodeSpec) }];
}

export function threeRegions(nodes: TraceNode[]): ClusterSpec[] {
  return REGIONS.map((r, i) => ({
    id: `openb-${r.id}`,
    region: r.id,
    kind: 'kubernetes' as const,
    prices: prices(r.priceFactor),
    // 1 GB/s between regions at $0.02/GB: a 200 GB dataset takes ~3 min and $4 to move.
    links: REGIONS.filter((o) => o.id !== r.id).map((o) => ({ region: o.id, bandwidthBytesPerSec: 1e9, egressUsdPerGB: 0.02 })),
    nodes: nodes.filter((_, k) => k % REGIONS.length === i).map(toNodeSpec),
  }));
}

export function podShape(p: TracePod): TaskShape {
  const r = podRequest(p);
  return { cpu: p.cpuMilli, mem: p.memoryMiB, gpus: r.gpus, milli: r.milliGpu ?? 0, models: p.gpuModels.length ? new Set(p.gpuModels) : null };
}

/** FGD's target workload: the trace's task types weighted by popularity. */
export function traceWorkload(pods: TracePod[], maxTypes = 64): WorkloadType[] {
  return buildWorkload(
    pods.map((p) => ({ shape: podShape(p), count: 1 })),
    maxTypes,
  );
}

export function podJob(p: TracePod, id: string, submittedAt: number, runtimeSec: number, tier: Tier = 'batch'): JobSpec {
  return {
    id,
    project: p.qos || 'default',
    tier,
    tasks: 1,
    cpuMilli: p.cpuMilli,
    memoryMiB: p.memoryMiB,
    ...podRequest(p),
    ...(p.gpuModels.length ? { gpuModels: p.gpuModels } : {}),
    expectedRuntimeSec: Math.max(1, runtimeSec),
    submittedAt,
  };
}

export function gpuCapacityMilli(clusters: ClusterSpec[]): number {
  let s = 0;
  for (const c of clusters) for (const n of c.nodes) s += n.gpus.length * 1000;
  return s;
}
