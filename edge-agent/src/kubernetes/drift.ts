// Both-way sync. The cluster is the truth for what is observed (a hand cordon simply shows up in the
// inventory); the hub is the truth for what it asked for. When someone undoes a hub cordon or removes a
// hub taint by hand, the agent reports a `drift` event (mode `report`, the default: it does not fight the
// operator) or puts the hub's wish back and reports that (mode `reconcile`).
import type { V1Node } from '@kubernetes/client-node';
import type { AgentEvent } from '@meridian/protocol/agent-protocol';
import { NODE_ANNOTATIONS } from './inventory.ts';
import type { NodeOps } from './node-ops.ts';
import { hubTaints } from './node-ops.ts';

export type DriftMode = 'report' | 'reconcile';

export interface DriftFinding {
  node: string;
  field: 'unschedulable' | 'taints';
  desired: unknown;
  observed: unknown;
}

/** The hub's recorded wishes on this node that the node no longer matches (pure). */
export function detectDrift(node: V1Node): DriftFinding[] {
  const name = node.metadata?.name ?? '';
  const out: DriftFinding[] = [];
  const ann = node.metadata?.annotations ?? {};
  if (ann[NODE_ANNOTATIONS.hubCordon] !== undefined && node.spec?.unschedulable !== true) {
    out.push({ node: name, field: 'unschedulable', desired: true, observed: false });
  }
  const want = hubTaints(node);
  const have = node.spec?.taints ?? [];
  const missing = want.filter((w) => !have.some((h) => h.key === w.key && h.effect === w.effect && (h.value ?? '') === (w.value ?? '')));
  if (missing.length) out.push({ node: name, field: 'taints', desired: want, observed: have.map((t) => ({ key: t.key, ...(t.value ? { value: t.value } : {}), effect: t.effect })) });
  return out;
}

export class DriftMonitor {
  private readonly open = new Map<string, string>();
  private readonly fixing = new Set<string>();
  readonly stats = { reported: 0, reconciled: 0 };

  constructor(
    private readonly mode: DriftMode,
    private readonly emit: (e: AgentEvent) => void,
    private readonly ops: NodeOps,
    private readonly log?: { warn: (o: object, m: string) => void },
  ) {}

  /** Called for every node add/update from the inventory informer. */
  check(node: V1Node): void {
    const name = node.metadata?.name ?? '';
    const findings = detectDrift(node);
    const seen = new Set<string>();
    for (const f of findings) {
      const k = `${f.node}\u0000${f.field}`;
      seen.add(k);
      const fp = JSON.stringify(f.observed);
      if (this.mode === 'reconcile') {
        if (this.fixing.has(k)) continue;
        this.fixing.add(k);
        void this.reconcile(node, f).finally(() => this.fixing.delete(k));
        continue;
      }
      if (this.open.get(k) === fp) continue;
      this.open.set(k, fp);
      this.stats.reported++;
      this.emit({ type: 'drift', node: f.node, field: f.field, desired: f.desired, observed: f.observed, action: 'reported' });
    }
    for (const k of [...this.open.keys()]) if (k.startsWith(`${name}\u0000`) && !seen.has(k)) this.open.delete(k);
  }

  private async reconcile(node: V1Node, f: DriftFinding): Promise<void> {
    const name = f.node;
    const outcome =
      f.field === 'unschedulable'
        ? await this.ops.apply({ kind: 'node', node: name, op: 'cordon', reason: node.metadata?.annotations?.[NODE_ANNOTATIONS.hubCordon] ?? '', timeoutSeconds: 120 })
        : await (async () => {
            for (const t of f.desired as { key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[]) {
              const r = await this.ops.apply({ kind: 'node', node: name, op: 'taint', reason: '', taint: t, timeoutSeconds: 120 });
              if (!r.ok) return r;
            }
            return { ok: true };
          })();
    if (!outcome.ok) {
      this.log?.warn({ node: name, field: f.field, error: outcome.error }, 'drift reconcile failed; reporting it');
      this.emit({ type: 'drift', node: name, field: f.field, desired: f.desired, observed: f.observed, action: 'reported' });
      this.stats.reported++;
      return;
    }
    this.stats.reconciled++;
    this.emit({ type: 'drift', node: name, field: f.field, desired: f.desired, observed: f.observed, action: 'reconciled' });
  }
}
