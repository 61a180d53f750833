// Health change → action: the hot state's onHealthChange hook. A verdict that needs quarantine starts the
// node's gpu-remediation workflow (ID `remediate:<cluster>:<node>`, so a repeated or concurrent change joins
// the running one); an application fault (XID 13, 31, 43, 45, 94) only becomes an event on the jobs of the
// node; every change is a node event. Called synchronously from ingest, so work is queued, never awaited there.
// A sweep every `retryRefusedMs` starts again the nodes the breaker refused once it has room for them.
import type pg from 'pg';
import type { Logger } from 'pino';
import { addEvent } from '../store/repos/jobs.ts';
import { addNodeEvent, jobsOnNode, latestRemediationSteps } from '../store/repos/remediation.ts';
import type { Action } from './health.ts';
import type { HealthChange, HotState } from './hot-state.ts';
import { reactToHealthChange, refusedToRetry, remediationWorkflowId } from './remediation-policy.ts';
import type { RemediationSettings } from './remediation-policy.ts';
import { breakerState } from './remediation-breaker.ts';
import type { QuarantineAction, RemediationInput } from '@meridian/workflows/gpu-remediation';

export interface RemediationStarter {
  /** Starts the node's remediation workflow; when one runs already, nudges it instead. */
  start(workflowId: string, input: RemediationInput): Promise<'started' | 'running'>;
  /** Tells a running remediation to re-read health now (no-op when none runs). */
  nudge(workflowId: string): Promise<void>;
}

export interface RemediationTriggerOptions {
  pool: pg.Pool;
  log: Logger;
  /** null while Temporal is not connected: the change is retried a few times, then left to the next change */
  starter: () => RemediationStarter | null;
  settings: RemediationSettings;
  /** the receiver's hot state, for the sweep that retries refused nodes */
  hot?: () => HotState | null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class RemediationTrigger {
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private stopped = false;
  private readonly timer: NodeJS.Timeout | null;

  constructor(private readonly o: RemediationTriggerOptions) {
    const every = o.settings.retryRefusedMs;
    this.timer = every > 0 && o.settings.enabled ? setInterval(() => this.enqueue(() => this.sweep(), {}), every) : null;
    this.timer?.unref();
  }

  /** The HotState hook: queues the change (in order, one at a time). */
  onHealthChange = (change: HealthChange): void => this.enqueue(() => this.handle(change), { node: change.hostname, cluster: change.cluster });

  private enqueue(work: () => Promise<void>, ctx: Record<string, string>): void {
    if (this.stopped) return;
    this.pending++;
    this.chain = this.chain
      .then(work)
      .catch((err: unknown) => this.o.log.warn({ err: (err as Error).message, ...ctx }, 'health change not acted on'))
      .finally(() => this.pending--);
  }

  get queued(): number {
    return this.pending;
  }

  private async handle(c: HealthChange): Promise<void> {
    const node = c.hostname;
    if (!node || !c.cluster) return; // a series without Hostname cannot be tied to a node
    const r = reactToHealthChange(c);
    const what = c.kind === 'gpu' ? `GPU ${c.uuid}` : c.kind === 'nic' ? `NIC ${c.key.split('/').slice(3).join('/')}` : 'node';
    const findings = c.current.findings.map((f) => f.detail).join('; ');
    await addNodeEvent(this.o.pool, c.cluster, node, 'gpu-health', `${what}: ${c.previous.status} → ${c.current.status} (${c.current.action})${findings ? `: ${findings}` : ''}`, {
      kind: c.kind,
      key: c.key,
      ...(c.uuid ? { uuid: c.uuid } : {}),
      action: c.current.action,
      status: c.current.status,
    });
    if (r.kind === 'inform_job') {
      const jobs = await jobsOnNode(this.o.pool, c.cluster, node);
      const effect = r.action === 'inform_job' ? 'an application fault; the GPU stays in service' : 'restart the application; the GPU stays in service';
      for (const j of jobs) {
        await addEvent(this.o.pool, j.jobId, 'gpu-fault', j.state, j.attempt, `${what} on node ${node} (${c.cluster}) reported ${r.reason}: ${effect}`, {
          cluster: c.cluster,
          node,
          ...(c.uuid ? { uuid: c.uuid } : {}),
          action: r.action,
        });
      }
      return;
    }
    if (r.kind === 'nudge') {
      await this.o.starter()?.nudge(r.workflowId);
      return;
    }
    if (r.kind !== 'remediate') return;
    if (!this.o.settings.enabled) {
      await addNodeEvent(this.o.pool, c.cluster, node, 'remediation', `remediation is switched off (MERIDIAN_REMEDIATION=false): ${what} needs ${r.action} (${r.reason})`);
      return;
    }
    await this.startRemediation(c.cluster, node, c.kind === 'gpu' ? c.uuid : undefined, r.action, r.reason);
  }

  private async startRemediation(cluster: string, node: string, gpuUuid: string | undefined, action: Action, reason: string): Promise<void> {
    const s = this.o.settings;
    const workflowId = remediationWorkflowId(cluster, node);
    const input: RemediationInput = {
      cluster,
      node,
      ...(gpuUuid ? { gpuUuid } : {}),
      action: action as QuarantineAction,
      reason,
      healthPollMs: s.healthPollMs,
      healthyPolls: s.healthyPolls,
      maxWaitMs: s.maxWaitMs,
    };
    for (let i = 0; ; i++) {
      const starter = this.o.starter();
      try {
        if (!starter) throw new Error('Temporal is not connected');
        const how = await starter.start(workflowId, input);
        this.o.log.info({ workflowId, how, action, reason }, 'gpu remediation');
        return;
      } catch (err) {
        if (i >= 5 || this.stopped) throw err;
        await sleep(500 * 2 ** i);
      }
    }
  }

  /** Starts again nodes the breaker refused that still need quarantine, as far as it has room now. */
  private async sweep(): Promise<void> {
    const hot = this.o.hot?.();
    if (!hot) return;
    const byCluster = new Map<string, Map<string, { uuid?: string; action: Action; reason: string }>>();
    for (const v of hot.unhealthy()) {
      if (v.health.status !== 'unhealthy' || !v.hostname || !v.cluster) continue;
      const nodes = byCluster.get(v.cluster) ?? new Map();
      byCluster.set(v.cluster, nodes);
      if (nodes.has(v.hostname)) continue;
      const reason = v.health.findings.filter((f) => f.action === v.health.action).map((f) => f.detail).join('; ');
      nodes.set(v.hostname, { ...('uuid' in v ? { uuid: v.uuid } : {}), action: v.health.action, reason: reason || v.health.action });
    }
    for (const [cluster, nodes] of byCluster) {
      const names = [...nodes.keys()];
      const last = await latestRemediationSteps(this.o.pool, cluster, names);
      const retry = refusedToRetry(names, last, await breakerState(this.o.pool, cluster), this.o.settings.breaker, Date.now());
      for (const node of retry) {
        const n = nodes.get(node)!;
        await addNodeEvent(this.o.pool, cluster, node, 'remediation-retry', `the circuit breaker has room again; remediation starts again for ${n.reason}`);
        await this.startRemediation(cluster, node, n.uuid, n.action, n.reason);
      }
    }
  }

  /** Waits for queued changes (bounded), then refuses new ones. */
  async stop(timeoutMs = 5000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.race([this.chain, sleep(timeoutMs)]);
  }
}
