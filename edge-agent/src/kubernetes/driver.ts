// The Kubernetes driver: inventory, job tracking, dispatch/cancel/logs and node commands over one
// kubeconfig, emitting agent protocol events through a sink. It knows nothing about the hub connection,
// so engine tests drive it directly; agent.ts plugs it into hub-link.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { AgentEvent, Command } from '@meridian/protocol/agent-protocol';
import { cancelJob } from './cancel.ts';
import { requestCheckpoint } from './checkpoint-signal.ts';
import { DriftMonitor } from './drift.ts';
import type { DriftMode } from './drift.ts';
import { errText, statusOf } from './informer.ts';
import { DEFAULT_INVENTORY_OPTIONS, InventoryTracker } from './inventory.ts';
import type { InventoryOptions } from './inventory.ts';
import { DEFAULT_JOB_OPTIONS, ensureJob, ensureNamespace, jobName } from './jobs.ts';
import type { JobOptions } from './jobs.ts';
import { taskLogs } from './logs.ts';
import { NodeOps } from './node-ops.ts';
import type { Outcome } from './node-ops.ts';
import { startPrewarm } from './prewarm.ts';
import { buildJobSecret, deleteJobSecret, ensureJobSecret, hasSecrets, ownJobSecret } from './secrets.ts';
import { GangGate } from './gang.ts';
import { JobTracker } from './status.ts';

export interface DriverOptions {
  kubeConfig: k8s.KubeConfig;
  /** Namespace for Meridian's Jobs (created when missing). */
  namespace: string;
  emit: (event: AgentEvent) => void;
  inventory?: Partial<InventoryOptions>;
  jobs?: Partial<Omit<JobOptions, 'namespace'>>;
  driftMode?: DriftMode;
  deltaIntervalMs?: number;
  statusDebounceMs?: number;
  /**
   * Create Jobs suspended and release them this long after the dispatch, unless a cancel for the same
   * attempt follows (a replayed outbox after an outage carries dispatch + cancel back to back): a job
   * requeued elsewhere meanwhile never starts here. 0 creates Jobs running at once.
   */
  holdMs?: number;
  /** Keep retrying a dispatch the apiserver cannot take (down, 5xx, 429) this long before failing it. */
  dispatchRetryMs?: number;
  log?: Pick<Logger, 'info' | 'warn' | 'debug' | 'error'>;
}

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const transient = (err: unknown): boolean => {
  const code = statusOf(err);
  return code === undefined || code === 429 || code >= 500;
};

export class KubernetesDriver {
  readonly inventory: InventoryTracker;
  readonly tracker: JobTracker;
  readonly gangs: GangGate;
  readonly ops: NodeOps;
  readonly drift: DriftMonitor;
  readonly batch: k8s.BatchV1Api;
  readonly core: k8s.CoreV1Api;
  readonly jobOptions: JobOptions;
  readonly commandCounts = new Map<string, number>();
  private readyPromise: Promise<void> | null = null;
  private apiDownSince: number | null = null;
  private readonly held = new Map<string, NodeJS.Timeout>();
  /**
   * Set by the agent while it has stepped back from the hub because the apiserver is unreachable: a dispatch
   * still retrying gives the job back (reported `NodeLost`, which the hub requeues elsewhere) instead of
   * creating it later behind the hub's back.
   */
  givingUp = false;
  private lastApiError: string | null = null;

