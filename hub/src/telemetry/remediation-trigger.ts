// Health change → action: the hot state's onHealthChange hook. A verdict that needs quarantine starts the
// node's gpu-remediation workflow (ID `remediate:<cluster>:<node>`, so a repeated or concurrent change joins
// the running one); an application fault (XID 13, 31, 43, 45, 94) only becomes an event on the jobs of the
// node; every change is a node event. Called synchronously from ingest, so work is queued, never awaited there.
import type pg from 'pg';
import type { Logger } from 'pino';
import { addEvent } from '../store/repos/jobs.ts';
import type { HealthChange } from './hot-state.ts';
import { reactToHealthChange } from './remediation-policy.ts';
import type { RemediationSettings } from './remediation-policy.ts';
import { addNodeEvent, jobsOnNode } from './remediation-store.ts';
import type { QuarantineAction, RemediationInput } from '../../../workflows/src/gpu-remediation.ts';

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
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class RemediationTrigger {
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private stopped = false;

  constructor(private readonly o: RemediationTriggerOptions) {}

  /** The HotState hook: queues the change (in order, one at a time). */
  onHealthChange = (change: HealthChange): void => {
    if (this.stopped) return;
    this.pending++;
    this.chain = this.chain
      .then(() => this.handle(change))
      .catch((err: unknown) => this.o.log.warn({ err: (err as Error).message, node: change.hostname, cluster: change.cluster }, 'health change not acted on'))
      .finally(() => this.pending--);
  };

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
    const s = this.o.settings;
    const input: RemediationInput = {
      cluster: c.cluster,
      node,
      ...(c.kind === 'gpu' && c.uuid ? { gpuUuid: c.uuid } : {}),
      action: r.action as QuarantineAction,
      reason: r.reason,
      healthPollMs: s.healthPollMs,
      healthyPolls: s.healthyPolls,
      maxWaitMs: s.maxWaitMs,
    };
    for (let i = 0; ; i++) {
      const starter = this.o.starter();
      try {
        if (!starter) throw new Error('Temporal is not connected');
        const how = await starter.start(r.workflowId, input);
        this.o.log.info({ workflowId: r.workflowId, how, action: r.action, reason: r.reason }, 'gpu remediation');
        return;
      } catch (err) {
        if (i >= 5 || this.stopped) throw err;
        await sleep(500 * 2 ** i);
      }
    }
  }

  /** Waits for queued changes (bounded), then refuses new ones. */
  async stop(timeoutMs = 5000): Promise<void> {
    this.stopped = true;
    await Promise.race([this.chain, sleep(timeoutMs)]);
  }
}
