// Builds one scheduling cycle's input from the store: clusters with node snapshots overlaid with the
// hub's own reservations (placed/dispatched/running jobs), the queued jobs, and projects with budget left.
import type { NodeInfo } from '@meridian/protocol/agent-protocol';
import type { ClusterSpec, CycleInput, JobSpec, NodeSpec, ProjectSpec, RunningAllocation, SchedulerConfig } from '../scheduler/index.ts';
import type { Queryable } from '../store/db.ts';
import { listClusters, listNodes } from '../store/repos/clusters.ts';
import { cacheFacts } from '../store/repos/datasets.ts';
import { listProjects, projectSpend } from '../store/repos/projects.ts';
import { activeAllocations, queuedJobs } from '../store/repos/scheduling.ts';
import type { QueuedRow } from '../store/repos/scheduling.ts';
import { applyLocality } from './datasets.ts';
import { clusterNodes, gateQueued, type GateResult } from './gates.ts';
import { NO_CLUSTER } from './slurm-rules.ts';

/** A queued row → the scheduler's job; `restrict` (Slurm-only requests) narrows the clusters it may use. */
export function toSchedulerJob(r: QueuedRow, restrict?: string[]): JobSpec {
  const s = r.spec;
  const clusters = restrict ? (s.placement.clusters?.length ? restrict.filter((c) => s.placement.clusters!.includes(c)) : restrict) : s.placement.clusters;
  return {
    id: r.id,
    project: r.project,
    tier: r.tier,
    priority: r.priority,
    tasks: s.tasks,
    cpuMilli: s.resources.cpu,
    memoryMiB: s.resources.memory,
    gpus: s.resources.gpus,
    ...(s.resources.milliGpu ? { milliGpu: s.resources.milliGpu } : {}),
    ...(s.resources.gpuModels?.length ? { gpuModels: s.resources.gpuModels } : {}),
    ...(s.placement.regions?.length ? { regions: s.placement.regions } : {}),
    ...(clusters?.length ? { clusters } : restrict ? { clusters: [NO_CLUSTER] } : {}),
    ...(s.placement.policy ? { policy: s.placement.policy } : {}),
    expectedRuntimeSec: s.expectedRuntime ?? s.maxRuntime,
    checkpointable: Boolean(s.checkpoint),
    submittedAt: r.submitted_ms,
  };
}

function toNodeSpec(info: NodeInfo): NodeSpec {
  const gpuCount = Math.max(info.allocatable.gpus, info.gpus.length);
  const gpus = Array.from({ length: gpuCount }, (_, i) => {
    const g = info.gpus.find((x) => x.index === i);
    const used = g ? g.milliUsed || (g.jobId ? 1000 : 0) : i < info.requested.gpus ? 1000 : 0;
    return { healthy: g ? g.healthy : true, milliUsed: Math.min(1000, used) };
  });
  return {
    name: info.name,
    gpuModel: gpuCount > 0 ? (info.gpuModel ?? 'unknown') : '',
    gpus,
    cpuMilli: info.allocatable.cpuMilli,
    memoryMiB: info.allocatable.memoryMiB,
    cpuAllocatedMilli: info.requested.cpuMilli,
    memoryAllocatedMiB: info.requested.memoryMiB,
    schedulable: info.ready && !info.unschedulable,
  };
}

/** Marks the hub's reservations on the reported nodes (max of reported and reserved, never double). */
function overlay(nodes: Map<string, NodeSpec>, a: RunningAllocation, reserved: Map<string, { cpu: number; mem: number }>): boolean {
  for (const t of a.tasks) if (!nodes.has(t.node)) return false;
  for (const t of a.tasks) {
    const n = nodes.get(t.node)!;
    if ('gpuIndices' in t) for (const i of t.gpuIndices) if (n.gpus[i]) n.gpus[i]!.milliUsed = 1000;
    if ('gpuIndex' in t && n.gpus[t.gpuIndex]) n.gpus[t.gpuIndex]!.milliUsed = Math.min(1000, n.gpus[t.gpuIndex]!.milliUsed + t.milli);
    const r = reserved.get(t.node) ?? { cpu: 0, mem: 0 };
    r.cpu += a.cpuMilli;
    r.mem += a.memoryMiB;
    reserved.set(t.node, r);
  }
  return true;
}

export async function buildCycleInput(db: Queryable, now: number, config: SchedulerConfig, maxJobs = 5000): Promise<CycleInput> {
  return (await buildGatedInput(db, now, config, maxJobs)).input;
}

