// The scheduling loop. The leader runs a cycle when something changed (NOTIFY on submit/requeue/inventory)
// and on a timer: store → CycleInput → runCycle → decisions in one transaction → wake workflows after commit.
// The leader also marks silent clusters lost (requeueing their jobs) and starts any missing job workflow.
import type pg from 'pg';
import type { Logger } from 'pino';
import type { HubMetrics } from '../metrics.ts';
import { runCycle } from '../scheduler/index.ts';
import type { CycleOutput, SchedulerConfig } from '../scheduler/index.ts';
import { tx } from '../store/db.ts';
import { PgListener } from '../store/listener.ts';
import { markLostClusters } from '../store/repos/clusters.ts';
import { withdrawOverdueDispatches } from '../store/repos/dispatch-wait.ts';
import { activeJobsOn, claimStaleSteps, jobAttempt, jobsMissingWorkflow, markWorkflowStarted, requestRequeue, SCHEDULE_CHANNEL } from '../store/repos/jobs.ts';
import { applyPlacement, setPendingReasons } from '../store/repos/lifecycle.ts';
import type { JobWorkflows } from '../temporal/client.ts';
import { applyGates } from './gates.ts';
import { buildGatedInput, NO_GPU_SHARE } from './input.ts';
import { Leadership } from './leader.ts';
import { sendPrewarms } from './prewarm.ts';

export interface LoopConfig {
  databaseUrl: string;
  intervalMs: number;
  clusterLostTimeoutMs: number;
  /** A dispatched job its member has not started on every task is withdrawn and placed again after this long. */
  dispatchWaitTimeoutMs?: number;
  scheduler: SchedulerConfig;
}

/** MERIDIAN_DISPATCH_WAIT_TIMEOUT_MS's default: two minutes. */
export const DEFAULT_DISPATCH_WAIT_TIMEOUT_MS = 120_000;

export class SchedulingLoop {
  private readonly leadership: Leadership;
  private readonly listener: PgListener;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private again = false;
  private stopped = false;
  private lastReconcile = 0;
  private readonly startedAt = Date.now();
  private paced: NodeJS.Timeout | null = null;
  private lastEnd = 0;
  private lastDuration = 0;
  lastOutput: CycleOutput | null = null;

  constructor(
    private readonly pool: pg.Pool,
    private readonly workflows: () => JobWorkflows | null,
    private readonly log: Logger,
    private readonly cfg: LoopConfig,
    private readonly metrics?: HubMetrics,
  ) {
    this.leadership = new Leadership(cfg.databaseUrl, log);
    this.listener = new PgListener(cfg.databaseUrl, [SCHEDULE_CHANNEL], () => this.trigger(), log, () => this.trigger());
  }

  get isLeader(): boolean {
    return this.leadership.isLeader;
  }

  async start(): Promise<void> {
    await this.listener.start();
    this.timer = setInterval(() => this.trigger(), this.cfg.intervalMs);
    this.trigger();
  }

