// Open OnDemand's Slurm adapter (ood_core, lib/ood_core/job/adapters/slurm.rb) as it talks to Slurm: the exact
// command lines it runs and the rules it parses their output by, written down from reading it, so a test can
// replay them against native Slurm and Meridian's login commands alike. Ruby semantics kept where they
// matter: String#split drops trailing empty fields, a failed command raises with its stderr, and "Invalid job
// id specified" in that stderr means the job is gone (completed) for status, info, hold, release and delete.

export type Runner = (cmd: string, args: string[], o?: { stdin?: string; env?: Record<string, string> }) => Promise<{ code: number; stdout: string; stderr: string }>;

export const US = '\x1F';
export const RS = '\x1E';

/** The adapter's state codes (STATE_MAP): compact and long Slurm states → OOD's job states. */
export const STATE_MAP: Record<string, string> = {
  BF: 'completed', CA: 'completed', CD: 'completed', CF: 'queued', CG: 'running', F: 'completed', NF: 'completed', PD: 'queued', PR: 'suspended',
  RV: 'completed', R: 'running', SE: 'completed', ST: 'running', S: 'suspended', TO: 'completed', OOM: 'completed',
  BOOT_FAIL: 'completed', CANCELLED: 'completed', COMPLETED: 'completed', DEADLINE: 'completed', FAILED: 'completed', NODE_FAIL: 'completed',
  OUT_OF_MEMORY: 'completed', PENDING: 'queued', PREEMPTED: 'completed', RUNNING: 'running', REQUEUED: 'queued', REVOKED: 'completed',
  SUSPENDED: 'suspended', TIMEOUT: 'completed',
};
export const stateOf = (st: string | undefined) => STATE_MAP[(st ?? '').trim().split(/\s+/)[0] ?? ''] ?? 'undetermined';

/** The adapter's squeue fields, in its order (key → squeue -O name). */
export const SQUEUE_FIELDS: [string, string][] = [
  ['account', 'Account'], ['job_id', 'JobID'], ['exec_host', 'BatchHost'], ['min_cpus', 'MinCpus'], ['cpus', 'NumCPUs'], ['min_tmp_disk', 'MinTmpDisk'],
  ['nodes', 'NumNodes'], ['end_time', 'EndTime'], ['dependency', 'Dependency'], ['features', 'Feature'], ['array_job_id', 'ArrayJobID'],
  ['group_name', 'GroupName'], ['group_id', 'GroupID'], ['over_subscribe', 'OverSubscribe'], ['sockets_per_node', 'Sockets'],
  ['array_job_task_id', 'JobArrayID'], ['cores_per_socket', 'Cores'], ['job_name', 'Name'], ['threads_per_core', 'Threads'], ['comment', 'Comment'],
  ['array_task_id', 'ArrayTaskID'], ['time_limit', 'TimeLimit'], ['time_left', 'TimeLeft'], ['min_memory', 'MinMemory'], ['time_used', 'TimeUsed'],
  ['req_node', 'ReqNodes'], ['node_list', 'NodeList'], ['command', 'Command'], ['contiguous', 'Contiguous'], ['qos', 'QOS'], ['partition', 'Partition'],
  ['priority', 'PriorityLong'], ['reason', 'Reason'], ['start_time', 'StartTime'], ['state_compact', 'StateCompact'], ['state', 'State'],
  ['user', 'UserName'], ['user_id', 'UserID'], ['reservation', 'Reservation'], ['submit_time', 'SubmitTime'], ['wckey', 'WCKey'], ['licenses', 'Licenses'],
  ['excluded_nodes', 'ExcNodes'], ['core_specialization', 'CoreSpec'], ['nice', 'Nice'], ['scheduled_nodes', 'SchedNodes'], ['sockets_cores_threads', 'SCT'],
  ['work_dir', 'WorkDir'], ['tres_alloc', 'tres-alloc'], ['gres', 'tres-per-node'],
];

/** The adapter's sacct fields for info_historic (key → sacct -o name). */
export const SACCT_FIELDS: [string, string][] = [
  ['user', 'User'], ['group_name', 'Group'], ['job_id', 'JobId'], ['job_name', 'JobName'], ['elapsed', 'Elapsed'], ['req_mem', 'ReqMem'],
  ['alloc_cpus', 'AllocCPUS'], ['req_cpus', 'ReqCPUS'], ['time_limit', 'Timelimit'], ['state', 'State'], ['total_cpu', 'TotalCPU'], ['max_rss', 'MaxRSS'],
  ['partition', 'Partition'], ['submit_time', 'Submit'], ['start_time', 'Start'], ['end', 'End'], ['gres', 'ReqTRES'],
];

