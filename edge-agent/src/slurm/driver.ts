// The edge agent's Slurm driver: inventory up, dispatch/cancel/node commands down, job status up.
// Transport-agnostic (slurmrestd or SSH). The agent wires it to the hub link with `slurmCommandHandler`
// (see ./link.ts): every command is idempotent, keyed by the federation job id carried in the Slurm comment.
import type { AgentEvent, DispatchCommand, JobStatusEvent, NodeInfo } from '@meridian/protocol/agent-protocol';
import type { SlurmJob, SlurmNode, SlurmTransport } from '@meridian/slurm-bridge/types';
import { JobAccounts } from './accounts.ts';
import { slurmTaskLogs } from './logs.ts';
import { SlurmPrewarmer, type PrewarmInput } from './prewarm.ts';
import { attemptKey, SlurmSecrets } from './secrets.ts';
import {
  COMMENT_PREFIX,
  REASON_PREFIX,
  federationComment,
  nodeInfoOf,
  parseFederationComment,
  readExtras,
  statusEvent,
  submitRequestFor,
  translateDependency,
  type ContainerRuntime,
} from './translate.ts';

/** Structural copies of the protocol's command shapes (inputs may omit defaulted fields). */
export interface CancelInput {
  kind?: 'cancel';
  jobId: string;
  attempt?: number;
  graceSeconds?: number;
  reason?: string;
}

export interface NodeCommandInput {
  kind?: 'node';
  node: string;
  op: 'cordon' | 'uncordon' | 'drain' | 'taint' | 'untaint' | 'label' | 'power-up' | 'power-down';
  reason?: string;
}

export interface Outcome {
  ok: boolean;
  error?: string;
  detail?: unknown;
}

