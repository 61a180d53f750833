// The gang gate: a gang's pods are created behind a scheduling gate and released together, only once the nodes
// the hub reserved have room for every task (as the member counts it: every bound pod, Meridian's or not). A pod
// that took the room between the hub's placement and the Job's creation then leaves the whole gang gated, none of
// it bound, until the hub withdraws it. Between the release and the binding a competing pod can still win a node;
// the attempt then shows "k of N tasks started" and the hub's withdraw timeout rolls it back.
import * as k8s from '@kubernetes/client-node';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { JobStatusEvent, NodeInfo } from '@meridian/protocol/agent-protocol';
import { LABELS } from '@meridian/protocol/agent-protocol';
import { errText, statusOf } from './informer.ts';
import { count, cpuMilli, memoryMiB } from './quantity.ts';

/** The scheduling gate on every pod of a gang until the agent releases them all at once. */
export const GANG_GATE = 'meridian.dev/gang';
/** On a gated gang's Job: why it is still held (the agent's last room check). */
export const GANG_WAIT_ANNOTATION = 'meridian.dev/gang-wait';

type Task = JobStatusEvent['tasks'][number];

/** Why the attempt has not started every task, in Kubernetes' words where it has some (pure). */
export function pendingReason(job: V1Job | undefined, tasks: Task[], started: number, want: number, stuck: Task | undefined, msg: string | undefined): string {
  const of = want > 1 ? `${started} of ${want} tasks started; ` : '';
  if (msg) return `${of}Unschedulable: ${msg}`;
  if (stuck?.reason) return `${of}${stuck.reason}`;
  if (job?.spec?.suspend) return 'Job created suspended, not yet released';
  if (tasks.length < want) return `${of}${want - tasks.length} pod(s) not yet created by the Job controller`;
  const unbound = tasks.filter((t) => !t.node).length;
  const gate = job?.metadata?.annotations?.[GANG_WAIT_ANNOTATION];
  if (unbound && gate) return `${of}${gate}`;
  if (unbound) return `${of}${unbound} pod(s) waiting for the kube-scheduler`;
  return `${of}pods bound, containers starting`;
}

export interface GangDemand {
  tasks: number;
  gpus: number;
  cpuMilli: number;
  memoryMiB: number;
  nodes: string[];
}

/** How many of the gang's tasks the reserved nodes have room for, and the numbers behind it (pure). */
export function gangRoom(d: GangDemand, nodes: NodeInfo[]): { fits: number; detail: string } {
  let fits = 0;
  const parts: string[] = [];
  for (const name of d.nodes) {
    const n = nodes.find((x) => x.name === name);
    if (!n || n.unschedulable || !n.ready) {
      parts.push(`${name}: ${n ? (n.reason ?? 'not schedulable') : 'no such node'}`);
      continue;
    }
    const free = { gpus: n.allocatable.gpus - n.requested.gpus, cpu: n.allocatable.cpuMilli - n.requested.cpuMilli, mem: n.allocatable.memoryMiB - n.requested.memoryMiB };
    const by = [d.gpus > 0 ? Math.floor(free.gpus / d.gpus) : Infinity, d.cpuMilli > 0 ? Math.floor(free.cpu / d.cpuMilli) : Infinity, d.memoryMiB > 0 ? Math.floor(free.mem / d.memoryMiB) : Infinity];
    const k = Math.max(0, Math.min(...by, d.tasks));
    fits += k;
    parts.push(`${name}: ${Math.max(0, free.gpus)} GPUs free`);
  }
  fits = Math.min(fits, d.tasks);
  return { fits, detail: `held at the gang gate: room for ${fits} of ${d.tasks} tasks on the reserved nodes (${parts.join(', ')}; each task needs ${d.gpus} GPUs)` };
}

/** A gang Job's demand from its own spec (pure); undefined for a Job that is not gated. */
export function gangDemand(job: V1Job, gpuResource: string): GangDemand | undefined {
  const spec = job.spec?.template.spec;
  if (!spec?.schedulingGates?.some((g) => g.name === GANG_GATE)) return undefined;
  const r = spec.containers[0]?.resources;
  const get = (k: string): string | undefined => r?.requests?.[k] ?? r?.limits?.[k];
  const nodes = (spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []).flatMap((t) => t.matchFields?.flatMap((f) => f.values ?? []) ?? []);
  return { tasks: job.spec?.completions ?? 1, gpus: count(get(gpuResource)), cpuMilli: cpuMilli(get('cpu')), memoryMiB: memoryMiB(get('memory')), nodes };
}

const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export interface GangGateOptions {
  namespace: string;
  gpuResource: string;
  jobs: () => readonly V1Job[];
  pods: () => readonly V1Pod[];
  nodes: () => NodeInfo[];
  log?: { warn: (o: object, msg: string) => void; info: (o: object, msg: string) => void };
}

/** Releases gated gangs whose reserved nodes have room for every task; says why the others wait. */
export class GangGate {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(
    private readonly core: k8s.CoreV1Api,
    private readonly batch: k8s.BatchV1Api,
    private readonly o: GangGateOptions,
  ) {}

  start(everyMs = 500): void {
    this.timer ??= setInterval(() => void this.tick(), everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const pods = this.o.pods();
      let nodes: NodeInfo[] | undefined; // only built when a gang is gated (a snapshot costs on big clusters)
      for (const job of this.o.jobs()) {
        if (job.metadata?.deletionTimestamp || job.status?.conditions?.some((c) => c.status === 'True' && (c.type === 'Complete' || c.type === 'Failed'))) continue;
        const demand = gangDemand(job, this.o.gpuResource);
        if (!demand) continue;
        const l = job.metadata?.labels ?? {};
        const mine = pods.filter((p) => p.metadata?.labels?.[LABELS.jobId] === l[LABELS.jobId] && p.metadata?.labels?.[LABELS.attempt] === l[LABELS.attempt] && !p.metadata?.deletionTimestamp);
        const gated = mine.filter((p) => p.spec?.schedulingGates?.some((g) => g.name === GANG_GATE));
        if (!gated.length || mine.length < demand.tasks) continue;
        const room = gangRoom(demand, (nodes ??= this.o.nodes()));
        if (room.fits >= demand.tasks) {
          for (const p of gated) await this.release(p);
          this.o.log?.info({ job: job.metadata?.name }, 'gang released: room for every task on the reserved nodes');
        } else if (job.metadata?.annotations?.[GANG_WAIT_ANNOTATION] !== room.detail) {
          await this.batch
            .patchNamespacedJob({ name: job.metadata!.name!, namespace: this.o.namespace, body: { metadata: { annotations: { [GANG_WAIT_ANNOTATION]: room.detail } } } }, mergePatch)
            .catch((err: unknown) => this.o.log?.warn({ job: job.metadata?.name, err: errText(err) }, 'noting why a gang waits failed'));
        }
      }
    } finally {
      this.busy = false;
    }
  }

  private async release(p: V1Pod): Promise<void> {
    const gates = (p.spec?.schedulingGates ?? []).filter((g) => g.name !== GANG_GATE);
    try {
      await this.core.patchNamespacedPod(
        { name: p.metadata!.name!, namespace: this.o.namespace, body: [{ op: 'replace', path: '/spec/schedulingGates', value: gates }] },
        jsonPatch,
      );
    } catch (err) {
      if (statusOf(err) !== 404) this.o.log?.warn({ pod: p.metadata?.name, err: errText(err) }, 'releasing a gang pod failed');
    }
  }
}