/** Ruby's String#split(sep): trailing empty fields dropped. */
export function rubySplit(s: string, sep: string): string[] {
  const parts = s.split(sep);
  while (parts.length && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

export const gpusFromGres = (gres: string | undefined) => [...(gres ?? '').matchAll(/gpu[s:]*[\w()-]*[=:]?(\d+)(?:[(,]|$)/g)].reduce((a, m) => a + Number(m[1]), 0);

export class AdapterError extends Error {}

/** One command the adapter ran, for the compatibility matrix. */
export interface CallRecord {
  op: string;
  cmd: string;
  args: string[];
  code: number;
  stderr: string;
}

/** What OOD's job script object may set (the attributes its submit turns into sbatch options). */
export interface OodScript {
  content: string;
  submitAsHold?: boolean;
  rerunnable?: boolean;
  workdir?: string;
  email?: string[];
  emailOnStarted?: boolean;
  emailOnTerminated?: boolean;
  jobName?: string;
  inputPath?: string;
  outputPath?: string;
  errorPath?: string;
  reservationId?: string;
  queueName?: string;
  priority?: number;
  startTime?: Date;
  accountingId?: string;
  wallTime?: number;
  jobArrayRequest?: string;
  qos?: string;
  gpusPerNode?: number;
  cores?: number;
  jobEnvironment?: Record<string, string>;
  copyEnvironment?: boolean;
  native?: string[];
  shellPath?: string;
  afterok?: string[];
}

const p2 = (n: number) => String(n).padStart(2, '0');

/** The sbatch argument list OOD's submit builds for a script (in its order), before `--parsable`. */
export function submitArgs(s: OodScript): string[] {
  const a: string[] = [];
  if (s.submitAsHold) a.push('-H');
  if (s.rerunnable !== undefined) a.push(s.rerunnable ? '--requeue' : '--no-requeue');
  if (s.workdir) a.push('-D', s.workdir);
  if (s.email) a.push('--mail-user', s.email.join(','));
  if (s.emailOnStarted && s.emailOnTerminated) a.push('--mail-type', 'ALL');
  else if (s.emailOnStarted) a.push('--mail-type', 'BEGIN');
  else if (s.emailOnTerminated) a.push('--mail-type', 'END');
  else if (s.emailOnStarted === false && s.emailOnTerminated === false) a.push('--mail-type', 'NONE');
  if (s.jobName) a.push('-J', s.jobName);
  if (s.inputPath) a.push('-i', s.inputPath);
  if (s.outputPath) a.push('-o', s.outputPath);
  if (s.errorPath) a.push('-e', s.errorPath);
  if (s.reservationId) a.push('--reservation', s.reservationId);
  if (s.queueName) a.push('-p', s.queueName);
  if (s.priority !== undefined) a.push('--priority', String(s.priority));
  if (s.startTime) {
    const d = s.startTime;
    a.push('--begin', `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}T${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`);
  }
  if (s.accountingId) a.push('-A', s.accountingId);
  if (s.wallTime !== undefined) a.push('-t', `${p2(Math.floor(s.wallTime / 3600))}:${p2(Math.floor(s.wallTime / 60) % 60)}:${p2(s.wallTime % 60)}`);
  if (s.jobArrayRequest) a.push('-a', s.jobArrayRequest);
  if (s.qos) a.push('--qos', s.qos);
  if (s.gpusPerNode !== undefined) a.push('--gpus-per-node', String(s.gpusPerNode));
  if (s.cores !== undefined) a.push('-n', String(s.cores));
  if (s.afterok?.length) a.push('-d', `afterok:${s.afterok.join(':')}`);
  const env = s.jobEnvironment ?? {};
  const keys = Object.keys(env);
  a.push('--export', keys.length ? (s.copyEnvironment ? `ALL,${keys.join(',')}` : keys.join(',')) : s.copyEnvironment ? 'ALL' : 'NONE');
  if (s.native) a.push(...s.native);
  return a;
}

export class OodSlurmAdapter {
  readonly calls: CallRecord[] = [];

  /** `cluster`: the adapter's `cluster:` setting (adds -M to every command but sacctmgr); `id`: the OOD cluster id. */
  constructor(
    private readonly run: Runner,
    private readonly cluster?: string,
    private readonly id = 'meridian',
    private readonly login = 'root',
  ) {}

  private op = '';

  async call(cmd: string, args: string[], o: { stdin?: string; env?: Record<string, string> } = {}): Promise<string> {
    const full = this.cluster && cmd !== 'sacctmgr' ? [...args, '-M', this.cluster] : args;
    const r = await this.run(cmd, full, o);
    this.calls.push({ op: this.op, cmd, args: full, code: r.code, stderr: r.stderr });
    if (r.code !== 0) throw new AdapterError(r.stderr);
    if (/^slurm_load_jobs error: Socket timed out/.test(r.stderr)) throw new AdapterError(`timeout: ${r.stderr}`);
    return r.stdout;
  }

  private async as<T>(op: string, fn: () => Promise<T>): Promise<T> {
    this.op = op;
    return fn();
  }

  submit(s: OodScript): Promise<string> {
    return this.as('submit', async () => {
      const content = s.shellPath ? `#!${s.shellPath}\n${s.content}` : s.content;
      const out = await this.call('sbatch', [...submitArgs(s), '--parsable'], { stdin: content, env: s.jobEnvironment ?? {} });
      return out.trim().split(';')[0]!;
    });
  }

  /** get_jobs: squeue with the -O list, past the header (through the first "\x1F\n"), one hash per line. */
  async getJobs(id = '', owner?: string, keys?: string[]): Promise<Record<string, string | undefined>[]> {
    const fields = keys ? SQUEUE_FIELDS.filter(([k]) => keys.includes(k) || k === 'job_id' || k === 'state_compact') : SQUEUE_FIELDS;
    const args = ['--all', '--states=all', '--noconvert', '-O', [...fields.map(([, n]) => n), ''].join(`:${US},`)];
    if (owner) args.push('-u', owner);
    if (id) args.push('-j', id);
    const out = await this.call('squeue', args);
    const end = out.indexOf(`${US}\n`);
    const body = end >= 0 ? out.slice(end + 2) : '';
    return body
      .split('\n')
      .filter((l, i, all) => i < all.length - 1 || l !== '')
      .map((l) => rubySplit(l, US))
      .filter((v) => v.length)
      .map((v) => Object.fromEntries(fields.map(([k], i) => [k, v[i]])));
  }

  private gone<T>(e: unknown, fallback: T): T {
    if (e instanceof AdapterError && /Invalid job id specified/.test(e.message)) return fallback;
    throw e;
  }

  status(id: string): Promise<string> {
    return this.as('status', async () => {
      try {
        const jobs = await this.getJobs(id, undefined, ['job_id', 'array_job_task_id', 'state_compact']);
        const j = jobs.find((x) => x.job_id === id || x.array_job_task_id === id);
        return j ? stateOf(j.state_compact) : 'completed';
      } catch (e) {
        return this.gone(e, 'completed');
      }
    });
  }

  info(id: string): Promise<{ status: string; jobs: Record<string, string | undefined>[] }> {
    return this.as('info', async () => {
      try {
        const jobs = await this.getJobs(id);
        return { status: jobs.length ? stateOf((jobs.find((j) => j.job_id === id || j.array_job_task_id === id) ?? jobs[0]!).state_compact) : 'completed', jobs };
      } catch (e) {
        return this.gone(e, { status: 'completed', jobs: [] });
      }
    });
  }

  infoAll(): Promise<Record<string, string | undefined>[]> {
    return this.as('info_all', () => this.getJobs());
  }

  infoWhereOwner(owner: string): Promise<Record<string, string | undefined>[]> {
    return this.as('info_where_owner', () => this.getJobs('', owner));
  }

  private control(op: string, cmd: string, args: string[]): Promise<void> {
    return this.as(op, async () => {
      try {
        await this.call(cmd, args);
      } catch (e) {
        this.gone(e, undefined);
      }
    });
  }

  hold = (id: string) => this.control('hold', 'scontrol', ['hold', id]);
  release = (id: string) => this.control('release', 'scontrol', ['release', id]);
  delete = (id: string) => this.control('delete', 'scancel', [id]);

  clusterInfo(): Promise<Record<string, number>> {
    return this.as('cluster_info', async () => {
      const counts = (await this.call('sinfo', ['-aho %F/%C'])).trim().split('/').map((x) => parseInt(x, 10) || 0);
      const heads = ['nodes_allocated', 'nodes_idle', 'nodes_other', 'nodes_total', 'cpus_allocated', 'cpus_idle', 'cpus_other', 'cpus_total'];
      const info = Object.fromEntries(heads.map((h, i) => [h, counts[i] ?? 0]));
      const lines = [...new Set((await this.call('sinfo', ['-ahNO', 'nodehost:100,gres:512,gresused:512,statelong'])).split(/(?<=\n)/))]
        .filter((l) => !/maint|drain|down/i.test(l))
        .map((l) => l.trim().split(/\s+/));
      return {
        active_nodes: info.nodes_allocated!, total_nodes: info.nodes_total!, active_processors: info.cpus_allocated!, total_processors: info.cpus_total!,
        active_gpus: lines.reduce((a, l) => a + gpusFromGres(l[2]), 0), total_gpus: lines.reduce((a, l) => a + gpusFromGres(l[1]), 0),
      };
    });
  }

  nodes(): Promise<{ procs: string; name: string; features: string[] }[]> {
    return this.as('nodes', async () => {
      const out = await this.call('sinfo', ['-ho', `${RS}%c${US}%n${US}%f`]);
      return out
        .split(RS)
        .map((rec) => rubySplit(rec.trim(), US))
        .filter((v) => v.length)
        .map(([procs, name, features]) => ({ procs: procs!, name: (name ?? '').split(',')[0]!, features: (features ?? '').split(',').filter(Boolean) }));
    });
  }

  /** queues: every token of every line must be key=value (the adapter's regexp fails otherwise). */
  queues(): Promise<{ name: string; allowAccounts: string[] | null; tres: Record<string, string> }[]> {
    return this.as('queues', async () => {
      const out = await this.call('scontrol', ['show', 'part', '-o']);
      return out
        .split('\n')
        .filter((l) => l.trim())
        .map((line) => {
          const h: Record<string, string> = {};
          for (const tok of line.trim().split(/\s+/)) {
            const m = /^(\w+)=(.+)$/.exec(tok);
            if (!m) throw new AdapterError(`queues: token ${JSON.stringify(tok)} is not key=value`);
            h[m[1]!] = m[2]!;
          }
          const tres = !h.TRES || h.TRES === '(null)' ? {} : Object.fromEntries(h.TRES.split(',').map((x) => x.split('=') as [string, string]));
          return { name: h.PartitionName!, allowAccounts: !h.AllowAccounts || h.AllowAccounts === 'ALL' ? null : h.AllowAccounts.split(','), tres };
        });
    });
  }

  accounts(): Promise<{ name: string; qos: string[]; cluster: string }[]> {
    return this.as('accounts', async () => {
      const out = await this.call('sacctmgr', ['-nP', 'show', 'users', 'withassoc', 'format=account,qos', 'where', `user=${this.login}`, `cluster=${this.id}`]);
      const by = new Map<string, string[]>();
      for (const line of out.split('\n')) {
        const [acct, qos] = line.split('|');
        if (!acct?.trim()) continue;
        by.set(acct, [...new Set([...(by.get(acct) ?? []), ...(qos ?? '').trim().split(',').filter(Boolean)])]);
      }
      return [...by].map(([name, qos]) => ({ name, qos, cluster: this.id }));
    });
  }

  infoHistoric(o: { jobIds?: string[]; states?: string[]; from?: string; to?: string; showSteps?: boolean } = {}): Promise<Record<string, string | undefined>[]> {
    return this.as('info_historic', async () => {
      const args = ['-P', '--delimiter', US, '-n', '--units', 'G'];
      if (!o.showSteps) args.push('--allocations');
      args.push('-o', SACCT_FIELDS.map(([, n]) => n).join(','));
      if (o.states?.length) args.push('--state', o.states.join(','));
      if (o.jobIds?.length) args.push('-j', o.jobIds.join(','));
      if (o.from) args.push('-S', o.from);
      if (o.to) args.push('-E', o.to);
      const out = await this.call('sacct', args);
      return out
        .split('\n')
        .map((l) => rubySplit(l.trim(), US).map((v) => (v === '' ? undefined : v)))
        .filter((v) => v.length)
        .map((v) => Object.fromEntries(SACCT_FIELDS.map(([k], i) => [k, v[i]])));
    });
  }
}