/** The cycle input plus the gate decisions (dependency waits and never-satisfiable jobs) the loop writes. */
export async function buildGatedInput(db: Queryable, now: number, config: SchedulerConfig, maxJobs = 5000): Promise<{ input: CycleInput; gates: GateResult }> {
  const [allClusters, nodeRows, projectRows, spend] = await Promise.all([listClusters(db), listNodes(db), listProjects(db), projectSpend(db)]);
  // an archived cluster takes no placements (its nodes are dropped too; this also covers a late snapshot)
  const clusterRows = allClusters.filter((c) => !c.archivedAt);
  const active = await activeAllocations(db);
  const queued = await queuedJobs(db, maxJobs);

  const clusters: ClusterSpec[] = [];
  const nodesByCluster = new Map<string, Map<string, NodeSpec>>();
  for (const c of clusterRows) {
    if (c.status === 'lost' || c.status === 'new') continue;
    const nodes = new Map(nodeRows.filter((n) => n.clusterId === c.id).map((n) => [n.name, toNodeSpec(n.info)]));
    nodesByCluster.set(c.id, nodes);
    clusters.push({ id: c.id, region: c.region, kind: c.kind, prices: c.prices, links: c.links, nodes: [...nodes.values()] });
  }
  const running: RunningAllocation[] = [];
  const reservedByCluster = new Map<string, Map<string, { cpu: number; mem: number }>>();
  for (const r of active) {
    const nodes = nodesByCluster.get(r.cluster_id);
    if (!nodes || !Array.isArray(r.placement)) continue;
    const s = r.spec;
    const a: RunningAllocation = {
      jobId: r.id,
      project: r.project,
      tier: r.tier,
      clusterId: r.cluster_id,
      ...(r.gpu_model ? { gpuModel: r.gpu_model } : {}),
      cpuMilli: s.resources.cpu,
      memoryMiB: s.resources.memory,
      gpus: s.resources.gpus,
      ...(s.resources.milliGpu ? { milliGpu: s.resources.milliGpu } : {}),
      tasks: r.placement,
      checkpointable: Boolean(s.checkpoint),
      startedAt: r.started_ms,
      expectedRuntimeSec: s.expectedRuntime ?? s.maxRuntime,
    };
    let reserved = reservedByCluster.get(r.cluster_id);
    if (!reserved) reservedByCluster.set(r.cluster_id, (reserved = new Map()));
    if (overlay(nodes, a, reserved)) running.push(a);
  }
  for (const [cid, reserved] of reservedByCluster)
    for (const [name, r] of reserved) {
      const n = nodesByCluster.get(cid)!.get(name)!;
      n.cpuAllocatedMilli = Math.max(n.cpuAllocatedMilli, r.cpu);
      n.memoryAllocatedMiB = Math.max(n.memoryAllocatedMiB, r.mem);
    }

  const projects: ProjectSpec[] = projectRows.map((p) => {
    const spent = spend.get(p.name) ?? { gpuHours: 0, usd: 0 };
    const budget = p.budget
      ? {
          ...(p.budget.gpuHours !== undefined ? { gpuHours: p.budget.gpuHours - spent.gpuHours } : {}),
          ...(p.budget.usd !== undefined ? { usd: p.budget.usd - spent.usd } : {}),
        }
      : undefined;
    return {
      name: p.name,
      weight: p.weight,
      ...(p.quota ? { quota: p.quota } : {}),
      ...(budget ? { budget } : {}),
      ...(p.policy ? { policy: p.policy as ProjectSpec['policy'] } : {}),
      ...(p.weights ? { weights: p.weights } : {}),
      ...(p.maxPending !== null ? { maxPending: p.maxPending } : {}),
    };
  });
  const live = clusterRows.filter((c) => c.status !== 'lost' && c.status !== 'new');
  const gates = await gateQueued(db, queued.map((q) => ({ id: q.id, user_id: q.user_id ?? null, spec: q.spec })), clusterNodes(live, nodeRows), now);
  const gated = new Set([...gates.waiting, ...gates.never].map((g) => g.id));
  const jobs = queued.filter((q) => !gated.has(q.id)).map((q) => toSchedulerJob(q, gates.restrict.get(q.id)));
  const requested = new Map(queued.filter((q) => q.spec.datasets?.length).map((q) => [q.id, q.spec.datasets]));
  if (requested.size) applyLocality(jobs, requested, clusters, await cacheFacts(db, [...new Set([...requested.values()].flat().map((d) => d.name))]));
  return { input: { now, clusters, jobs, running, projects, config }, gates };
}