export interface SlurmDriverOptions {
  transport: SlurmTransport;
  clusterName?: string;
  /** Directory jobs start in (and write default output to) when the dispatch names none. */
  workDir: string;
  runtime?: ContainerRuntime;
  gpuTypes?: Record<string, string>;
  defaultPartition?: string;
  pollIntervalMs?: number;
  /**
   * Submit under the Meridian job ID, so sbatch's answer, squeue, sacct and SLURM_JOB_ID agree. Default: when the
   * transport can (the CLI with the job-ID library). The cluster's FirstJobId must lie above Meridian's IDs.
   */
  jobIds?: boolean;
  /**
   * Whose Unix account a job runs as: `agent` (the agent's own) or `submitter` (the account named like the
   * Meridian user who submitted it, or as `userMap` says; sbatch --uid/--gid, so the agent runs as root).
   */
  runAs?: 'agent' | 'submitter';
  /** Meridian user → Unix account, where the names differ. */
  userMap?: Record<string, string>;
  /** The lowest uid a job may run as (root and system accounts never). Default 1000. */
  minUid?: number;
  /** Pin each job to the nodes the hub chose (--nodelist). Default true. */
  pin?: boolean;
  /** gres/shard per GPU (as gres.conf has it) for milli-GPU jobs; unset: shares are refused. */
  shardsPerGpu?: number;
  log?: { info: (o: object, m?: string) => void; warn: (o: object, m?: string) => void };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class SlurmDriver {
  private readonly listeners = new Set<(ev: AgentEvent) => void>();
  /** Last status sent per `jobId:attempt` (a JSON fingerprint), so only changes go up. */
  private readonly lastStatus = new Map<string, string>();
  private readonly lastNodes = new Map<string, string>();
  private readonly inFlight = new Map<string, Promise<unknown>>();
  /** Attempts cancelled here: a dispatch of one of them (a resend) never submits. */
  private readonly cancelled = new Set<string>();
  private readonly accounts: JobAccounts;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;
  private readonly prewarmer: SlurmPrewarmer;
  private readonly secrets: SlurmSecrets;

  constructor(private readonly opts: SlurmDriverOptions) {
    this.prewarmer = new SlurmPrewarmer({ transport: opts.transport, workDir: opts.workDir, emit: (ev) => this.emit(ev), ...(opts.log ? { log: opts.log } : {}) });
    this.accounts = new JobAccounts(opts.transport, opts.userMap ?? {}, opts.minUid ?? 1000);
    this.secrets = new SlurmSecrets({ files: () => opts.transport.files, workDir: opts.workDir, ...(opts.log ? { log: opts.log } : {}) });
  }

  get transport(): SlurmTransport {
    return this.opts.transport;
  }

  /** Subscribe to events for the hub (job.status, inventory.snapshot/delta). Returns an unsubscribe. */
  onEvent(listener: (ev: AgentEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(ev: AgentEvent): void {
    for (const l of this.listeners) {
      try {
        l(ev);
      } catch (err) {
        this.opts.log?.warn({ err }, 'slurm driver event listener threw');
      }
    }
  }

  // ---------- inventory ----------

  async inventory(): Promise<NodeInfo[]> {
    const nodes = await this.opts.transport.nodes();
    return nodes.map((n) => nodeInfoOf(n, this.opts.clusterName, Boolean(this.opts.shardsPerGpu)));
  }

  /** The next sync sends a full snapshot (after a reconnect to the hub). */
  resetInventory(): void {
    this.lastNodes.clear();
  }

  /** Emits a snapshot the first time, then deltas of the nodes whose info changed. */
  async syncInventory(): Promise<void> {
    const nodes = await this.inventory();
    const first = this.lastNodes.size === 0;
    const upserts: NodeInfo[] = [];
    const seen = new Set<string>();
    for (const n of nodes) {
      seen.add(n.name);
      const fp = JSON.stringify(n);
      if (this.lastNodes.get(n.name) !== fp) upserts.push(n);
      this.lastNodes.set(n.name, fp);
    }
    const deletes = [...this.lastNodes.keys()].filter((k) => !seen.has(k));
    for (const d of deletes) this.lastNodes.delete(d);
    if (first) this.emit({ type: 'inventory.snapshot', nodes });
    else if (upserts.length || deletes.length) this.emit({ type: 'inventory.delta', upserts, deletes });
  }

  // ---------- jobs down ----------

  /** Slurm jobs of one federation attempt (array tasks included). */
  async jobsOf(jobId: string, attempt: number): Promise<SlurmJob[]> {
    return this.opts.transport.findJobsByComment(federationComment(jobId, attempt));
  }

  /**
   * Submits the job unless this attempt already has a Slurm job (look up first: a resent dispatch never
   * runs twice). Returns the Slurm job id.
   */
  dispatch(cmd: DispatchCommand): Promise<{ clusterJobId: string; existing: boolean }> {
    // Dispatches of one job run one at a time, so a resend racing the original cannot submit twice.
    const key = `${cmd.jobId}:${cmd.attempt}`;
    const prev = this.inFlight.get(key) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => this.dispatchOnce(cmd)).catch((err: unknown) => {
      this.dispatchFailed(cmd, err);
      throw err;
    });
    const tail = next.catch(() => undefined).finally(() => {
      if (this.inFlight.get(key) === tail) this.inFlight.delete(key);
    });
    this.inFlight.set(key, tail);
    return next;
  }

  /**
   * A dispatch Slurm refused (sbatch's error, an unknown account, a share the cluster cannot back) goes up at
   * once as the attempt's end, Failed with Slurm's words as the reason: the hub fails or retries it by its
   * rules instead of waiting on a job that will never appear.
   */
  private dispatchFailed(cmd: DispatchCommand, err: unknown): void {
    if (this.cancelled.has(`${cmd.jobId}:${cmd.attempt}`)) return;
    const text = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim().slice(0, 1000);
    this.opts.log?.warn({ jobId: cmd.jobId, attempt: cmd.attempt, err: text }, 'dispatch failed');
    const ev: JobStatusEvent = { type: 'job.status', jobId: cmd.jobId, attempt: cmd.attempt, phase: 'Failed', tasks: [], reason: `DispatchFailed: ${text}`, message: `not submitted to Slurm: ${text}`, finishedAt: new Date().toISOString() };
    this.lastStatus.set(`${cmd.jobId}:${cmd.attempt}`, JSON.stringify(ev));
    this.emit(ev);
  }

  private async dispatchOnce(cmd: DispatchCommand): Promise<{ clusterJobId: string; existing: boolean }> {
    if (this.cancelled.has(`${cmd.jobId}:${cmd.attempt}`)) throw new Error(`job ${cmd.jobId} attempt ${cmd.attempt} was cancelled before Slurm had it`);
    const existing = await this.jobsOf(cmd.jobId, cmd.attempt);
    if (existing.length) {
      const id = existing[0]!.arrayJobId ?? existing[0]!.jobId;
      return { clusterJobId: id, existing: true };
    }
    const runAs = (this.opts.runAs ?? 'agent') === 'submitter' ? await this.accounts.of(cmd) : undefined;
    // A login-node dependency (annotation) is enforced by the hub, which dispatches the job only once its
    // conditions hold (the prerequisite may have run anywhere); only an explicit `slurm.dependency` goes to Slurm.
    const extras = readExtras(cmd.slurm);
    const dependency = extras.dependency
      ? await translateDependency(extras.dependency, async (fid) => {
          const jobs = (await this.opts.transport.listJobs()).filter((j) => parseFederationComment(j.comment)?.jobId === fid);
          const latest = jobs.sort((a, b) => (parseFederationComment(b.comment)?.attempt ?? 0) - (parseFederationComment(a.comment)?.attempt ?? 0))[0];
          return latest ? (latest.arrayJobId ?? latest.jobId) : undefined;
        })
      : undefined;
    const hasSecrets = Object.keys(cmd.secrets ?? {}).length > 0;
    const secretsFile = hasSecrets ? await this.secrets.write(cmd.jobId, cmd.attempt, cmd.secrets!, runAs) : undefined;
    let jobId: string;
    try {
      const req = submitRequestFor(
        cmd,
        {
          runtime: this.opts.runtime ?? 'host',
          gpuTypes: this.opts.gpuTypes,
          defaultWorkDir: this.opts.workDir,
          defaultPartition: this.opts.defaultPartition,
          secretsFile,
          jobIds: this.opts.jobIds ?? this.opts.transport.setsJobIds === true,
          ...(runAs ? { runAs } : {}),
          pin: this.opts.pin ?? true,
          shardsPerGpu: this.opts.shardsPerGpu,
        },
        dependency,
      );
      try {
        ({ jobId } = await this.opts.transport.submit(req));
      } catch (err) {
        // Slurm still remembers an earlier attempt under this ID (MinJobAge): this attempt gets an ID of its own.
        if (req.jobId === undefined || !/Duplicate job id/i.test(String((err as Error).message))) throw err;
        this.opts.log?.warn({ jobId: cmd.jobId, attempt: cmd.attempt }, 'Slurm already has a job with this ID; submitting under a Slurm-chosen ID');
        delete req.jobId;
        ({ jobId } = await this.opts.transport.submit(req));
      }
    } catch (err) {
      if (hasSecrets) await this.secrets.remove(attemptKey(cmd.jobId, cmd.attempt));
      throw err;
    }
    this.opts.log?.info({ jobId: cmd.jobId, attempt: cmd.attempt, slurmJobId: jobId }, 'submitted to Slurm');
    return { clusterJobId: jobId, existing: false };
  }

  /**
   * Cancels every Slurm job of the federation job (one attempt, or all attempts), with an optional grace signal.
   * A dispatch of that attempt still under way finishes first (its job is then cancelled too). An attempt Slurm
   * never had (its dispatch failed, or never came) is reported Cancelled at once, so the hub does not wait.
   */
  async cancel(cmd: CancelInput): Promise<{ cancelled: string[] }> {
    if (cmd.attempt !== undefined) {
      const key = `${cmd.jobId}:${cmd.attempt}`;
      this.cancelled.add(key);
      if (this.cancelled.size > 10_000) this.cancelled.delete(this.cancelled.values().next().value!);
      await this.inFlight.get(key)?.catch(() => undefined);
    }
    const jobs = (await this.opts.transport.listJobs()).filter((j) => {
      const f = parseFederationComment(j.comment);
      return f && f.jobId === cmd.jobId && (cmd.attempt === undefined || f.attempt === cmd.attempt);
    });
    const live = jobs.filter((j) => !['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY', 'NODE_FAIL', 'BOOT_FAIL', 'DEADLINE', 'PREEMPTED'].includes(j.state));
    const ids = [...new Set(live.map((j) => j.arrayJobId ?? j.jobId))];
    if (cmd.graceSeconds && ids.length) {
      await Promise.all(ids.map((id) => this.opts.transport.cancel(id, 'USR1')));
      await sleep(cmd.graceSeconds * 1000);
    }
    await Promise.all(ids.map((id) => this.opts.transport.cancel(id)));
    await this.secrets.removeJob(cmd.jobId, cmd.attempt);
    if (cmd.attempt !== undefined && !jobs.length) {
      const ev: JobStatusEvent = { type: 'job.status', jobId: cmd.jobId, attempt: cmd.attempt, phase: 'Cancelled', tasks: [], reason: 'Cancelled', message: 'cancelled before Slurm had a job for it', finishedAt: new Date().toISOString() };
      this.lastStatus.set(`${cmd.jobId}:${cmd.attempt}`, JSON.stringify(ev));
      this.emit(ev);
    }
    return { cancelled: ids };
  }

  /**
   * The checkpoint signal to a running attempt (`scancel --signal=<SIG> --batch`, see the transport): the job
   * keeps running; the hub requeues it after the job's grace. A pending attempt has nothing to checkpoint.
   */
  async signal(cmd: { jobId: string; attempt: number; signal: string }): Promise<Outcome> {
    const jobs = await this.jobsOf(cmd.jobId, cmd.attempt);
    const running = jobs.filter((j) => j.state === 'RUNNING');
    if (!running.length) {
      const states = [...new Set(jobs.map((j) => j.state))].join(', ');
      return { ok: false, error: `signal: Slurm has no running job for ${cmd.jobId} attempt ${cmd.attempt}${states ? ` (it is ${states})` : ''}` };
    }
    const ids = [...new Set(running.map((j) => j.jobId))];
    for (const id of ids) await this.opts.transport.signal(id, cmd.signal);
    this.opts.log?.info({ jobId: cmd.jobId, attempt: cmd.attempt, slurmJobIds: ids, signal: cmd.signal }, 'checkpoint signal sent');
    return { ok: true, detail: { delivery: 'process', signal: cmd.signal, slurmJobIds: ids } };
  }

  /**
   * `scontrol uhold|release` of a dispatched attempt that is still pending in Slurm. A job that already runs
   * answers Slurm's own "Job is no longer pending execution".
   */
  async holdOrRelease(cmd: { kind: 'hold' | 'release'; jobId: string; attempt: number }): Promise<Outcome> {
    const jobs = await this.jobsOf(cmd.jobId, cmd.attempt);
    if (!jobs.length) return { ok: false, error: `Slurm has no job for ${cmd.jobId} attempt ${cmd.attempt}` };
    if (cmd.kind === 'hold' && jobs.some((j) => j.state !== 'PENDING')) return { ok: false, error: 'Job is no longer pending execution' };
    const ids = [...new Set(jobs.filter((j) => j.state === 'PENDING').map((j) => j.arrayJobId ?? j.jobId))];
    for (const id of ids) await (cmd.kind === 'hold' ? this.opts.transport.hold(id) : this.opts.transport.release(id));
    return { ok: true, detail: { slurmJobIds: ids } };
  }

  /** A task's output file for the hub's logs endpoint (see ./logs.ts): latest attempt, array index = task. */
  async logs(cmd: { jobId: string; task?: number; tailLines?: number; offset?: number }): Promise<Outcome> {
    const jobs = (await this.opts.transport.listJobs()).filter((j) => parseFederationComment(j.comment)?.jobId === cmd.jobId);
    if (!jobs.length) return { ok: false, error: `Slurm has no job for ${cmd.jobId} (finished jobs are forgotten after MinJobAge)`, detail: { code: 'not-found' } };
    const latest = Math.max(...jobs.map((j) => parseFederationComment(j.comment)!.attempt));
    const mine = jobs.filter((j) => parseFederationComment(j.comment)!.attempt === latest);
    const task = cmd.task ?? 0;
    const job = mine.find((j) => j.arrayTaskId === String(task)) ?? (task === 0 ? mine[0] : undefined);
    if (!job) return { ok: false, error: `job ${cmd.jobId} has no task ${task}`, detail: { code: 'not-found' } };
    return slurmTaskLogs(this.opts.transport, cmd.jobId, task, job, cmd);
  }

  /** Copies a dataset into the cluster's cache with a Slurm batch job (see ./prewarm.ts); answers at once. */
  prewarm(cmd: PrewarmInput): Promise<Outcome> {
    return this.prewarmer.start(cmd);
  }

  // ---------- nodes down ----------

  async nodeCommand(cmd: NodeCommandInput): Promise<Outcome> {
    const node = (await this.opts.transport.nodes()).find((n) => n.name === cmd.node);
    if (!node) return { ok: false, error: `no Slurm node named ${cmd.node}` };
    const drained = node.flags.includes('DRAIN');
    const ours = node.reason.startsWith(REASON_PREFIX);
    switch (cmd.op) {
      case 'cordon':
      case 'drain': {
        if (drained && !ours) {
          // Someone else drained it: leave their reason alone; the node already takes no work.
          return { ok: true, detail: { node: cmd.node, alreadyDrainedBy: node.reasonUser ?? 'unknown', reason: node.reason } };
        }
        const text = (cmd.reason ?? '').trim() || `${cmd.op} requested by the hub`;
        const reason = text.startsWith(REASON_PREFIX) ? text : `${REASON_PREFIX} ${text}`;
        await this.opts.transport.updateNode(cmd.node, { state: 'drain', reason });
        return { ok: true, detail: { node: cmd.node, reason } };
      }
      case 'uncordon': {
        if (!drained) return { ok: true, detail: { node: cmd.node, state: 'not drained' } };
        if (!ours) {
          return {
            ok: false,
            error: `node ${cmd.node} was drained by ${node.reasonUser ?? 'someone else'} ("${node.reason}"); Meridian resumes only nodes it drained (reason prefix "${REASON_PREFIX}")`,
          };
        }
        await this.opts.transport.updateNode(cmd.node, { state: 'resume' });
        return { ok: true, detail: { node: cmd.node, resumed: true } };
      }
      case 'power-up':
        await this.opts.transport.updateNode(cmd.node, { state: 'power_up' });
        return { ok: true };
      case 'power-down':
        await this.opts.transport.updateNode(cmd.node, { state: 'power_down' });
        return { ok: true };
      default:
        return { ok: false, error: `node op "${cmd.op}" has no Slurm equivalent (Slurm nodes take drain, resume and power up/down)` };
    }
  }

  // ---------- status up ----------

  /** One pass: every Meridian job Slurm knows → a job.status event when it changed. */
  async pollJobs(): Promise<JobStatusEvent[]> {
    const jobs = (await this.opts.transport.listJobs()).filter((j) => j.comment.startsWith(COMMENT_PREFIX));
    const groups = new Map<string, { jobId: string; attempt: number; jobs: SlurmJob[] }>();
    for (const j of jobs) {
      const f = parseFederationComment(j.comment);
      if (!f) continue;
      const key = `${f.jobId}:${f.attempt}`;
      const g = groups.get(key) ?? { ...f, jobs: [] };
      g.jobs.push(j);
      groups.set(key, g);
    }
    const sent: JobStatusEvent[] = [];
    const live = new Set<string>();
    const ended = new Set<string>();
    for (const [key, g] of groups) {
      const ev = statusEvent(g.jobId, g.attempt, g.jobs);
      (ev.phase === 'Succeeded' || ev.phase === 'Failed' || ev.phase === 'Cancelled' ? ended : live).add(attemptKey(g.jobId, g.attempt));
      const fp = JSON.stringify(ev);
      if (this.lastStatus.get(key) === fp) continue;
      this.lastStatus.set(key, fp);
      this.emit(ev);
      sent.push(ev);
    }
    // secrets of attempts that ended (or that Slurm forgot) are removed
    await this.secrets.sweep(live, ended);
    return sent;
  }

  /** Current status of one attempt, or undefined when Slurm has no job for it. */
  async status(jobId: string, attempt: number): Promise<JobStatusEvent | undefined> {
    const jobs = await this.jobsOf(jobId, attempt);
    return jobs.length ? statusEvent(jobId, attempt, jobs) : undefined;
  }

  async pollOnce(): Promise<void> {
    await this.syncInventory();
    await this.pollJobs();
  }

  /** Polls inventory and jobs every `pollIntervalMs` (default 2 s) until stop(). */
  start(): void {
    this.stopped = false;
    const tick = async () => {
      if (this.stopped) return;
      this.polling = this.pollOnce().catch((err: unknown) => this.opts.log?.warn({ err }, 'slurm poll failed'));
      await this.polling;
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.opts.pollIntervalMs ?? 2000);
    };
    void tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.prewarmer.stop();
    if (this.timer) clearTimeout(this.timer);
    await this.polling;
  }
}

export type { SlurmNode };
