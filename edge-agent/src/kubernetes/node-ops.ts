// Node commands down: cordon/uncordon, taint/untaint, label, drain (Eviction API, honouring
// PodDisruptionBudgets, bounded by the command's timeout). Each returns an outcome that hub-link reports
// as a `command.result`. What the hub asked for is also written on the node (annotations), so drift
// detection knows the hub's wishes even after an agent restart.
import * as k8s from '@kubernetes/client-node';
import type { V1Node, V1Pod, V1Taint } from '@kubernetes/client-node';
import type { NodeCommand } from '@meridian/protocol/agent-protocol';
import type { z } from 'zod';
import { errText, statusOf } from './informer.ts';
import { NODE_ANNOTATIONS } from './inventory.ts';

export type NodeCommandT = z.infer<typeof NodeCommand>;
export interface Outcome {
  ok: boolean;
  error?: string;
  detail?: unknown;
}
type Taint = { key: string; value?: string; effect: string };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export function hubTaints(node: V1Node): Taint[] {
  try {
    const v = node.metadata?.annotations?.[NODE_ANNOTATIONS.hubTaints];
    return v ? (JSON.parse(v) as Taint[]) : [];
  } catch {
    return [];
  }
}

const sameTaint = (a: Taint, b: Taint): boolean => a.key === b.key && a.effect === b.effect;

export class NodeOps {
  constructor(
    private readonly core: k8s.CoreV1Api,
    private readonly opts: { evictionRetryMs?: number } = {},
  ) {}

  private async patch(name: string, body: unknown): Promise<V1Node> {
    return this.core.patchNode({ name, body }, mergePatch);
  }

  /** Read-modify-write with optimistic concurrency (retries on 409 Conflict). */
  private async update(name: string, fn: (n: V1Node) => unknown): Promise<V1Node> {
    for (let i = 0; ; i++) {
      const n = await this.core.readNode({ name });
      const body = fn(n) as { metadata?: Record<string, unknown> };
      try {
        return await this.patch(name, { ...body, metadata: { ...(body.metadata ?? {}), resourceVersion: n.metadata?.resourceVersion } });
      } catch (err) {
        if (statusOf(err) !== 409 || i >= 5) throw err;
      }
    }
  }

  async apply(cmd: NodeCommandT): Promise<Outcome> {
    try {
      switch (cmd.op) {
        case 'cordon':
          await this.cordon(cmd.node, cmd.reason);
          return { ok: true, detail: { node: cmd.node, unschedulable: true } };
        case 'uncordon':
          await this.patch(cmd.node, { spec: { unschedulable: null }, metadata: { annotations: { [NODE_ANNOTATIONS.hubCordon]: null } } });
          return { ok: true, detail: { node: cmd.node, unschedulable: false } };
        case 'taint': {
          if (!cmd.taint) return { ok: false, error: 'taint: the command needs a `taint` {key, value?, effect}' };
          const t: Taint = { key: cmd.taint.key, ...(cmd.taint.value ? { value: cmd.taint.value } : {}), effect: cmd.taint.effect };
          const n = await this.update(cmd.node, (node) => ({
            spec: { taints: [...(node.spec?.taints ?? []).filter((x) => !sameTaint(x, t)), t] },
            metadata: { annotations: { [NODE_ANNOTATIONS.hubTaints]: JSON.stringify([...hubTaints(node).filter((x) => !sameTaint(x, t)), t]) } },
          }));
          return { ok: true, detail: { node: cmd.node, taints: n.spec?.taints ?? [] } };
        }
        case 'untaint': {
          if (!cmd.taint?.key) return { ok: false, error: 'untaint: the command needs `taint.key` (and optionally `taint.effect`)' };
          const match = (x: Taint): boolean => x.key === cmd.taint!.key && (!cmd.taint!.effect || x.effect === cmd.taint!.effect);
          const n = await this.update(cmd.node, (node) => {
            const keep = (node.spec?.taints ?? []).filter((x) => !match(x));
            const wish = hubTaints(node).filter((x) => !match(x));
            return { spec: { taints: keep.length ? keep : null }, metadata: { annotations: { [NODE_ANNOTATIONS.hubTaints]: wish.length ? JSON.stringify(wish) : null } } };
          });
          return { ok: true, detail: { node: cmd.node, taints: n.spec?.taints ?? [] } };
        }
        case 'label': {
          if (!cmd.labels || Object.keys(cmd.labels).length === 0) return { ok: false, error: 'label: the command needs `labels` {key: value, or null to remove}' };
          const n = await this.patch(cmd.node, { metadata: { labels: cmd.labels } });
          return { ok: true, detail: { node: cmd.node, labels: n.metadata?.labels ?? {} } };
        }
        case 'drain':
          return await this.drain(cmd.node, cmd.reason, cmd.timeoutSeconds);
        case 'power-up':
        case 'power-down':
          return { ok: false, error: `${cmd.op} is a Slurm (elastic node) command; Kubernetes nodes are powered by their cloud provider or cluster autoscaler` };
      }
    } catch (err) {
      const code = statusOf(err);
      if (code === 404) return { ok: false, error: `node ${cmd.node} does not exist in this cluster` };
      return { ok: false, error: `${cmd.op} ${cmd.node} failed: ${errText(err)}` };
    }
  }

