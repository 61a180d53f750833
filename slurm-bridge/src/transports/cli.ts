// The Slurm CLI as a transport: sbatch/scancel/scontrol (and sacct when accounting is on), parsed from
// their machine-readable forms (`--parsable`, `scontrol show -o`, `sacct -P`). Runs locally or over SSH.
import { jobsFromSacct, parseSacctParsable, SACCT_FIELDS } from '../parsers/sacct.ts';
import { parseParsableSubmit, parseScontrolJobs, parseScontrolNodes, parseScontrolPartitions } from '../parsers/scontrol.ts';
import { SlurmError, type NodeUpdate, type UnixAccount, type PrivateFiles, type SlurmJob, type SlurmNode, type SlurmPartition, type SlurmTransport, type SubmitRequest, type SubmitResult } from '../types.ts';
import { exportFileBody } from './exec-env.ts';
import type { CommandRunner, RunResult } from './runner.ts';

export interface CliTransportOptions {
  /** Ask sacct for jobs slurmctld has forgotten (needs slurmdbd). Default: true; turned off after "accounting storage is disabled". */
  useSacct?: boolean;
  timeoutMs?: number;
}

/**
 * sbatch options for a submit request (without the script). The job's environment goes in `exportFile`
 * (`--export-file`, NUL-separated NAME=value), never in sbatch's own environment: sbatch then drops the
 * environment it was started with and the job gets exactly the file plus Slurm's SLURM_* variables, so a
 * user's PATH, LD_PRELOAD or BASH_ENV reaches the job (theirs to use) but never the agent's sbatch process.
 * (Variables in the batch script's preamble would not do: the script may be any interpreter's, and a line
 * before its #SBATCH block ends that block.)
 */
export function sbatchArgs(req: SubmitRequest, exportFile?: string): string[] {
  const a: string[] = ['--parsable'];
  const opt = (flag: string, v: string | number | undefined) => {
    if (v !== undefined && v !== '') a.push(`--${flag}=${v}`);
  };
  opt('job-name', req.name);
  opt('comment', req.comment);
  opt('partition', req.partition);
  opt('account', req.account);
  opt('qos', req.qos);
  opt('nodes', req.nodes);
  opt('ntasks', req.tasks);
  opt('ntasks-per-node', req.tasksPerNode);
  opt('cpus-per-task', req.cpusPerTask);
  if (req.memoryPerNodeMiB !== undefined) opt('mem', `${req.memoryPerNodeMiB}M`);
  else if (req.memoryPerCpuMiB !== undefined) opt('mem-per-cpu', `${req.memoryPerCpuMiB}M`);
  opt('gres', req.gres);
  opt('time', req.timeLimitMin);
  opt('output', req.stdout);
  opt('error', req.stderr);
  opt('chdir', req.workDir);
  opt('array', req.array);
  opt('dependency', req.dependency);
  opt('constraint', req.constraint);
  opt('nodelist', req.nodeList);
  opt('begin', req.begin);
  opt('signal', req.signal);
  opt('uid', req.uid);
  opt('gid', req.gid);
  if (req.hold) a.push('--hold');
  if (req.exclusive) a.push('--exclusive');
  if (req.requeue === true) a.push('--requeue');
  if (req.requeue === false) a.push('--no-requeue');
  a.push('--export=ALL');
  if (exportFile) a.push(`--export-file=${exportFile}`);
  return a;
}

function slurmFailure(what: string, r: RunResult): SlurmError {
  const msg = (r.stderr || r.stdout).trim();
  return new SlurmError(`${what} failed (exit ${r.code}): ${msg}`, msg, r.code);
}

const INVALID_JOB = /Invalid job id specified/i;

/** `USR1` / `SIGUSR1` → `USR1` (scancel and slurmrestd take the name without the prefix); refuses anything else. */
export function slurmSignalName(signal: string): string {
  const name = signal.replace(/^SIG/, '');
  if (!/^[A-Z][A-Z0-9]*$/.test(name)) throw new SlurmError(`signal: ${JSON.stringify(signal)} is not a signal name; use a name such as SIGUSR1`);
  return name;
}

/**
 * Signal a job's batch script and leave the job running. `--batch` reaches the batch shell itself, so a
 * `trap ... USR1` in the script runs; the script forwards it to its application if it wants to. `--full`
 * would also hit every child, killing the ones that do not handle the signal (USR1's default is to
 * terminate), and without either flag only srun steps get it, never the script.
 */
