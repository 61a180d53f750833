// Activities of the gpu-remediation workflow, against the hub's store, the agent command outbox and the
// telemetry hot state. Each is idempotent (the workflow retries them): a cordon sent twice is one cordon, a
// requeue of an attempt that already moved answers false, the breaker counts a node once.
import type pg from 'pg';
import type { JobOnNode, QuarantineDecision, RemediationActivities, RemediationEvent } from '@meridian/workflows/gpu-remediation';
import { getCommand, enqueueCommand } from '../../store/repos/agent-stream.ts';
import { getCluster, listNodes } from '../../store/repos/clusters.ts';
import { addEvent, getJob } from '../../store/repos/jobs.ts';
import { cancelGraceAfter, checkpointWaitSeconds, lastDelivery, signalJobs } from './checkpoint-signal.ts';
import { requeueJob } from '../../store/repos/lifecycle.ts';
import { tx } from '../../store/db.ts';
import type { HotState } from '../../telemetry/hot-state.ts';
import type { CircuitBreakerConfig } from '../../telemetry/remediation-policy.ts';
import { addNodeEvent, jobsOnNode } from '../../store/repos/remediation.ts';
import { releaseQuarantineSlot, requestQuarantineSlot } from '../../telemetry/remediation-breaker.ts';

export interface RemediationDeps {
  pool: pg.Pool;
  /** the receiver's hot state (health per GPU, NIC and node) */
  hot: HotState;
  breaker: CircuitBreakerConfig;
  /** how long a cordon / uncordon may take to show in the agent's inventory before the activity retries (ms) */
  commandWaitMs?: number;
  /** how long to wait for an agent's answer to a checkpoint `signal` before counting it undelivered (ms) */
  signalResultWaitMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Slurm keeps the reason with the drain; the agent prefixes it with `meridian:` too, so it reads the same. */
const slurmReason = (reason: string): string => (reason.startsWith('meridian:') ? reason : `meridian: ${reason}`);

export function remediationActivities(d: RemediationDeps): RemediationActivities {
  const waitMs = d.commandWaitMs ?? 40_000;

  /** Sends cordon/uncordon through the agent and waits until the agent's inventory shows it (or its error). */
  async function nodeCommand(cluster: string, node: string, op: 'cordon' | 'uncordon', reason: string): Promise<void> {
    const c = await getCluster(d.pool, cluster);
    if (!c) throw new Error(`cluster ${cluster} is not registered at the hub`);
    const text = c.kind === 'slurm' ? slurmReason(reason) : reason;
    const seq = await tx(d.pool, (db) => enqueueCommand(db, cluster, { kind: 'node', node, op, reason: text, timeoutSeconds: 120 }));
    const want = op === 'cordon';
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      const cmd = await getCommand(d.pool, cluster, seq);
      const result = cmd?.result as { ok?: boolean; error?: string } | null | undefined;
      if (result && result.ok === false) throw new Error(`${op} ${cluster}/${node} failed on the agent: ${result.error ?? 'no reason given'}`);
      const n = (await listNodes(d.pool, cluster)).find((x) => x.name === node);
      if (!n) throw new Error(`node ${node} is not in cluster ${cluster}'s inventory`);
      // the scheduler reads the inventory: only once it shows the cordon may jobs be requeued (else they
      // could be placed right back on this node)
      if (result?.ok && n.info.unschedulable === want) return;
      await sleep(250);
    }
    throw new Error(`${op} of ${cluster}/${node} not confirmed by the agent within ${waitMs} ms (is it connected?)`);
  }

