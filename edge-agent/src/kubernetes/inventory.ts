// Inventory up: node and pod informers → agent protocol NodeInfo, a full snapshot once both have listed,
// then batched deltas carrying only nodes whose NodeInfo actually changed (a KWOK or kubelet heartbeat that
// only moves lastHeartbeatTime produces nothing). The translation (podUsage, nodeInfo) is pure and tested
// on its own; InventoryTracker does the I/O.
import type * as k8s from '@kubernetes/client-node';
import type { V1Node, V1Pod, V1ResourceRequirements } from '@kubernetes/client-node';
import type { AgentEvent, NodeInfo } from '@meridian/protocol/agent-protocol';
import { GPU_SHARE_LABEL, LABELS } from '@meridian/protocol/agent-protocol';
import { KeptInformer, rawList } from './informer.ts';
import { count, cpuMilli, memoryMiB } from './quantity.ts';

export interface InventoryOptions {
  /** Node label with the GPU model (GPU feature discovery's `nvidia.com/gpu.product`). */
  gpuModelLabel: string;
  /** Extended resource for whole GPUs. */
  gpuResource: string;
  rdmaResource: string;
  /**
   * Time-slicing replicas as the NVIDIA device plugin advertises them (`renameByDefault`: nvidia.com/gpu.shared),
   * `sharedGpuReplicas` per physical GPU (its `replicas` setting). A node with some is one Meridian shares.
   */
  sharedGpuResource: string;
  sharedGpuReplicas: number;
  /** Taint keys Meridian's pods tolerate: such a taint does not make a node unschedulable for the hub. */
  toleratedTaints: string[];
}

export const DEFAULT_INVENTORY_OPTIONS: InventoryOptions = {
  gpuModelLabel: 'nvidia.com/gpu.product',
  gpuResource: 'nvidia.com/gpu',
  rdmaResource: 'rdma/hca',
  sharedGpuResource: 'nvidia.com/gpu.shared',
  sharedGpuReplicas: 10,
  toleratedTaints: [],
};

/** Annotations the agent writes on nodes (the hub's wishes survive an agent restart this way). */
export const NODE_ANNOTATIONS = {
  /** Set when the hub cordoned the node; its value is the reason. */
  hubCordon: 'meridian.dev/hub-cordon',
  /** JSON list of taints the hub asked for. */
  hubTaints: 'meridian.dev/hub-taints',
} as const;

/** What one bound, non-terminal pod takes from its node. */
export interface PodUsage {
  key: string;
  node: string;
  cpuMilli: number;
  memoryMiB: number;
  gpus: number;
  milliGpu: number;
  rdma: number;
  jobId?: string;
  /** The GPU the hub chose for a share (pod annotation meridian.dev/gpu-index). */
  gpuIndex?: number;
}

/** On a share's pods: the index of the GPU the hub chose (whole GPUs first, then the time-sliced ones). */
export const GPU_INDEX_ANNOTATION = 'meridian.dev/gpu-index';

interface Amounts {
  cpuMilli: number;
  memoryMiB: number;
  gpus: number;
  milliGpu: number;
  rdma: number;
}

function containerAmounts(r: V1ResourceRequirements | undefined, o: InventoryOptions): Amounts {
  // Requests default to limits when only limits are set (always so for extended resources).
  const get = (name: string): string | undefined => r?.requests?.[name] ?? r?.limits?.[name];
  return {
    cpuMilli: cpuMilli(get('cpu')),
    memoryMiB: memoryMiB(get('memory')),
    gpus: count(get(o.gpuResource)),
    // a replica is 1000 / replicas milli-GPU of one time-sliced GPU
    milliGpu: Math.round((count(get(o.sharedGpuResource)) * 1000) / Math.max(1, o.sharedGpuReplicas)),
    rdma: count(get(o.rdmaResource)),
  };
}