  /**
   * Asks for a cycle soon. Triggers while a cycle runs (or while pacing) coalesce into one more. A cycle is CPU
   * work on the event loop that also serves the API, the gateway and local activities, so the next one starts
   * no sooner than max(250 ms, the last cycle's duration) after the last one ended: at most half the loop.
   */
  trigger(): void {
    if (this.stopped) return;
    if (this.running || this.paced) {
      this.again = true;
      return;
    }
    const wait = this.lastEnd + Math.max(250, this.lastDuration) - Date.now();
    if (wait > 0) {
      this.paced = setTimeout(() => {
        this.paced = null;
        this.trigger();
      }, wait);
      return;
    }
    this.running = true;
    const started = Date.now();
    void this.runOnce()
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'scheduling cycle failed'))
      .finally(() => {
        this.running = false;
        this.lastEnd = Date.now();
        this.lastDuration = this.lastEnd - started;
        if (this.again && !this.stopped) {
          this.again = false;
          this.trigger();
        }
      });
  }

  private async runOnce(): Promise<void> {
    if (!(await this.leadership.tryAcquire())) return;
    await this.sweepLostClusters();
    await this.withdrawOverdue();
    await this.cycle();
    if (Date.now() - this.lastReconcile > 3000) {
      this.lastReconcile = Date.now();
      await this.reconcileWorkflows();
      await this.rewakeStale();
    }
  }

  /** One scheduling cycle; returns the output (also kept as lastOutput). */
  async cycle(): Promise<CycleOutput | null> {
    const started = process.hrtime.bigint();
    const { input, gates, noShare } = await buildGatedInput(this.pool, Date.now(), this.cfg.scheduler);
    if (gates.waiting.length || gates.never.length) {
      const ended = await tx(this.pool, (c) => applyGates(c, gates));
      if (ended.length) this.log.info({ jobs: ended }, 'dependencies can never be satisfied: jobs cancelled');
      await this.workflows()?.wake(ended);
    }
    if (input.jobs.length === 0) return null;
    const out = runCycle(input);
    const submittedAt = new Map(input.jobs.map((j) => [j.id, j.submittedAt]));
    const tierOf = new Map(input.jobs.map((j) => [j.id, j.tier]));
    const placed: string[] = [];
    const victims: string[] = [];
    await tx(this.pool, async (c) => {
      for (const p of out.placements)
        if (await applyPlacement(c, { jobId: p.jobId, clusterId: p.clusterId, gpuModel: p.gpuModel, tasks: p.tasks, estimatedUsd: p.estimatedUsd })) placed.push(p.jobId);
      await setPendingReasons(
        c,
        out.pending.filter((p) => /^\d+$/.test(p.jobId)).map((p) => (noShare.has(p.jobId) ? { ...p, code: NO_GPU_SHARE.code, reason: NO_GPU_SHARE.reason, etaSec: null } : p)),
      );
      for (const pr of out.preemptions)
        for (const v of pr.victims) {
          const attempt = await jobAttempt(c, v);
          if (attempt !== undefined && (await requestRequeue(c, v, attempt, `preempted for job ${pr.jobId} (${pr.reason})`))) victims.push(v);
        }
    });
    if (out.prewarms.length) {
      const sources = new Map(input.jobs.flatMap((j) => j.datasets ?? []).map((d) => [d.name, d.cachedIn[0] ?? d.homeRegion]));
      const sent = await sendPrewarms(this.pool, out.prewarms, sources);
      if (sent.length) this.log.info({ prewarms: sent }, 'prewarming dataset caches');
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.metrics?.cycleDuration.observe(seconds);
    const now = Date.now();
    for (const id of placed) {
      this.metrics?.placements.inc({ tier: tierOf.get(id) ?? 'batch' });
      this.metrics?.queueWait.observe({ tier: tierOf.get(id) ?? 'batch' }, (now - (submittedAt.get(id) ?? now)) / 1000);
    }
    this.lastOutput = out;
    this.log.debug({ jobs: input.jobs.length, placed: placed.length, seconds }, 'scheduling cycle');
    await this.workflows()?.wake([...placed, ...victims]);
    return out;
  }

  private async sweepLostClusters(): Promise<void> {
    // A hub that just (re)started has not yet given agents the chance to reconnect: silence during our own
    // downtime is not the cluster's fault.
    if (Date.now() - this.startedAt < this.cfg.clusterLostTimeoutMs) return;
    const lost = await markLostClusters(this.pool, this.cfg.clusterLostTimeoutMs);
    if (lost.length === 0) return;
    const wake: string[] = [];
    for (const j of await activeJobsOn(this.pool, lost))
      if (await requestRequeue(this.pool, j.id, j.attempt, `cluster lost: no heartbeat for ${Math.round(this.cfg.clusterLostTimeoutMs / 1000)}s`)) wake.push(j.id);
    this.log.warn({ clusters: lost, requeued: wake.length }, 'clusters lost');
    await this.workflows()?.wake(wake);
  }

  /** Withdraws dispatches their member has not started within the timeout; their workflows requeue them. */
  private async withdrawOverdue(): Promise<void> {
    const timeout = this.cfg.dispatchWaitTimeoutMs ?? DEFAULT_DISPATCH_WAIT_TIMEOUT_MS;
    if (timeout <= 0) return;
    const withdrawn = await withdrawOverdueDispatches(this.pool, timeout);
    if (withdrawn.length === 0) return;
    this.log.info({ jobs: withdrawn.map((d) => ({ id: d.id, cluster: d.cluster, waitedSec: d.waitedSec, reason: d.reason })) }, 'dispatched jobs withdrawn: not started on their member in time');
    await this.workflows()?.wake(withdrawn.map((d) => d.id));
  }

  /**
   * Re-sends lost wake signals: the store shows a step the workflow has not taken for a while. This is what
   * lets workflows poll rarely (minutes) and still recover in seconds after a crash between commit and signal.
   */
  async rewakeStale(): Promise<number> {
    const wf = this.workflows();
    if (!wf) return 0;
    const ids = await claimStaleSteps(this.pool, 5000, 500);
    if (ids.length) await wf.wake(ids);
    return ids.length;
  }

  /** Starts workflows whose start was never confirmed (crash or Temporal outage right after the submit commit). */
  async reconcileWorkflows(): Promise<number> {
    const wf = this.workflows();
    if (!wf) return 0;
    const ids = await jobsMissingWorkflow(this.pool, 2000, 500);
    const started: string[] = [];
    for (const id of ids) {
      try {
        await wf.start(id);
        started.push(id);
      } catch (err) {
        this.log.debug({ jobId: id, err: (err as Error).message }, 'workflow start failed; will retry');
        break;
      }
    }
    await markWorkflowStarted(this.pool, started);
    return started.length;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.paced) clearTimeout(this.paced);
    await this.listener.stop();
    for (let i = 0; i < 100 && this.running; i++) await new Promise((r) => setTimeout(r, 50));
    await this.leadership.release();
  }
}
