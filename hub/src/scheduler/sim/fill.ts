// The FGD paper's experiment (Weng et al., ATC '23, §6): keep submitting tasks sampled from the trace to
// an empty cluster, never releasing any, until the GPU requests that arrived are well past capacity;
// a task that does not fit is dropped. What matters is the share of GPUs left unallocated: GPUs stranded
// by fragmentation. Runs through the real Engine, so node and cluster policies are the production code.
import type { ClusterSpec, NodeStrategy, PolicyName, SchedulerConfig } from '../model.ts';
import type { EngineOptions } from '../engine.ts';
import { Engine } from '../engine.ts';
import type { JobSpec } from '../model.ts';
import { makeRng } from '../rng.ts';
import type { WorkloadType } from '../workload.ts';
import type { TracePod } from './trace.ts';
import { gpuCapacityMilli, podJob } from './setup.ts';

export interface FillOptions {
  clusters: ClusterSpec[];
  pods: TracePod[];
  workload: WorkloadType[];
  strategy: NodeStrategy;
  policy: PolicyName;
  seed: number;
  /** Stop when arrived GPU requests reach this multiple of capacity. */
  until: number;
  /** Nodes scored per task (0 = all, as in the paper). */
  maxNodesScored: number;
  /** Arrived-share points at which to record the curve. */
  checkpoints?: number[];
  /**
   * Tasks per scheduling cycle (default 1: each task decided on arrival, as FGD does). Above 1, arrivals
   * are gathered into cycles of this many and each cycle is decided in `order`; a task that does not fit
   * in its cycle is dropped, as on arrival.
   */
  batch?: number;
  order?: (jobs: JobSpec[]) => JobSpec[];
  /** Scheduler settings beyond the above (the paper's FGD: gpuNodeReserve off). */
  config?: Partial<SchedulerConfig>;
  /** Engine options (tests: memos off). */
  engine?: EngineOptions;
}

export interface FillPoint {
  arrivedShare: number;
  unallocatedShare: number;
}

export interface FillResult {
  capacityGpus: number;
  tasksArrived: number;
  tasksPlaced: number;
  unallocatedShare: number;
  curve: FillPoint[];
}

export function runFill(o: FillOptions): FillResult {
  const engine = new Engine(
    {
      now: 0,
      clusters: o.clusters,
      config: { seed: o.seed, nodeStrategy: o.strategy, defaultPolicy: o.policy, maxNodesScored: o.maxNodesScored, preemption: false, backfill: false, ...o.config },
    },
    o.engine,
  );
  engine.setWorkload(o.workload);
  engine.beginCycle();
  const capacity = gpuCapacityMilli(o.clusters);
  const rng = makeRng(o.seed ^ 0x5eed);
  const points = [...(o.checkpoints ?? [0.5, 0.7, 0.9, 1.0, 1.1, 1.2, 1.3])].sort((a, b) => a - b);
  const curve: FillPoint[] = [];
  let arrived = 0;
  let allocated = 0;
  let tasks = 0;
  let placed = 0;
  const batch = Math.max(1, o.batch ?? 1);
  const milliOf = (j: JobSpec): number => j.tasks * (j.gpus > 0 ? j.gpus * 1000 : (j.milliGpu ?? 0));
  let cycle: JobSpec[] = [];
  // Checkpoints are read at cycle ends: a cycle's tasks have all arrived before any is decided.
  const decide = (): void => {
    for (const j of o.order && cycle.length > 1 ? o.order(cycle) : cycle) {
      if (engine.scheduleJob(j).kind === 'placed') {
        allocated += milliOf(j);
        placed++;
      }
    }
    cycle = [];
    while (points.length && arrived >= points[0]! * capacity) {
      curve.push({ arrivedShare: points.shift()!, unallocatedShare: 1 - allocated / capacity });
    }
  };
  while (arrived < o.until * capacity) {
    const p = o.pods[Math.floor(rng() * o.pods.length)]!;
    tasks++;
    const j = podJob(p, `t${tasks}`, tasks, 3600);
    arrived += milliOf(j);
    cycle.push(j);
    if (cycle.length >= batch || arrived >= o.until * capacity) decide();
  }
  return { capacityGpus: capacity / 1000, tasksArrived: tasks, tasksPlaced: placed, unallocatedShare: 1 - allocated / capacity, curve };
}