/** A pod's effective request (sum of containers, at least the largest init container, plus overhead); null when it holds nothing. */
export function podUsage(pod: V1Pod, o: InventoryOptions = DEFAULT_INVENTORY_OPTIONS): PodUsage | null {
  const node = pod.spec?.nodeName;
  const phase = pod.status?.phase;
  if (!node || phase === 'Succeeded' || phase === 'Failed') return null;
  const sum: Amounts = { cpuMilli: 0, memoryMiB: 0, gpus: 0, milliGpu: 0, rdma: 0 };
  const keys = Object.keys(sum) as (keyof Amounts)[];
  for (const c of pod.spec?.containers ?? []) {
    const a = containerAmounts(c.resources, o);
    for (const k of keys) sum[k] += a[k];
  }
  for (const c of pod.spec?.initContainers ?? []) {
    const a = containerAmounts(c.resources, o);
    for (const k of keys) sum[k] = Math.max(sum[k], a[k]);
  }
  const overhead = pod.spec?.overhead;
  if (overhead) {
    sum.cpuMilli += cpuMilli(overhead.cpu);
    sum.memoryMiB += memoryMiB(overhead.memory);
  }
  const jobId = pod.metadata?.labels?.[LABELS.jobId];
  const gpuIndex = Number(pod.metadata?.annotations?.[GPU_INDEX_ANNOTATION] ?? NaN);
  return { key: `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`, node, ...sum, ...(jobId ? { jobId } : {}), ...(Number.isInteger(gpuIndex) && gpuIndex >= 0 ? { gpuIndex } : {}) };
}