  async cordon(node: string, reason: string): Promise<void> {
    await this.patch(node, { spec: { unschedulable: true }, metadata: { annotations: { [NODE_ANNOTATIONS.hubCordon]: reason || 'cordoned by the hub' } } });
  }

  /** Cordons, then evicts every pod that is not a DaemonSet or mirror pod, retrying PDB refusals until the timeout. */
  async drain(node: string, reason: string, timeoutSeconds: number): Promise<Outcome> {
    const deadline = Date.now() + timeoutSeconds * 1000;
    await this.cordon(node, reason || 'drained by the hub');
    const list = async (): Promise<V1Pod[]> =>
      (await this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items.filter((p) => {
        if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') return false;
        if (p.metadata?.annotations?.['kubernetes.io/config.mirror']) return false;
        return !p.metadata?.ownerReferences?.some((o) => o.kind === 'DaemonSet');
      });
    const key = (p: V1Pod): string => `${p.metadata?.namespace}/${p.metadata?.name}`;
    const evicted = new Set<string>();
    const blocked = new Map<string, string>();
    let pods = await list();
    const skipped: string[] = [];
    while (Date.now() < deadline) {
      for (const p of pods) {
        const k = key(p);
        if (evicted.has(k) || p.metadata?.deletionTimestamp) continue;
        try {
          await this.core.createNamespacedPodEviction({
            name: p.metadata!.name!,
            namespace: p.metadata!.namespace!,
            body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: p.metadata!.name!, namespace: p.metadata!.namespace! } },
          });
          evicted.add(k);
          blocked.delete(k);
        } catch (err) {
          const code = statusOf(err);
          if (code === 404) evicted.add(k);
          else if (code === 429) blocked.set(k, 'blocked by a PodDisruptionBudget');
          else blocked.set(k, errText(err));
        }
      }
      pods = await list();
      if (pods.length === 0) break;
      await sleep(this.opts.evictionRetryMs ?? 1000);
    }
    for (const p of pods) if (!evicted.has(key(p)) && !blocked.has(key(p))) skipped.push(key(p));
    const detail = { node, evicted: [...evicted].sort(), remaining: pods.map(key).sort(), blocked: Object.fromEntries(blocked) };
    if (pods.length === 0) return { ok: true, detail };
    const why = pods.map((p) => `${key(p)}${blocked.has(key(p)) ? ` (${blocked.get(key(p))})` : p.metadata?.deletionTimestamp ? ' (terminating)' : ''}`).join(', ');
    return { ok: false, error: `drain of ${node} timed out after ${timeoutSeconds}s; still on the node: ${why}`, detail };
  }
}

export type { V1Taint };
