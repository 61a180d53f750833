// slurmrestd transport, OpenAPI v0.0.38 (Slurm 22.05), JWT auth (X-SLURM-USER-NAME / X-SLURM-USER-TOKEN).
// v0.0.38 has no node-update endpoint (it arrived with v0.0.39 in Slurm 23.02), so node drain/resume/power
// go to an optional CLI fallback transport; without one they fail with SlurmUnsupportedError.
import { decodeWaitStatus, fromEpoch, gpusInUse, gresTotal, parseGres, parseReason } from '../parsers/common.ts';
import { ParseError } from '../parsers/scontrol.ts';
import { slurmSignalName } from './cli.ts';
import {
  SlurmError,
  SlurmUnsupportedError,
  type NodeUpdate,
  type SlurmJob,
  type SlurmNode,
  type SlurmPartition,
  type SlurmTransport,
  type SubmitRequest,
  type SubmitResult,
} from '../types.ts';

export interface RestOptions {
  /** e.g. http://slurm-ctl:6820 */
  url: string;
  userName: string;
  /** A JWT, or a function returning a fresh one (tokens expire). */
  token: string | (() => string | Promise<string>);
  apiVersion?: 'v0.0.38';
  /** Used for operations slurmrestd v0.0.38 lacks (node updates). */
  fallback?: SlurmTransport;
  timeoutMs?: number;
}

interface RestError {
  error?: string;
  error_code?: number;
  error_number?: number;
  description?: string;
}

/** slurmrestd's JSON job object (only what the bridge reads). */
export interface RestJob {
  job_id: number;
  array_job_id?: number;
  array_task_id?: number | null;
  name?: string;
  comment?: string;
  user_name?: string;
  account?: string;
  partition?: string;
  job_state?: string;
  state_reason?: string;
  exit_code?: number;
  nodes?: string;
  node_count?: number;
  cpus?: number;
  time_limit?: number | null;
  submit_time?: number;
  start_time?: number;
  end_time?: number;
  standard_output?: string;
  standard_error?: string;
  current_working_directory?: string;
  tres_per_node?: string;
  priority?: number;
}

export interface RestNode {
  name: string;
  state?: string;
  state_flags?: string[];
  cpus?: number;
  alloc_cpus?: number;
  real_memory?: number;
  alloc_memory?: number;
  gres?: string;
  gres_used?: string;
  partitions?: string[];
  features?: string;
  reason?: string;
  reason_set_by_user?: string | null;
  reason_changed_at?: number;
}

export interface RestPartition {
  name: string;
  nodes?: string;
  state?: string;
  flags?: string[];
  total_cpus?: number;
  total_nodes?: number;
  max_time_limit?: number;
}

export function jobFromRest(j: RestJob): SlurmJob {
  if (typeof j.job_id !== 'number') throw new ParseError(`slurmrestd job without job_id: ${JSON.stringify(j).slice(0, 200)}`);
  const exit = decodeWaitStatus(j.exit_code ?? 0);
  const isArray = (j.array_job_id ?? 0) > 0 && j.array_task_id !== null && j.array_task_id !== undefined;
  return {
    jobId: String(j.job_id),
    arrayJobId: isArray ? String(j.array_job_id) : undefined,
    arrayTaskId: isArray ? String(j.array_task_id) : undefined,
    name: j.name ?? '',
    comment: j.comment ?? '',
    user: j.user_name ?? '',
    account: j.account || undefined,
    partition: j.partition ?? '',
    state: (j.job_state ?? 'UNKNOWN').toUpperCase(),
    reason: j.state_reason ?? 'None',
    exitCode: exit.exitCode,
    signal: exit.signal,
    nodeList: j.nodes ?? '',
    numNodes: j.node_count ?? 1,
    numCpus: j.cpus ?? 1,
    timeLimitMin: typeof j.time_limit === 'number' && j.time_limit > 0 ? j.time_limit : undefined,
    submitTime: fromEpoch(j.submit_time),
    startTime: fromEpoch(j.start_time),
    endTime: fromEpoch(j.end_time),
    stdout: j.standard_output ?? '',
    stderr: j.standard_error ?? '',
    workDir: j.current_working_directory ?? '',
    tresPerNode: j.tres_per_node ?? '',
    priority: j.priority,
  };
}