export function scancelSignalArgv(jobId: string, signal: string): string[] {
  return ['scancel', `--signal=${slurmSignalName(signal)}`, '--batch', jobId];
}

/** `scontrol uhold`: a user hold (JobHeldUser) even when the agent runs as root, where `hold` is an admin hold. */
export function holdArgv(jobId: string): string[] {
  return ['scontrol', 'uhold', jobId];
}

export class CliTransport implements SlurmTransport {
  readonly kind: 'ssh' | 'local';
  private useSacct: boolean;

  constructor(
    readonly runner: CommandRunner,
    private readonly opts: CliTransportOptions = {},
  ) {
    this.kind = runner.kind;
    this.useSacct = opts.useSacct ?? true;
  }

  private run(argv: string[], stdin?: string, slurmJobId?: string): Promise<RunResult> {
    return this.runner.exec(argv, { stdin, timeoutMs: this.opts.timeoutMs ?? 60_000, ...(slurmJobId !== undefined ? { slurmJobId } : {}) });
  }

  /** True when the job-ID library is configured: `submit` then asks Slurm for `req.jobId`. */
  get setsJobIds(): boolean {
    return this.runner.jobIdLib !== undefined;
  }

  async account(name: string): Promise<UnixAccount | undefined> {
    if (!/^[a-z_][a-z0-9_.-]{0,31}\$?$/i.test(name)) throw new SlurmError(`${JSON.stringify(name)} is not a Unix account name`);
    const r = await this.run(['getent', 'passwd', name]);
    if (r.code === 2) return undefined; // getent: key not found
    if (r.code !== 0) throw slurmFailure(`getent passwd ${name}`, r);
    const f = r.stdout.trim().split('\n')[0]?.split(':') ?? [];
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (f[0] !== name || !Number.isInteger(uid) || !Number.isInteger(gid)) throw new SlurmError(`getent passwd ${name}: unexpected answer ${JSON.stringify(r.stdout.slice(0, 200))}`);
    return { name, uid, gid };
  }

  async ping(): Promise<void> {
    const r = await this.run(['scontrol', 'ping']);
    if (r.code !== 0 || !/is UP/.test(r.stdout)) throw slurmFailure('scontrol ping', r);
  }

  async submit(req: SubmitRequest): Promise<SubmitResult> {
    // The job starts from the agent's fixed environment (system PATH, SLURM_CONF, ...) with its own on top.
    // sbatch sets SLURM_JOB_NAME in its own environment, which --export-file discards: it goes in the file.
    let body: Buffer;
    try {
      body = exportFileBody({ ...this.runner.env, ...req.env, ...(req.name ? { SLURM_JOB_NAME: req.name } : {}) });
    } catch (err) {
      throw new SlurmError(`sbatch: ${(err as Error).message}`);
    }
    // A fresh 0700 directory holds the 0600 export file only while sbatch reads it.
    const dir = await this.runner.makeTempDir();
    try {
      const file = `${dir}/export.env`;
      await this.runner.writePrivateFile(file, body);
      const r = await this.run(['sbatch', ...sbatchArgs(req, file)], req.script, req.jobId);
      if (r.code !== 0) throw slurmFailure('sbatch', r);
      return { jobId: parseParsableSubmit(r.stdout).jobId };
    } finally {
      await this.runner.removeDir(dir).catch(() => undefined);
    }
  }

  /** Private files on the cluster (job secrets), kept by the account that runs the commands. */
  get files(): PrivateFiles {
    return this.runner;
  }

  async getJob(jobId: string): Promise<SlurmJob | undefined> {
    if (!/^\d+$/.test(jobId)) throw new SlurmError(`not a Slurm job id: ${JSON.stringify(jobId)}`);
    const r = await this.run(['scontrol', 'show', 'job', '-o', jobId]);
    if (r.code === 0) {
      const jobs = parseScontrolJobs(r.stdout);
      return jobs.find((j) => j.jobId === jobId) ?? jobs.find((j) => j.arrayJobId === jobId);
    }
    if (!INVALID_JOB.test(r.stderr + r.stdout)) throw slurmFailure('scontrol show job', r);
    return (await this.sacct(['-j', jobId])).find((j) => j.jobId === jobId);
  }