  constructor(private readonly o: DriverOptions) {
    const kc = o.kubeConfig;
    this.batch = kc.makeApiClient(k8s.BatchV1Api);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    const inv: InventoryOptions = { ...DEFAULT_INVENTORY_OPTIONS, ...o.inventory };
    this.jobOptions = {
      ...DEFAULT_JOB_OPTIONS,
      gpuModelLabel: inv.gpuModelLabel,
      gpuResource: inv.gpuResource,
      rdmaResource: inv.rdmaResource,
      sharedGpuResource: inv.sharedGpuResource,
      sharedGpuReplicas: inv.sharedGpuReplicas,
      ...o.jobs,
      namespace: o.namespace,
    };
    this.ops = new NodeOps(this.core);
    this.drift = new DriftMonitor(o.driftMode ?? 'report', o.emit, this.ops, o.log);
    const onHealth = (ok: boolean, err?: string): void => {
      if (!ok) {
        this.apiDownSince ??= Date.now();
        this.lastApiError = err ?? null;
        o.log?.warn({ err }, 'lost the Kubernetes apiserver; retrying');
      } else if (this.inventory?.healthy && this.tracker?.jobs.healthy && this.tracker?.pods.healthy) {
        if (this.apiDownSince) o.log?.info({ downMs: Date.now() - this.apiDownSince }, 'Kubernetes apiserver is back');
        this.apiDownSince = null;
      }
    };
    this.inventory = new InventoryTracker(kc, {
      ...inv,
      emit: o.emit,
      deltaIntervalMs: o.deltaIntervalMs ?? 250,
      maxPerDelta: 500,
      onNode: (n) => this.drift.check(n),
      onHealth,
    });
    this.tracker = new JobTracker(kc, {
      namespace: o.namespace,
      emit: o.emit,
      debounceMs: o.statusDebounceMs ?? 100,
      onHealth,
      onEvicted: (ref) => {
        o.log?.warn(ref, 'a pod of the attempt was evicted: failing the attempt and deleting its Job (the hub requeues it)');
        cancelJob(this.batch, this.core, o.namespace, { ...ref, graceSeconds: 0 }).catch((err: unknown) => o.log?.warn({ ...ref, err: errText(err) }, 'deleting an evicted Job failed'));
      },
      onUnstartable: (ref) => {
        o.log?.warn(ref, 'a container of the attempt can never start: failing the attempt and deleting its Job');
        cancelJob(this.batch, this.core, o.namespace, { ...ref, graceSeconds: 0 }).catch((err: unknown) => o.log?.warn({ ...ref, err: errText(err) }, 'deleting an unstartable Job failed'));
      },
    });
    this.gangs = new GangGate(this.core, this.batch, {
      namespace: o.namespace,
      gpuResource: inv.gpuResource,
      jobs: () => this.tracker.jobs.list(o.namespace),
      pods: () => this.tracker.pods.list(o.namespace),
      nodes: () => this.inventory.snapshot(),
      ...(o.log ? { log: o.log } : {}),
    });
  }

  /** Starts informers; resolves after the first inventory snapshot has been emitted. */
  start(): Promise<void> {
    this.readyPromise ??= (async () => {
      for (let i = 0; ; i++) {
        try {
          await ensureNamespace(this.core, this.o.namespace);
          break;
        } catch (err) {
          if (i % 10 === 0) this.o.log?.warn({ err: errText(err) }, 'cannot reach the Kubernetes apiserver yet; retrying');
          await sleep(Math.min(5000, 250 * 2 ** i));
        }
      }
      await this.tracker.start();
      await this.inventory.start();
      this.gangs.start();
    })();
    return this.readyPromise;
  }

  private holdThenRelease(name: string, ms: number): void {
    const prev = this.held.get(name);
    if (prev) clearTimeout(prev);
    this.held.set(
      name,
      setTimeout(() => {
        this.held.delete(name);
        void this.release(name);
      }, ms),
    );
  }

  /** Un-suspends a held Job (retrying while the apiserver is away); a deleted one stays deleted. */
  private async release(name: string): Promise<void> {
    for (let i = 0; i < 60; i++) {
      try {
        await this.batch.patchNamespacedJob({ name, namespace: this.o.namespace, body: { spec: { suspend: false } } }, mergePatch);
        return;
      } catch (err) {
        const code = statusOf(err);
        if (code === 404) return;
        if (!transient(err)) {
          this.o.log?.warn({ job: name, err: errText(err) }, 'releasing a held Job failed');
          return;
        }
        await sleep(Math.min(5000, 250 * 2 ** i));
      }
    }
  }

  /**
   * Releases Jobs still held from before a restart (their dispatch was applied, the release never ran).
   * Call once the hub link has replayed its backlog, so a queued cancel gets there first.
   */
  releaseHeld(afterMs = this.o.holdMs ?? 50): void {
    for (const j of this.tracker.jobs.list(this.o.namespace)) {
      const name = j.metadata?.name;
      if (name && j.spec?.suspend && !j.metadata?.deletionTimestamp && !this.held.has(name)) this.holdThenRelease(name, afterMs);
    }
  }

  /** Milliseconds the apiserver has been unreachable (0 when reachable). */
  get apiDownMs(): number {
    return this.apiDownSince ? Date.now() - this.apiDownSince : 0;
  }

  get apiError(): string | null {
    return this.lastApiError;
  }

  async stop(): Promise<void> {
    for (const t of this.held.values()) clearTimeout(t);
    this.held.clear();
    this.gangs.stop();
    await Promise.all([this.inventory.stop(), this.tracker.stop()]);
  }

