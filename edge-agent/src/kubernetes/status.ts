// Status up: a Job and its pods → JobStatusEvent (phase, per-task phase/node/exit code/times, and a plain
// reason a person understands: ImagePullBackOff, Unschedulable, OOMKilled, DeadlineExceeded, Evicted).
// jobStatus() is pure; JobTracker watches Meridian's Jobs and pods (informers, label-selected) and emits an
// event whenever what the hub would see changes.
import * as k8s from '@kubernetes/client-node';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { AgentEvent, JobStatusEvent } from '@meridian/protocol/agent-protocol';
import { LABELS } from '@meridian/protocol/agent-protocol';
import { pendingReason } from './gang.ts';
import { KeptInformer } from './informer.ts';
import { COMPLETION_INDEX_ANNOTATION, JOB_ANNOTATIONS, MANAGED_BY } from './jobs.ts';
import { SLURM_ANNOTATION_PREFIX } from '@meridian/protocol/slurm/annotations';
import { parseArray } from './slurm-script.ts';

type Task = JobStatusEvent['tasks'][number];

const WAITING_REASONS = new Set(['ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'CreateContainerConfigError', 'CreateContainerError', 'CrashLoopBackOff', 'RunContainerError']);
/**
 * Waiting reasons that no wait will cure: the image cannot be pulled or named, or the runtime cannot create the
 * container. The attempt fails at once with the kubelet's words instead of hanging Pending until its deadline.
 * (CreateContainerConfigError is not among them: a Secret created a moment after its Job heals it.)
 */
const UNSTARTABLE_REASONS = new Set(['ImagePullBackOff', 'InvalidImageName', 'CreateContainerError', 'RunContainerError']);
/** The most the failure message carries of a container's last log lines (the kubelet keeps at most 4 KiB). */
const MESSAGE_MAX = 2048;

/** A runtime's start error cut to what a person acts on: `exec: "nosuch": executable file not found in $PATH`. */
function startError(message: string): string {
  const m = message.split('unable to start container process: ').pop() ?? message;
  return m.replace(/: unknown$/, '').trim().slice(0, 300);
}

const iso = (d: Date | string | undefined | null): string | undefined => (d ? new Date(d).toISOString() : undefined);

function podIndex(p: V1Pod): number {
  const v = p.metadata?.annotations?.[COMPLETION_INDEX_ANNOTATION] ?? p.metadata?.labels?.[COMPLETION_INDEX_ANNOTATION];
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

const arrays = new Map<string, number[]>();
/** A login-node array's pod reports its array index (completion index i runs the i-th index of the spec). */
function taskIndex(p: V1Pod): number {
  const i = podIndex(p);
  const spec = p.metadata?.annotations?.[`${SLURM_ANNOTATION_PREFIX}array`];
  if (!spec) return i;
  let indices = arrays.get(spec);
  if (!indices) {
    try {
      indices = parseArray(spec).indices;
    } catch {
      indices = [];
    }
    if (arrays.size > 1000) arrays.clear();
    arrays.set(spec, indices);
  }
  return indices[i] ?? i;
}

/** One pod as a task status (pure). */
export function taskStatus(p: V1Pod): Task {
  const cs = p.status?.containerStatuses?.find((c) => c.name === 'main') ?? p.status?.containerStatuses?.[0];
  const term = cs?.state?.terminated ?? cs?.lastState?.terminated;
  const waiting = cs?.state?.waiting;
  const phase = (p.status?.phase ?? 'Pending') as Task['phase'];
  const sched = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
  const disrupted = p.status?.conditions?.find((c) => c.type === 'DisruptionTarget' && c.status === 'True');
  let reason: string | undefined;
  if (disrupted) reason = disrupted.reason === 'DeletionByTaintManager' ? 'Evicted: NoExecute taint' : `Evicted${disrupted.reason ? `: ${disrupted.reason}` : ''}`;
  else if (p.status?.reason === 'Evicted') reason = 'Evicted';
  else if (p.status?.reason === 'DeadlineExceeded') reason = 'DeadlineExceeded';
  else if (term?.reason === 'OOMKilled') reason = 'OOMKilled';
  else if (waiting?.reason && WAITING_REASONS.has(waiting.reason)) reason = waiting.reason === 'ErrImagePull' ? 'ImagePullBackOff' : waiting.reason;
  else if (sched?.status === 'False' && sched.reason === 'Unschedulable') reason = 'Unschedulable';
  else if (phase === 'Failed' && term?.reason === 'StartError' && term.message) reason = `StartError: ${startError(term.message)}`;
  else if (phase === 'Failed' && term?.reason && term.reason !== 'Error') reason = term.reason;
  const exitCode = term?.exitCode;
  const startedAt = iso(term?.startedAt ?? cs?.state?.running?.startedAt ?? p.status?.startTime);
  const finishedAt = iso(term?.finishedAt);
  return {
    index: taskIndex(p),
    ...(p.spec?.nodeName ? { node: p.spec.nodeName } : {}),
    phase: ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'].includes(phase) ? phase : 'Unknown',
    ...(exitCode !== undefined && exitCode !== null ? { exitCode } : {}),
    ...(term?.signal ? { signal: term.signal } : {}),
    ...(reason ? { reason } : {}),
    ...(phase !== 'Pending' && startedAt ? { startedAt } : {}),
    ...(finishedAt && (phase === 'Succeeded' || phase === 'Failed') ? { finishedAt } : {}),
  };
}

function mainStatus(p: V1Pod | undefined): k8s.V1ContainerStatus | undefined {
  return p?.status?.containerStatuses?.find((c) => c.name === 'main') ?? p?.status?.containerStatuses?.[0];
}

/** What the kubelet wrote as a terminated container's message: its last log lines when it failed. */
function terminatedMessage(p: V1Pod | undefined): string | undefined {
  const m = mainStatus(p)?.state?.terminated?.message?.trimEnd();
  return m ? m.slice(-MESSAGE_MAX) : undefined;
}

/** The kubelet's words for a task stuck before its container started (the pull or create error). */
function waitingMessage(pods: V1Pod[], index: number): string | undefined {
  const p = pods.filter((x) => taskIndex(x) === index).at(-1);
  return mainStatus(p)?.state?.waiting?.message?.slice(0, MESSAGE_MAX);
}

function schedulingMessage(pods: V1Pod[]): string | undefined {
  for (const p of pods) {
    const c = p.status?.conditions?.find((x) => x.type === 'PodScheduled' && x.status === 'False' && x.reason === 'Unschedulable');
    if (c?.message) return c.message;
  }
  return undefined;
}

export interface JobRef {
  jobId: string;
  attempt: number;
}

/**
 * What the hub should know about one attempt (pure). `job` undefined means the Job is gone: `deleted`
 * says whether the agent deleted it (cancel) — then it is Cancelled.
 */
export function jobStatus(ref: JobRef, job: V1Job | undefined, pods: V1Pod[], deletedReason?: string): JobStatusEvent {
  // Latest pod per completion index.
  const latest = new Map<number, V1Pod>();
  for (const p of pods) {
    const i = podIndex(p);
    const cur = latest.get(i);
    const ts = (x: V1Pod) => new Date(x.metadata?.creationTimestamp ?? 0).getTime();
    if (!cur || ts(p) >= ts(cur)) latest.set(i, p);
  }
  const tasks = [...latest.values()].map(taskStatus).sort((a, b) => a.index - b.index);
  const base = {
    type: 'job.status' as const,
    jobId: ref.jobId,
    attempt: ref.attempt,
    ...(job ? { clusterJobId: `${job.metadata?.namespace}/${job.metadata?.name}` } : {}),
  };
  const starts = tasks.map((t) => t.startedAt).filter((x): x is string => Boolean(x)).sort();
  const ends = tasks.map((t) => t.finishedAt).filter((x): x is string => Boolean(x)).sort();
  const startedAt = starts[0] ?? iso(job?.status?.startTime);
  const times = (finished?: string) => ({ ...(startedAt ? { startedAt } : {}), ...(finished ? { finishedAt: finished } : {}) });

  if (!job || job.metadata?.deletionTimestamp) {
    if (deletedReason !== undefined || !job)
      return { ...base, phase: 'Cancelled', tasks, reason: deletedReason || 'Job deleted on the cluster', ...times(ends.at(-1) ?? new Date().toISOString()) };
  }
  const conds = job?.status?.conditions ?? [];
  const complete = conds.find((c) => c.type === 'Complete' && c.status === 'True');
  const failed = conds.find((c) => c.type === 'Failed' && c.status === 'True') ?? conds.find((c) => c.type === 'FailureTarget' && c.status === 'True');
  if (complete) return { ...base, phase: 'Succeeded', tasks, exitCode: 0, ...times(iso(job?.status?.completionTime ?? complete.lastTransitionTime) ?? ends.at(-1)) };
  if (failed) {
    const bad = tasks.find((t) => t.phase === 'Failed' && t.reason) ?? tasks.find((t) => t.phase === 'Failed' && t.exitCode) ?? tasks.find((t) => t.phase === 'Failed');
    let reason: string;
    if (failed.reason === 'DeadlineExceeded') reason = 'DeadlineExceeded';
    else if (bad?.reason) reason = bad.reason;
    else if (failed.reason === 'PodFailurePolicy') reason = 'Evicted';
    else reason = bad?.exitCode !== undefined ? `Error: exit code ${bad.exitCode}` : (failed.reason ?? 'Failed');
    const exitCode = tasks.find((t) => t.phase === 'Failed' && t.exitCode !== undefined && t.exitCode !== 0)?.exitCode ?? bad?.exitCode;
    // The failed container's last log lines (terminationMessagePolicy FallbackToLogsOnError) say more than the
    // Job's "reached the specified backoff limit".
    const lastLines = bad ? terminatedMessage([...latest.values()].find((p) => taskIndex(p) === bad.index)) : undefined;
    const message = lastLines ? `last lines of task ${bad!.index}:\n${lastLines}` : failed.message;
    return {
      ...base,
      phase: 'Failed',
      tasks,
      ...(exitCode !== undefined ? { exitCode } : {}),
      reason,
      ...(message ? { message } : {}),
      ...times(iso(failed.lastTransitionTime) ?? ends.at(-1)),
    };
  }
  // A gang runs when every task has started (a half-bound gang is Pending, never Running); an array (its
  // parallelism below its completions, or indices failing on their own) runs when any index has.
  const started = tasks.filter((t) => t.phase === 'Running' || t.phase === 'Succeeded' || t.phase === 'Failed').length;
  const spec = job?.spec;
  const isArray = spec?.backoffLimitPerIndex !== undefined || (spec?.completions ?? 1) !== (spec?.parallelism ?? 1);
  const want = isArray ? 1 : (spec?.completions ?? Math.max(1, tasks.length));
  const running = started >= want;
  const stuck = tasks.find((t) => t.phase === 'Pending' && t.reason);
  const unstartable = tasks.find((t) => t.phase === 'Pending' && t.reason && UNSTARTABLE_REASONS.has(t.reason));
  if (unstartable && job && !job.metadata?.deletionTimestamp) {
    const why = waitingMessage(pods, unstartable.index);
    return {
      ...base,
      phase: 'Failed',
      tasks,
      reason: `${unstartable.reason}${why ? `: ${why}` : ''}`.slice(0, MESSAGE_MAX),
      ...(why ? { message: why } : {}),
      ...times(new Date().toISOString()),
    };
  }
  const msg = stuck?.reason === 'Unschedulable' ? schedulingMessage(pods) : undefined;
  return {
    ...base,
    phase: running ? 'Running' : 'Pending',
    tasks,
    ...(stuck?.reason ? { reason: stuck.reason } : {}),
    ...(msg ? { message: msg } : {}),
    ...(running ? times() : { pendingReason: pendingReason(job, tasks, started, want, stuck, msg) }),
  };
}

/** A stable fingerprint of what matters in a status (so a pod heartbeat does not resend it). */
export function statusKey(s: JobStatusEvent): string {
  return JSON.stringify([s.phase, s.reason, s.pendingReason, s.exitCode, s.tasks.map((t) => [t.index, t.phase, t.node, t.exitCode, t.reason])]);
}

/** The Job controller itself has ended the Job (as opposed to the agent giving up on it). */
function finishedByKubernetes(job: V1Job): boolean {
  return (job.status?.conditions ?? []).some((c) => ['Complete', 'Failed', 'FailureTarget'].includes(c.type) && c.status === 'True');
}

function refOf(o: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } }): JobRef | null {
  const l = o.metadata?.labels ?? {};
  const attempt = Number(l[LABELS.attempt]);
  const jobId = o.metadata?.annotations?.['meridian.dev/job-id'] ?? l[LABELS.jobId];
  if (!jobId || !Number.isInteger(attempt) || attempt < 1) return null;
  return { jobId, attempt };
}

export interface JobTrackerOptions {
  namespace: string;
  emit: (event: AgentEvent) => void;
  /** Coalesce changes of one job for this long. */
  debounceMs: number;
  onHealth?: (ok: boolean, err?: string) => void;
  /**
   * A running pod of an active attempt was evicted (drain, preemption, NoExecute taint): the gang is broken,
   * the attempt is reported Failed ("Evicted: ...", which the hub requeues) and this is called so the
   * driver deletes the rest of it — the Job controller must not re-run it behind the hub's back.
   */
  onEvicted?: (ref: JobRef) => void;
  /**
   * An attempt's container can never start (its image cannot be pulled, the runtime cannot create it): it was
   * reported Failed with the kubelet's reason and this is called so the driver deletes its Job.
   */
  onUnstartable?: (ref: JobRef) => void;
}

/** Watches Meridian's Jobs and pods in the jobs namespace and streams status changes up. */
export class JobTracker {
  readonly jobs: KeptInformer<V1Job>;
  readonly pods: KeptInformer<V1Pod>;
  private readonly last = new Map<string, string>();
  private readonly lastPhase = new Map<string, JobStatusEvent['phase']>();
  private readonly pending = new Map<string, JobRef>();
  private readonly podsByJob = new Map<string, Map<string, V1Pod>>();
  /** Attempts the agent cancelled, with the reason (so their deletion reads Cancelled, not lost). */
  private readonly cancelled = new Map<string, string>();
  /** Attempts that lost a running pod to an eviction, with the plain reason. */
  private readonly evicted = new Map<string, string>();
  /** Attempts reported Failed because a container could never start, with that report (it stands while the Job goes). */
  private readonly unstartable = new Map<string, JobStatusEvent>();
  private timer: NodeJS.Timeout | null = null;
  private started = false;

  constructor(
    kc: k8s.KubeConfig,
    private readonly o: JobTrackerOptions,
  ) {
    const batch = kc.makeApiClient(k8s.BatchV1Api);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const labelSelector = `${LABELS.managedBy}=${MANAGED_BY},${LABELS.jobId}`;
    this.jobs = new KeptInformer<V1Job>(kc, `/apis/batch/v1/namespaces/${o.namespace}/jobs`, () => batch.listNamespacedJob({ namespace: o.namespace, labelSelector }), {
      upsert: (j) => this.touch(refOf(j)),
      remove: (j) => this.touch(refOf(j)),
      onHealth: o.onHealth,
    }, { labelSelector });
    this.pods = new KeptInformer<V1Pod>(kc, `/api/v1/namespaces/${o.namespace}/pods`, () => core.listNamespacedPod({ namespace: o.namespace, labelSelector }), {
      upsert: (p) => this.podEvent(p, false),
      remove: (p) => this.podEvent(p, true),
      onHealth: o.onHealth,
    }, { labelSelector });
  }

  static key(r: JobRef): string {
    return `${r.jobId}/${r.attempt}`;
  }

  async start(): Promise<void> {
    this.jobs.start();
    this.pods.start();
    await Promise.all([this.jobs.synced, this.pods.synced]);
    this.started = true;
    this.schedule();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await Promise.all([this.jobs.stop(), this.pods.stop()]);
  }

  /** Marks an attempt as cancelled by the agent: its Job's disappearance reports Cancelled with this reason. */
  markCancelled(ref: JobRef, reason: string): void {
    this.cancelled.set(JobTracker.key(ref), reason);
    this.touch(ref);
  }

  /** The current status of one attempt from the informer caches. */
  status(ref: JobRef): JobStatusEvent {
    const k = JobTracker.key(ref);
    const job = this.findJob(ref);
    const pods = [...(this.podsByJob.get(k)?.values() ?? [])];
    return jobStatus(ref, job, pods, this.cancelled.get(k));
  }

  /** Forces the next change of this attempt (or its current state) to be sent, e.g. after adopting it. */
  resend(ref: JobRef): void {
    this.last.delete(JobTracker.key(ref));
    this.touch(ref);
  }

  private findJob(ref: JobRef): V1Job | undefined {
    return this.jobs.list(this.o.namespace).find((j) => {
      const r = refOf(j);
      return r?.jobId === ref.jobId && r.attempt === ref.attempt;
    });
  }

  private podEvent(p: V1Pod, gone: boolean): void {
    const ref = refOf(p);
    if (!ref) return;
    const k = JobTracker.key(ref);
    let m = this.podsByJob.get(k);
    if (!m) this.podsByJob.set(k, (m = new Map()));
    if (gone) {
      const seen = m.get(p.metadata?.name ?? '') ?? p;
      m.delete(p.metadata?.name ?? '');
      const ph = seen.status?.phase ?? p.status?.phase;
      const disrupted = [...(seen.status?.conditions ?? []), ...(p.status?.conditions ?? [])].find((c) => c.type === 'DisruptionTarget' && c.status === 'True');
      if (disrupted && ph !== 'Succeeded' && ph !== 'Failed' && !this.cancelled.has(k) && !this.evicted.has(k)) {
        this.evicted.set(k, `Evicted: ${disrupted.reason ?? 'DisruptionTarget'} (pod ${p.metadata?.name} on ${p.spec?.nodeName ?? seen.spec?.nodeName ?? 'unknown node'})`);
      }
    } else m.set(p.metadata?.name ?? '', p);
    this.touch(ref);
  }

  private touch(ref: JobRef | null): void {
    if (!ref) return;
    this.pending.set(JobTracker.key(ref), ref);
    this.schedule();
  }

  private schedule(): void {
    if (!this.started || this.timer || this.pending.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.o.debounceMs);
  }

  flush(): void {
    const refs = [...this.pending.values()];
    this.pending.clear();
    for (const ref of refs) {
      const k = JobTracker.key(ref);
      const job = this.findJob(ref);
      const pods = [...(this.podsByJob.get(k)?.values() ?? [])];
      // A Job we never saw and did not cancel (pods of a deleted Job arriving late) is not news.
      if (!job && !this.cancelled.has(k) && !this.last.has(k)) continue;
      // A finished Job collected later (ttlSecondsAfterFinished, kubectl delete) stays finished.
      const before = this.lastPhase.get(k);
      if (!job && (before === 'Succeeded' || before === 'Failed' || before === 'Cancelled')) continue;
      let ev = jobStatus(ref, job, pods, this.cancelled.get(k));
      const evicted = this.evicted.get(k);
      if (evicted && ev.phase !== 'Succeeded' && ev.phase !== 'Failed' && ev.phase !== 'Cancelled') {
        ev = { ...ev, phase: 'Failed', reason: evicted, finishedAt: new Date().toISOString() };
        this.o.onEvicted?.(ref);
      }
      const gaveUp = this.unstartable.get(k);
      if (gaveUp && ev.phase !== 'Succeeded' && ev.phase !== 'Failed' && ev.phase !== 'Cancelled') ev = gaveUp;
      else if (!gaveUp && ev.phase === 'Failed' && job && !finishedByKubernetes(job)) {
        this.unstartable.set(k, ev);
        this.o.onUnstartable?.(ref);
      }
      const fp = statusKey(ev);
      if (this.last.get(k) === fp) continue;
      this.last.set(k, fp);
      this.lastPhase.set(k, ev.phase);
      this.o.emit(ev);
      if (!job && pods.length === 0) {
        // Gone for good: forget it (keep the fingerprint so a late event does not resend Cancelled).
        this.podsByJob.delete(k);
        this.unstartable.delete(k);
      }
    }
    this.schedule();
  }
}

export { JOB_ANNOTATIONS };
