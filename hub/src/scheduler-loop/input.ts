// Builds one scheduling cycle's input from the store: clusters with node snapshots combined with the
// hub's own reservations (placed/dispatched/running jobs), the queued jobs, and projects with budget left.
import { GPU_SHARE_LABEL, type NodeInfo } from '@meridian/protocol/agent-protocol';
import type { ClusterSpec, CycleInput, JobSpec, NodeSpec, ProjectSpec, RunningAllocation, SchedulerConfig } from '../scheduler/index.ts';
import type { Queryable } from '../store/db.ts';
import { listClusters, listNodes } from '../store/repos/clusters.ts';
import { cacheFacts } from '../store/repos/datasets.ts';
import { listProjects, projectSpend } from '../store/repos/projects.ts';
import { activeAllocations, queuedJobs } from '../store/repos/scheduling.ts';
import type { QueuedRow } from '../store/repos/scheduling.ts';
import { dropShown, memberOnlyUse, placeMemberUse } from './capacity.ts';
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

/** A reported node with its GPUs free: the hub's reservations and then the member's other use fill them. */
function toNodeSpec(info: NodeInfo): NodeSpec {
  const gpuCount = Math.max(info.allocatable.gpus, info.gpus.length);
  const gpus = Array.from({ length: gpuCount }, (_, i) => ({ healthy: info.gpus.find((x) => x.index === i)?.healthy ?? true, milliUsed: 0 }));
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

/**
 * Marks the hub's reservations on the reported nodes (CPU and memory: max of reported and reserved, never
 * double). `shown` collects, per node, whole GPUs of this job that the member already counts untagged.
 */
function overlay(nodes: Map<string, NodeSpec>, a: RunningAllocation, reserved: Map<string, { cpu: number; mem: number }>, shown?: Map<string, number>): boolean {
  for (const t of a.tasks) if (!nodes.has(t.node)) return false;
  for (const t of a.tasks) {
    if (shown && 'gpuIndices' in t) shown.set(t.node, (shown.get(t.node) ?? 0) + t.gpuIndices.length);
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

/** Why a GPU-share job waits when no member can share (the loop writes it over the scheduler's reason). */
export const NO_GPU_SHARE = {
  code: 'NoGpuShare',
  reason:
    'no member can share a GPU: a milliGpu job needs a node that advertises GPU shares (Kubernetes: time-slicing replicas as nvidia.com/gpu.shared; Slurm: gres/shard); ask for whole GPUs (resources.gpus) or add such a node',
} as const;

/**
 * The clusters a GPU-share job may use: those with a node whose agent reports it can share, narrowed further by
 * `restrict` (Slurm-only requests) when there is one.
 */
export function shareClusters(live: { id: string }[], nodeRows: { clusterId: string; info: NodeInfo }[], restrict?: string[]): string[] {
  const can = new Set(nodeRows.filter((n) => n.info.labels?.[GPU_SHARE_LABEL]).map((n) => n.clusterId));
  return (restrict ?? live.map((c) => c.id)).filter((c) => can.has(c));
}

/** The cycle input plus the gate decisions (dependency waits and never-satisfiable jobs) the loop writes. */
export async function buildGatedInput(
  db: Queryable,
  now: number,
  config: SchedulerConfig,
  maxJobs = 5000,
): Promise<{ input: CycleInput; gates: GateResult; noShare: Set<string> }> {
  const [allClusters, nodeRows, projectRows, spend] = await Promise.all([listClusters(db), listNodes(db), listProjects(db), projectSpend(db)]);
  // an archived cluster takes no placements (its nodes are dropped too; this also covers a late snapshot)
  const clusterRows = allClusters.filter((c) => !c.archivedAt);
  const active = await activeAllocations(db);
  const queued = await queuedJobs(db, maxJobs);

  const clusters: ClusterSpec[] = [];
  const nodesByCluster = new Map<string, Map<string, NodeSpec>>();
  const kindOf = new Map(clusterRows.map((c) => [c.id, c.kind]));
  for (const c of clusterRows) {
    if (c.status === 'lost' || c.status === 'new') continue;
    const nodes = new Map(nodeRows.filter((n) => n.clusterId === c.id).map((n) => [n.name, toNodeSpec(n.info)]));
    nodesByCluster.set(c.id, nodes);
    clusters.push({ id: c.id, region: c.region, kind: c.kind, prices: c.prices, links: c.links, nodes: [...nodes.values()] });
  }
  const running: RunningAllocation[] = [];
  const reservedByCluster = new Map<string, Map<string, { cpu: number; mem: number }>>();
  const shownByCluster = new Map<string, Map<string, number>>();
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
    // Slurm counts a job's GPUs once it runs there; a Kubernetes pod names its job on the GPUs it holds.
    let shown: Map<string, number> | undefined;
    if (r.state === 'Running' && kindOf.get(r.cluster_id) === 'slurm') {
      shown = shownByCluster.get(r.cluster_id);
      if (!shown) shownByCluster.set(r.cluster_id, (shown = new Map()));
    }
    if (overlay(nodes, a, reserved, shown)) running.push(a);
  }
  // Then what the member runs besides: jobs and pods the hub never placed, on the GPUs the hub left.
  const hubJobs = new Map(active.map((r) => [r.id, new Set(Array.isArray(r.placement) ? r.placement.map((t) => t.node) : [])]));
  for (const [cid, nodes] of nodesByCluster) {
    const use = new Map(nodeRows.filter((n) => n.clusterId === cid && nodes.has(n.name)).map((n) => [n.name, memberOnlyUse(n.info, hubJobs)]));
    const shown = shownByCluster.get(cid);
    if (shown) dropShown(use, shown);
    for (const [name, amounts] of use) placeMemberUse(nodes.get(name)!, amounts);
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
  const noShare = new Set<string>();
  const jobs = queued
    .filter((q) => !gated.has(q.id))
    .map((q) => {
      if (!q.spec.resources.milliGpu) return toSchedulerJob(q, gates.restrict.get(q.id));
      const can = shareClusters(live, nodeRows, gates.restrict.get(q.id));
      if (!can.length) noShare.add(q.id);
      return toSchedulerJob(q, can);
    });
  const requested = new Map(queued.filter((q) => q.spec.datasets?.length).map((q) => [q.id, q.spec.datasets]));
  if (requested.size) applyLocality(jobs, requested, clusters, await cacheFacts(db, [...new Set([...requested.values()].flat().map((d) => d.name))]));
  return { input: { now, clusters, jobs, running, projects, config }, gates, noShare };
}