  /** Applies one hub command idempotently; the outcome becomes a command.result (void: none needed). */
  async handle(cmd: Command): Promise<Outcome | void> {
    await this.start();
    const count = (result: string): void => {
      const k = `${cmd.kind}\u0000${result}`;
      this.commandCounts.set(k, (this.commandCounts.get(k) ?? 0) + 1);
    };
    let out: Outcome | void;
    try {
      out = await this.apply(cmd);
    } catch (err) {
      out = { ok: false, error: errText(err) };
    }
    count(out && !out.ok ? 'error' : 'ok');
    return out;
  }

  private async apply(cmd: Command): Promise<Outcome | void> {
    switch (cmd.kind) {
      case 'dispatch': {
        const ref = { jobId: cmd.jobId, attempt: cmd.attempt };
        try {
          // a bad secret name is the dispatch's fault: refused at once, never retried
          if (hasSecrets(cmd)) buildJobSecret(cmd, this.o.namespace);
        } catch (err) {
          const reason = `DispatchFailed: ${errText(err)}`;
          this.o.emit({ type: 'job.status', jobId: cmd.jobId, attempt: cmd.attempt, phase: 'Failed', reason, tasks: [], finishedAt: new Date().toISOString() });
          return { ok: false, error: reason };
        }
        const deadline = Date.now() + (this.o.dispatchRetryMs ?? 120_000);
        for (let i = 0; ; i++) {
          try {
            const hold = this.o.holdMs ?? 50;
            const secret = hasSecrets(cmd) ? await ensureJobSecret(this.core, cmd, this.o.namespace) : undefined;
            const r = await ensureJob(this.batch, cmd, this.jobOptions, hold > 0).catch(async (err: unknown) => {
              if (secret) await deleteJobSecret(this.core, secret, this.o.namespace).catch(() => undefined);
              throw err;
            });
            if (secret) await ownJobSecret(this.core, secret, r.job);
            if (r.job.spec?.suspend) this.holdThenRelease(r.name, hold);
            this.o.log?.info({ jobId: cmd.jobId, attempt: cmd.attempt, job: r.name, adopted: !r.created }, r.created ? 'job created' : 'job adopted');
            this.tracker.resend(ref);
            return { ok: true, detail: { clusterJobId: `${r.namespace}/${r.name}`, adopted: !r.created } };
          } catch (err) {
            const cause = (err as { cause?: unknown }).cause ?? err;
            if (transient(cause) && this.givingUp) {
              const reason = `NodeLost: the cluster's Kubernetes apiserver is unreachable (${errText(err)}); dispatch not applied`;
              this.o.emit({ type: 'job.status', jobId: cmd.jobId, attempt: cmd.attempt, phase: 'Failed', reason, tasks: [], finishedAt: new Date().toISOString() });
              return { ok: false, error: reason };
            }
            if (transient(cause) && !/exists but is not|being deleted/.test(errText(err)) && Date.now() < deadline) {
              await sleep(Math.min(5000, 250 * 2 ** i));
              continue;
            }
            const reason = `DispatchFailed: ${errText(err)}`;
            this.o.emit({ type: 'job.status', jobId: cmd.jobId, attempt: cmd.attempt, phase: 'Failed', reason, tasks: [], finishedAt: new Date().toISOString() });
            return { ok: false, error: reason };
          }
        }
      }
      case 'cancel': {
        if (cmd.attempt) this.tracker.markCancelled({ jobId: cmd.jobId, attempt: cmd.attempt }, cmd.reason);
        for (const [name, t] of this.held)
          if (name === jobName(cmd.jobId, cmd.attempt ?? 0) || (!cmd.attempt && name.startsWith(jobName(cmd.jobId, 1).replace(/-a1$/, '-a')))) {
            clearTimeout(t);
            this.held.delete(name);
          }
        const r = await cancelJob(this.batch, this.core, this.o.namespace, cmd);
        const attempts = new Set(r.attempts);
        if (cmd.attempt) attempts.add(cmd.attempt);
        for (const a of attempts) this.tracker.markCancelled({ jobId: cmd.jobId, attempt: a }, cmd.reason);
        return { ok: true, detail: { deleted: r.deleted } };
      }
      case 'node':
        return this.ops.apply(cmd);
      case 'logs':
        return taskLogs(this.core, this.o.namespace, cmd);
      case 'prewarm':
        return startPrewarm(this.batch, this.o.namespace, this.o.emit, cmd, this.o.log);
      case 'signal':
        return requestCheckpoint(this.core, this.o.namespace, cmd);
      case 'hold':
      case 'release':
        // The hub holds jobs before they are placed; a Kubernetes Job has no pending-but-held state to forward to.
        return { ok: false, error: `${cmd.kind} of a dispatched job is not supported on Kubernetes clusters` };
    }
  }
}