export function nodeFromRest(n: RestNode): SlurmNode {
  if (!n.name) throw new ParseError(`slurmrestd node without name: ${JSON.stringify(n).slice(0, 200)}`);
  const gres = parseGres(n.gres);
  const reason = parseReason(n.reason);
  const base = (n.state ?? 'unknown').toLowerCase();
  return {
    name: n.name,
    baseState: base,
    flags: (n.state_flags ?? []).map((f) => f.toUpperCase()),
    cpus: n.cpus ?? 0,
    allocCpus: n.alloc_cpus ?? 0,
    memoryMiB: n.real_memory ?? 0,
    allocMemoryMiB: n.alloc_memory ?? 0,
    gres,
    // a GPU holding shards counts as used (gpusInUse)
    gresUsed: gres.filter((g) => g.name === 'gpu').slice(0, 1).map((g) => ({ ...g, count: gpusInUse(n.gres_used, gresTotal(gres)) ?? gresTotal(parseGres(n.gres_used)) })),
    partitions: n.partitions ?? [],
    features: (n.features ?? '').split(',').filter(Boolean),
    reason: reason.reason,
    reasonUser: n.reason_set_by_user ?? reason.user ?? undefined,
    reasonTime: fromEpoch(n.reason_changed_at),
  };
}

export function partitionFromRest(p: RestPartition): SlurmPartition {
  return {
    name: p.name,
    nodes: p.nodes ?? '',
    state: (p.state ?? 'UNKNOWN').toUpperCase(),
    isDefault: (p.flags ?? []).includes('default'),
    totalCpus: p.total_cpus ?? 0,
    totalNodes: p.total_nodes ?? 0,
    maxTimeMin: typeof p.max_time_limit === 'number' && p.max_time_limit >= 0 ? p.max_time_limit : undefined,
  };
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** slurmrestd v0.0.38 job properties for a submit request. */
export function restJobProperties(req: SubmitRequest): Record<string, unknown> {
  const env = { PATH: DEFAULT_PATH, ...req.env };
  const job: Record<string, unknown> = {
    environment: env,
    current_working_directory: req.workDir ?? '/tmp',
  };
  const set = (k: string, v: unknown) => {
    if (v !== undefined && v !== '') job[k] = v;
  };
  set('name', req.name);
  set('comment', req.comment);
  set('partition', req.partition);
  set('account', req.account);
  set('qos', req.qos);
  if (req.nodes !== undefined) job.nodes = [req.nodes, req.nodes];
  set('tasks', req.tasks);
  set('tasks_per_node', req.tasksPerNode);
  set('cpus_per_task', req.cpusPerTask);
  set('memory_per_node', req.memoryPerNodeMiB);
  if (req.memoryPerNodeMiB === undefined) set('memory_per_cpu', req.memoryPerCpuMiB);
  set('gres', req.gres);
  set('time_limit', req.timeLimitMin);
  set('standard_output', req.stdout);
  set('standard_error', req.stderr);
  set('array', req.array);
  set('dependency', req.dependency);
  set('constraints', req.constraint);
  set('signal', req.signal);
  if (req.hold) job.hold = true;
  if (req.exclusive) job.exclusive = 'exclusive';
  if (req.requeue !== undefined) job.requeue = req.requeue;
  if (req.nodeList) throw new SlurmUnsupportedError('slurmrestd v0.0.38 job submission has no required-node-list property; use the CLI transport for --nodelist');
  if (req.jobId !== undefined) throw new SlurmUnsupportedError('slurmrestd v0.0.38 job submission cannot request a job ID; use the CLI transport with --slurm-jobid-lib');
  if (req.uid !== undefined || req.gid !== undefined) throw new SlurmUnsupportedError('slurmrestd v0.0.38 submits as the token\'s user; use the CLI transport (as root) to run jobs as their submitter');
  // v0.0.38 parses begin_time as Slurm time text (now+60, 2026-11-22T12:00:00), despite the schema's "integer".
  set('begin_time', req.begin);
  return job;
}

/** The v0.0.38 path (below the version prefix) that sends a job a signal without cancelling it. */
export function restSignalPath(jobId: string, signal: string): string {
  if (!/^\d+$/.test(jobId)) throw new SlurmError(`not a Slurm job id: ${JSON.stringify(jobId)}`);
  return `/job/${jobId}?signal=${encodeURIComponent(slurmSignalName(signal))}`;
}

// Errors slurmrestd returns alongside a successful result.
const BENIGN = new Set([2042 /* job held, pending release */]);

export class RestTransport implements SlurmTransport {
  readonly kind = 'rest' as const;
  private readonly base: string;

  constructor(private readonly opts: RestOptions) {
    this.base = `${opts.url.replace(/\/$/, '')}/slurm/${opts.apiVersion ?? 'v0.0.38'}`;
  }

  /** slurmrestd writes no files: the CLI fallback's, when there is one. */
  get files(): SlurmTransport['files'] {
    return this.opts.fallback?.files;
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T & { errors?: RestError[] } }> {
    const token = typeof this.opts.token === 'function' ? await this.opts.token() : this.opts.token;
    const headers: Record<string, string> = { 'X-SLURM-USER-NAME': this.opts.userName, 'X-SLURM-USER-TOKEN': token };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw new SlurmError(`slurmrestd ${method} ${path}: ${(err as Error).message}`);
    }
    const text = await res.text();
    if (res.status === 401 || res.status === 403) throw new SlurmError(`slurmrestd ${method} ${path}: HTTP ${res.status} (check the JWT and user name)`, text, res.status);
    let parsed: T & { errors?: RestError[] };
    try {
      parsed = JSON.parse(text) as T & { errors?: RestError[] };
    } catch {
      throw new SlurmError(`slurmrestd ${method} ${path}: HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`, text, res.status);
    }
    return { status: res.status, body: parsed };
  }

  private static errors(errors: RestError[] | undefined): RestError[] {
    return (errors ?? []).filter((e) => !BENIGN.has(e.error_number ?? e.error_code ?? 0));
  }

  private static message(errors: RestError[]): string {
    return errors.map((e) => [e.error, e.description].filter(Boolean).join(': ')).join('; ');
  }

  private fail(what: string, status: number, errors: RestError[]): SlurmError {
    const msg = RestTransport.message(errors) || `HTTP ${status}`;
    return new SlurmError(`slurmrestd ${what} failed: ${msg}`, errors[0]?.error ?? msg, errors[0]?.error_number ?? errors[0]?.error_code);
  }

  async ping(): Promise<void> {
    const r = await this.call<{ pings?: { ping?: string }[] }>('GET', '/ping');
    const errs = RestTransport.errors(r.body.errors);
    if (r.status !== 200 || errs.length || !r.body.pings?.some((p) => p.ping === 'UP')) throw this.fail('ping', r.status, errs);
  }

  async submit(req: SubmitRequest): Promise<SubmitResult> {
    const r = await this.call<{ job_id?: number }>('POST', '/job/submit', { script: req.script, job: restJobProperties(req) });
    const errs = RestTransport.errors(r.body.errors);
    if (typeof r.body.job_id !== 'number' || r.body.job_id <= 0 || (errs.length && r.status !== 200)) throw this.fail('submit', r.status, errs);
    return { jobId: String(r.body.job_id) };
  }

  async getJob(jobId: string): Promise<SlurmJob | undefined> {
    if (!/^\d+$/.test(jobId)) throw new SlurmError(`not a Slurm job id: ${JSON.stringify(jobId)}`);
    const r = await this.call<{ jobs?: RestJob[] }>('GET', `/job/${jobId}`);
    const errs = RestTransport.errors(r.body.errors);
    if (errs.some((e) => (e.error_number ?? e.error_code) === 2017)) return undefined;
    if (r.status !== 200 || errs.length) throw this.fail(`get job ${jobId}`, r.status, errs);
    const jobs = (r.body.jobs ?? []).map(jobFromRest);
    return jobs.find((j) => j.jobId === jobId) ?? jobs.find((j) => j.arrayJobId === jobId);
  }

  async listJobs(): Promise<SlurmJob[]> {
    const r = await this.call<{ jobs?: RestJob[] }>('GET', '/jobs');
    const errs = RestTransport.errors(r.body.errors);
    if (r.status !== 200 || errs.length) throw this.fail('list jobs', r.status, errs);
    return (r.body.jobs ?? []).map(jobFromRest);
  }

  async findJobsByComment(comment: string): Promise<SlurmJob[]> {
    return (await this.listJobs()).filter((j) => j.comment === comment);
  }

  async cancel(jobId: string, signal?: string): Promise<void> {
    const q = signal ? `?signal=${encodeURIComponent(signal.replace(/^SIG/, ''))}` : '';
    const r = await this.call<object>('DELETE', `/job/${jobId}${q}`);
    const errs = RestTransport.errors(r.body.errors).filter((e) => !/already completing or completed/i.test(`${e.error} ${e.description}`));
    if (errs.length === 0) return;
    if (errs.every((e) => (e.error_number ?? e.error_code) === 2017)) return; // unknown job: nothing to cancel
    throw this.fail(`cancel job ${jobId}`, r.status, errs);
  }

  /**
   * `DELETE /job/{id}?signal=USR1`: v0.0.38 signals the whole job with it (batch script and every step, like
   * `scancel --full`) and leaves the job running: a child of the script that does not handle it dies of it.
   */
  async signal(jobId: string, signal: string): Promise<void> {
    const r = await this.call<object>('DELETE', restSignalPath(jobId, signal));
    const errs = RestTransport.errors(r.body.errors);
    if (errs.length || r.status >= 400) throw this.fail(`signal job ${jobId} with ${signal}`, r.status, errs);
  }

  private async setHold(jobId: string, hold: boolean): Promise<void> {
    // v0.0.38's `hold: true` is priority 0, an admin hold when the token's user is root: `scontrol uhold`
    // through the CLI fallback records the user hold the request stands for
    if (hold && this.opts.fallback) return this.opts.fallback.hold(jobId);
    const r = await this.call<object>('POST', `/job/${jobId}`, { hold });
    const errs = RestTransport.errors(r.body.errors);
    // 22.05 reports array updates as failed even when they applied; trust the job's state instead.
    const job = await this.getJob(jobId);
    if (!job) throw this.fail(`${hold ? 'hold' : 'release'} job ${jobId}`, r.status, errs.length ? errs : [{ error: 'Invalid job id specified' }]);
    const held = /^JobHeld(User|Admin)$/.test(job.reason);
    if (held !== hold && job.state === 'PENDING') throw this.fail(`${hold ? 'hold' : 'release'} job ${jobId}`, r.status, errs);
  }

  hold(jobId: string): Promise<void> {
    return this.setHold(jobId, true);
  }

  release(jobId: string): Promise<void> {
    return this.setHold(jobId, false);
  }

  async nodes(): Promise<SlurmNode[]> {
    const r = await this.call<{ nodes?: RestNode[] }>('GET', '/nodes');
    const errs = RestTransport.errors(r.body.errors);
    if (r.status !== 200 || errs.length) throw this.fail('list nodes', r.status, errs);
    return (r.body.nodes ?? []).map(nodeFromRest);
  }

  async partitions(): Promise<SlurmPartition[]> {
    const r = await this.call<{ partitions?: RestPartition[] }>('GET', '/partitions');
    const errs = RestTransport.errors(r.body.errors);
    if (r.status !== 200 || errs.length) throw this.fail('list partitions', r.status, errs);
    return (r.body.partitions ?? []).map(partitionFromRest);
  }

  async updateNode(name: string, update: NodeUpdate): Promise<void> {
    if (!this.opts.fallback) {
      throw new SlurmUnsupportedError(
        `slurmrestd ${this.opts.apiVersion ?? 'v0.0.38'} cannot update nodes (needs v0.0.39, Slurm 23.02+); give the REST transport a CLI fallback (SSH or local) for node ${name} ${update.state}`,
      );
    }
    await this.opts.fallback.updateNode(name, update);
  }

  async readTail(path: string, lines: number): Promise<string | undefined> {
    if (!this.opts.fallback) throw new SlurmUnsupportedError(`slurmrestd cannot read files; give the REST transport a CLI fallback to read ${path}`);
    return this.opts.fallback.readTail(path, lines);
  }

  async fileSize(path: string): Promise<number | undefined> {
    if (!this.opts.fallback) throw new SlurmUnsupportedError(`slurmrestd cannot read files; give the REST transport a CLI fallback to read ${path}`);
    return this.opts.fallback.fileSize(path);
  }

  async readFrom(path: string, offset: number): Promise<string | undefined> {
    if (!this.opts.fallback) throw new SlurmUnsupportedError(`slurmrestd cannot read files; give the REST transport a CLI fallback to read ${path}`);
    return this.opts.fallback.readFrom(path, offset);
  }

  async close(): Promise<void> {}
}