export function sameUsage(a: PodUsage | null | undefined, b: PodUsage | null | undefined): boolean {
  if (!a || !b) return a === b || (!a && !b);
  return a.node === b.node && a.cpuMilli === b.cpuMilli && a.memoryMiB === b.memoryMiB && a.gpus === b.gpus && a.milliGpu === b.milliGpu && a.rdma === b.rdma && a.jobId === b.jobId && a.gpuIndex === b.gpuIndex;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** One node as agent protocol v1 NodeInfo, given the pods bound to it. */
export function nodeInfo(node: V1Node, usages: Iterable<PodUsage>, o: InventoryOptions = DEFAULT_INVENTORY_OPTIONS): NodeInfo {
  const cap = node.status?.capacity ?? {};
  const alloc = node.status?.allocatable ?? {};
  const R = Math.max(1, o.sharedGpuReplicas);
  const shared = (r: Record<string, string>) => Math.floor(count(r[o.sharedGpuResource]) / R);
  const amounts = (r: Record<string, string>) => ({
    cpuMilli: cpuMilli(r.cpu),
    memoryMiB: round3(memoryMiB(r.memory)),
    gpus: count(r[o.gpuResource]) + shared(r),
    rdma: count(r[o.rdmaResource]),
  });
  const requested = { cpuMilli: 0, memoryMiB: 0, gpus: 0, rdma: 0 };
  const sorted = [...usages].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const u of sorted) {
    requested.cpuMilli += u.cpuMilli;
    requested.memoryMiB += u.memoryMiB;
    requested.gpus += u.gpus;
    requested.rdma += u.rdma;
  }
  requested.memoryMiB = round3(requested.memoryMiB);

  // GPUs: the device plugin withdraws unhealthy devices from allocatable, so capacity − allocatable are unhealthy.
  // Whole GPUs (indices first) go to pods in a stable order; the time-sliced GPUs follow them and take the
  // shares: on the GPU the hub chose (annotation), else first-fit.
  const capWhole = count(cap[o.gpuResource]);
  const allocWhole = Math.min(capWhole, count(alloc[o.gpuResource]));
  const capShared = shared(cap);
  const allocShared = Math.min(capShared, shared(alloc));
  const gpus: NodeInfo['gpus'] = Array.from({ length: capWhole + capShared }, (_, index) => ({
    index,
    healthy: index < capWhole ? index < allocWhole : index - capWhole < allocShared,
    milliUsed: 0,
  }));
  let next = 0;
  for (const u of sorted) {
    for (let i = 0; i < u.gpus && next < allocWhole; i++, next++) {
      const g = gpus[next]!;
      g.milliUsed = 1000;
      if (u.jobId) g.jobId = u.jobId;
    }
  }
  const sharable = gpus.slice(capWhole, capWhole + allocShared);
  for (const u of sorted) {
    if (u.milliGpu <= 0) continue;
    const chosen = u.gpuIndex !== undefined ? sharable.find((x) => x.index === u.gpuIndex) : undefined;
    const g = chosen ?? sharable.find((x) => x.milliUsed + u.milliGpu <= 1000) ?? sharable.find((x) => x.milliUsed < 1000);
    if (!g) continue;
    g.milliUsed = Math.min(1000, g.milliUsed + u.milliGpu);
    if (u.jobId && !g.jobId) g.jobId = u.jobId;
  }

  const taints = (node.spec?.taints ?? []).map((t) => ({ key: t.key, ...(t.value ? { value: t.value } : {}), effect: t.effect }));
  const cordoned = node.spec?.unschedulable === true;
  const blocking = taints.find(
    (t) => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && t.key !== 'node.kubernetes.io/unschedulable' && !o.toleratedTaints.includes(t.key),
  );
  const readyCond = node.status?.conditions?.find((c) => c.type === 'Ready');
  const ready = readyCond?.status === 'True';
  const hubReason = node.metadata?.annotations?.[NODE_ANNOTATIONS.hubCordon];
  let reason: string | undefined;
  if (cordoned) reason = hubReason ? `cordoned by the hub: ${hubReason}` : 'cordoned';
  else if (blocking) reason = `taint ${blocking.key}${blocking.value ? `=${blocking.value}` : ''}:${blocking.effect}`;
  else if (!ready) reason = `not ready: ${readyCond?.reason ?? 'no Ready condition'}${readyCond?.message ? ` (${readyCond.message})` : ''}`;
  const model = node.metadata?.labels?.[o.gpuModelLabel];
  return {
    name: node.metadata?.name ?? '',
    ...(model ? { gpuModel: model } : {}),
    capacity: amounts(cap),
    allocatable: amounts(alloc),
    requested,
    gpus,
    labels: { ...(node.metadata?.labels ?? {}), ...(capShared > 0 ? { [GPU_SHARE_LABEL]: 'time-slicing' } : {}) },
    taints,
    unschedulable: cordoned || Boolean(blocking),
    ready,
    ...(reason ? { reason } : {}),
  };
}

export interface InventoryTrackerOptions extends InventoryOptions {
  emit: (event: AgentEvent) => void;
  /** Batch node changes for this long before sending a delta. */
  deltaIntervalMs: number;
  /** Upserts per delta event at most (big clusters send several). */
  maxPerDelta: number;
  onNode?: (node: V1Node) => void;
  onHealth?: (ok: boolean, err?: string) => void;
}

const podFieldSelector = 'status.phase!=Succeeded,status.phase!=Failed';

export class InventoryTracker {
  readonly nodes: KeptInformer<V1Node>;
  readonly pods: KeptInformer<V1Pod>;
  private readonly usage = new Map<string, PodUsage>();
  private readonly byNode = new Map<string, Map<string, PodUsage>>();
  private readonly dirty = new Set<string>();
  private readonly sent = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private snapshotSent = false;
  /** Counters for /metrics. */
  readonly stats = { snapshots: 0, deltas: 0, nodeUpserts: 0, nodeDeletes: 0, lastSnapshotMs: 0 };