  /** Jobs from accounting; [] when accounting is disabled (and sacct is not asked again). */
  private async sacct(args: string[]): Promise<SlurmJob[]> {
    if (!this.useSacct) return [];
    const r = await this.run(['sacct', '-X', '-P', '-n', `--format=${SACCT_FIELDS.join(',')}`, ...args]);
    if (/accounting storage is disabled/i.test(r.stderr + r.stdout)) {
      this.useSacct = false;
      return [];
    }
    if (r.code !== 0) throw slurmFailure('sacct', r);
    return jobsFromSacct(parseSacctParsable(r.stdout, SACCT_FIELDS));
  }

  async listJobs(): Promise<SlurmJob[]> {
    const r = await this.run(['scontrol', 'show', 'job', '-o']);
    if (r.code !== 0) throw slurmFailure('scontrol show job', r);
    return parseScontrolJobs(r.stdout);
  }

  async findJobsByComment(comment: string): Promise<SlurmJob[]> {
    const live = (await this.listJobs()).filter((j) => j.comment === comment);
    if (live.length) return live;
    // Forgotten by slurmctld (MinJobAge) but maybe in accounting.
    return (await this.sacct(['-S', 'now-7days'])).filter((j) => j.comment === comment);
  }

  async cancel(jobId: string, signal?: string): Promise<void> {
    const r = await this.run(['scancel', ...(signal ? ['--signal', signal] : []), jobId]);
    if (r.code !== 0 && !/already completing or completed|Invalid job id/i.test(r.stderr)) throw slurmFailure('scancel', r);
  }

  async signal(jobId: string, signal: string): Promise<void> {
    const argv = scancelSignalArgv(jobId, signal);
    const r = await this.run(argv);
    if (r.code !== 0) throw slurmFailure(argv.slice(0, 3).join(' '), r);
  }

  async hold(jobId: string): Promise<void> {
    const r = await this.run(holdArgv(jobId));
    if (r.code !== 0) throw slurmFailure('scontrol uhold', r);
  }

  async release(jobId: string): Promise<void> {
    const r = await this.run(['scontrol', 'release', jobId]);
    if (r.code !== 0) throw slurmFailure('scontrol release', r);
  }

  async nodes(): Promise<SlurmNode[]> {
    // -d adds GresUsed: AllocTRES lists gres/gpu only where accounting tracks it (AccountingStorageTRES)
    const r = await this.run(['scontrol', 'show', 'node', '-o', '-d']);
    if (r.code !== 0) throw slurmFailure('scontrol show node', r);
    return parseScontrolNodes(r.stdout);
  }

  async partitions(): Promise<SlurmPartition[]> {
    const r = await this.run(['scontrol', 'show', 'partition', '-o']);
    if (r.code !== 0) throw slurmFailure('scontrol show partition', r);
    return parseScontrolPartitions(r.stdout);
  }

  async updateNode(name: string, update: NodeUpdate): Promise<void> {
    const args = ['scontrol', 'update', `NodeName=${name}`, `State=${update.state.toUpperCase()}`];
    if ('reason' in update) args.push(`Reason=${update.reason}`);
    const r = await this.run(args);
    if (r.code !== 0) throw slurmFailure(`scontrol update NodeName=${name}`, r);
  }

  async readTail(path: string, lines: number): Promise<string | undefined> {
    if (!path.startsWith('/')) throw new SlurmError(`not an absolute path: ${JSON.stringify(path)}`);
    const r = await this.run(['tail', '-n', String(Math.max(1, Math.floor(lines))), '--', path]);
    if (r.code !== 0) {
      if (/No such file/i.test(r.stderr)) return undefined;
      throw slurmFailure(`tail ${path}`, r);
    }
    return r.stdout;
  }

  async fileSize(path: string): Promise<number | undefined> {
    if (!path.startsWith('/')) throw new SlurmError(`not an absolute path: ${JSON.stringify(path)}`);
    const r = await this.run(['stat', '-c', '%s', '--', path]);
    if (r.code !== 0) {
      if (/No such file/i.test(r.stderr)) return undefined;
      throw slurmFailure(`stat ${path}`, r);
    }
    return Number(r.stdout.trim());
  }

  async readFrom(path: string, offset: number): Promise<string | undefined> {
    if (!path.startsWith('/')) throw new SlurmError(`not an absolute path: ${JSON.stringify(path)}`);
    const r = await this.run(['tail', '-c', `+${Math.max(0, Math.floor(offset)) + 1}`, '--', path]);
    if (r.code !== 0) {
      if (/No such file/i.test(r.stderr)) return undefined;
      throw slurmFailure(`tail -c ${path}`, r);
    }
    return r.stdout;
  }

  async close(): Promise<void> {
    await this.runner.close();
  }
}