  return {
    async requestQuarantine(cluster, node): Promise<QuarantineDecision> {
      const r = await requestQuarantineSlot(d.pool, cluster, node, d.breaker);
      return r.allow ? { allowed: true } : { allowed: false, reason: r.reason, tripped: r.tripped };
    },

    async quarantineNode(cluster, node, reason) {
      await nodeCommand(cluster, node, 'cordon', `GPU fault: ${reason}`);
      for (const j of await jobsOnNode(d.pool, cluster, node)) {
        await addEvent(d.pool, j.jobId, 'gpu-fault', j.state, j.attempt, `node ${node} (${cluster}) quarantined for a GPU fault: ${reason}; the job will be moved elsewhere`, { cluster, node });
      }
    },

    async jobsOnNode(cluster, node): Promise<JobOnNode[]> {
      return (await jobsOnNode(d.pool, cluster, node)).map((j) => ({ jobId: j.jobId, attempt: j.attempt, checkpointable: j.checkpointable, tier: j.tier }));
    },

    async checkpointJobs(jobs, graceSeconds, reason) {
      // the `signal` command reaches the running attempt without stopping it; the workflow then waits the
      // jobs' grace (bounded by its own `graceSeconds`) before requeueing
      const outcomes = await signalJobs(d.pool, jobs, reason, d.signalResultWaitMs ?? 15_000);
      return { signalled: outcomes.filter((o) => o.delivery !== 'none').map((o) => o.jobId), waitSeconds: checkpointWaitSeconds(outcomes, graceSeconds) };
    },

    async requeueFromNode(jobId, attempt, reason) {
      const row = await getJob(d.pool, jobId);
      if (!row || row.attempt !== attempt) return false;
      const grace = cancelGraceAfter(await lastDelivery(d.pool, jobId, attempt), row.spec.checkpoint?.graceSeconds ?? 0);
      return requeueJob(d.pool, jobId, attempt, reason, grace);
    },

    async requestRecovery(cluster, node, kind, gpuUuid) {
      // No reset/reboot command in agent protocol v1: the request is recorded for the node's own tooling or
      // an operator; the workflow then waits for telemetry to say the GPU is healthy again.
      await addNodeEvent(d.pool, cluster, node, 'remediation-request', `${kind === 'reset_gpu' ? `GPU reset${gpuUuid ? ` of ${gpuUuid}` : ''}` : 'node reboot'} needed; left to the node's tooling or an operator`, { kind, ...(gpuUuid ? { gpuUuid } : {}) });
    },

    async health(cluster, node, gpuUuid) {
      // every GPU of the node, not only the one that started it: a node goes back only when all of it is fine
      const now = Date.now();
      const views = [
        ...d.hot.gpus({ cluster, hostname: node }, now),
        ...d.hot.nics({ cluster, hostname: node }, now),
        ...d.hot.nodes({ cluster, hostname: node }, now),
      ];
      if (!views.some((v) => v.kind === 'gpu')) return { status: 'unhealthy', detail: `no GPU telemetry from ${node}${gpuUuid ? ` for ${gpuUuid}` : ''}` };
      const stale = views.filter((v) => v.stale);
      if (stale.length) return { status: 'degraded', detail: `telemetry from ${node} is stale (${stale.map((v) => v.key).join(', ')})` };
      const rank = { healthy: 0, degraded: 1, unhealthy: 2 } as const;
      const worst = views.reduce((a, b) => (rank[b.health.status] > rank[a.health.status] ? b : a));
      const detail = worst.health.findings.map((f) => f.detail).join('; ') || 'no findings';
      return { status: worst.health.status, detail: `${worst.key}: ${detail}` };
    },

    async clearHealthEvents(cluster, node, gpuUuid) {
      const now = Date.now();
      const keys = [
        ...d.hot.gpus({ cluster, hostname: node }, now).filter((g) => gpuUuid === undefined || g.uuid === gpuUuid),
        ...d.hot.nics({ cluster, hostname: node }, now),
        ...d.hot.nodes({ cluster, hostname: node }, now),
      ].map((v) => v.key);
      for (const k of keys) d.hot.clearEvents(k, now);
    },

    async returnToService(cluster, node) {
      await nodeCommand(cluster, node, 'uncordon', 'GPU healthy again');
      await releaseQuarantineSlot(d.pool, cluster, node);
    },

    async recordEvent(e: RemediationEvent) {
      await addNodeEvent(d.pool, e.cluster, e.node, `remediation.${e.step}`, e.detail, { step: e.step, ...(e.gpuUuid ? { gpuUuid: e.gpuUuid } : {}) });
    },
  };
}