  constructor(
    kc: k8s.KubeConfig,
    private readonly o: InventoryTrackerOptions,
  ) {
    const health = (ok: boolean, err?: string) => o.onHealth?.(ok, err);
    this.nodes = new KeptInformer<V1Node>(kc, '/api/v1/nodes', rawList<V1Node>(kc, '/api/v1/nodes'), {
      upsert: (n) => {
        this.mark(n.metadata?.name);
        o.onNode?.(n);
      },
      remove: (n) => this.mark(n.metadata?.name),
      onHealth: health,
    });
    this.pods = new KeptInformer<V1Pod>(kc, '/api/v1/pods', rawList<V1Pod>(kc, '/api/v1/pods', { fieldSelector: podFieldSelector }), {
      upsert: (p) => this.podChanged(p),
      remove: (p) => this.podGone(p),
      onHealth: health,
    }, { fieldSelector: podFieldSelector });
  }

  /** Starts both informers; resolves after the first snapshot was emitted. */
  async start(): Promise<void> {
    const t0 = Date.now();
    this.nodes.start();
    this.pods.start();
    await Promise.all([this.nodes.synced, this.pods.synced]);
    this.sendSnapshot();
    this.stats.lastSnapshotMs = Date.now() - t0;
    this.timer = setInterval(() => this.flush(), this.o.deltaIntervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.all([this.nodes.stop(), this.pods.stop()]);
  }

  get healthy(): boolean {
    return this.nodes.healthy && this.pods.healthy;
  }

  /** Current NodeInfo of every node. */
  snapshot(): NodeInfo[] {
    return this.nodes
      .list()
      .map((n) => nodeInfo(n, this.byNode.get(n.metadata?.name ?? '')?.values() ?? [], this.o))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Emits a full snapshot (at start, and after a reconnect to a hub that may have missed deltas). */
  sendSnapshot(): void {
    const nodes = this.snapshot();
    this.sent.clear();
    for (const n of nodes) this.sent.set(n.name, JSON.stringify(n));
    this.dirty.clear();
    this.snapshotSent = true;
    this.stats.snapshots++;
    this.o.emit({ type: 'inventory.snapshot', nodes });
  }

  private mark(name: string | undefined): void {
    if (name) this.dirty.add(name);
  }

  private podChanged(p: V1Pod): void {
    const key = `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
    const before = this.usage.get(key);
    const after = podUsage(p, this.o);
    if (sameUsage(before, after)) return;
    if (before) {
      this.byNode.get(before.node)?.delete(key);
      this.mark(before.node);
    }
    if (after) {
      this.usage.set(key, after);
      let m = this.byNode.get(after.node);
      if (!m) this.byNode.set(after.node, (m = new Map()));
      m.set(key, after);
      this.mark(after.node);
    } else this.usage.delete(key);
  }

  private podGone(p: V1Pod): void {
    const key = `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
    const before = this.usage.get(key);
    if (!before) return;
    this.usage.delete(key);
    this.byNode.get(before.node)?.delete(key);
    this.mark(before.node);
  }

  /** Sends one delta with every dirty node whose NodeInfo changed (called on a timer). */
  flush(): void {
    if (!this.snapshotSent || this.dirty.size === 0) return;
    const upserts: NodeInfo[] = [];
    const deletes: string[] = [];
    for (const name of this.dirty) {
      const node = this.nodes.get(name);
      if (!node) {
        if (this.sent.delete(name)) deletes.push(name);
        continue;
      }
      const info = nodeInfo(node, this.byNode.get(name)?.values() ?? [], this.o);
      const json = JSON.stringify(info);
      if (this.sent.get(name) === json) continue;
      this.sent.set(name, json);
      upserts.push(info);
    }
    this.dirty.clear();
    for (let i = 0; i < upserts.length || (i === 0 && deletes.length); i += this.o.maxPerDelta) {
      const chunk = upserts.slice(i, i + this.o.maxPerDelta);
      const dels = i === 0 ? deletes : [];
      this.stats.deltas++;
      this.stats.nodeUpserts += chunk.length;
      this.stats.nodeDeletes += dels.length;
      this.o.emit({ type: 'inventory.delta', upserts: chunk, deletes: dels });
    }
  }
}
