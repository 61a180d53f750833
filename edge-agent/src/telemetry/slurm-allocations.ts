// GPU → Slurm job mapping on a Slurm node, from Slurm itself: `squeue` lists the jobs running on this node,
// `scontrol show job -d -o <id>` gives each one's GPU indices here (GRES=gpu:a100:2(IDX:0-1)). Series of those
// GPUs get slurm_job_id and hpc_job (dcgm-exporter's HPC job label), and meridian_job_id for federation jobs.
// Slurm's GRES index is taken as the NVML index: true when gres.conf lists /dev/nvidia0..N in order
// (AutoDetect=nvml does), which is how Slurm numbers them for CUDA_VISIBLE_DEVICES too.
import { LocalRunner } from '@meridian/slurm-bridge/transports/runner';
import type { CommandRunner } from '@meridian/slurm-bridge/transports/runner';
import type { AllocationSource, GpuAllocation } from './collector.ts';
import { allocationsFromSlurmJobs, parseSlurmGpuJobs } from './gpu-allocations.ts';
import type { AllocationLogger } from './pod-resources.ts';

export interface SlurmAllocationOptions {
  /** this node's Slurm NodeName (the collector's --node-name) */
  nodeName: string;
  /** how Slurm's CLI is run (default: locally, SLURM_CONF and MERIDIAN_SLURM_BIN_DIR from the agent's own environment) */
  runner?: Pick<CommandRunner, 'exec'>;
  /** re-ask Slurm at most this often (default 5000 ms); scrapes in between reuse the last answer */
  refreshMs?: number;
  /** per command (default 5000 ms) */
  timeoutMs?: number;
  /** GRES name of GPUs (default "gpu") */
  gresName?: string;
  log?: AllocationLogger;
  now?: () => number;
}

export class SlurmAllocationSource implements AllocationSource {
  private readonly runner: Pick<CommandRunner, 'exec'>;
  private cached: { at: number; map: Map<string, GpuAllocation> } | null = null;
  private inflight: Promise<Map<string, GpuAllocation>> | null = null;
  private failing: string | null = null;

  constructor(private readonly opts: SlurmAllocationOptions) {
    if (!opts.nodeName) throw new Error('SlurmAllocationSource: nodeName is required (the Slurm NodeName of this node, as given to --node-name)');
    const own = process.env;
    this.runner = opts.runner ?? new LocalRunner({ ...(own.SLURM_CONF ? { env: { SLURM_CONF: own.SLURM_CONF } } : {}), ...(own.MERIDIAN_SLURM_BIN_DIR ? { slurmBinDir: own.MERIDIAN_SLURM_BIN_DIR } : {}) });
  }

  async allocations(): Promise<Map<string, GpuAllocation>> {
    const now = (this.opts.now ?? Date.now)();
    if (this.cached && now - this.cached.at < (this.opts.refreshMs ?? 5000)) return this.cached.map;
    // one Slurm query at a time however many scrapes ask
    this.inflight ??= this.refresh().finally(() => (this.inflight = null));
    return this.inflight;
  }

  private async refresh(): Promise<Map<string, GpuAllocation>> {
    const o = this.opts;
    try {
      const ids = await this.jobsOnNode();
      const texts = await Promise.all(ids.map((id) => this.showJob(id)));
      const map = allocationsFromSlurmJobs(parseSlurmGpuJobs(texts.join('\n'), o.nodeName, o.gresName ?? 'gpu'));
      this.cached = { at: (o.now ?? Date.now)(), map };
      if (this.failing !== null) o.log?.info({ node: o.nodeName }, 'Slurm GPU job mapping works again');
      this.failing = null;
      return map;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (this.failing !== why) o.log?.warn({ node: o.nodeName }, `${why}: GPU series carry no slurm_job_id until Slurm answers`);
      this.failing = why;
      this.cached = null;
      throw new Error(why);
    }
  }

  private async jobsOnNode(): Promise<string[]> {
    // %A: the job's own id (an array task's too), the id `scontrol show job` takes
    const argv = ['squeue', '--noheader', '--states=RUNNING,SUSPENDED,COMPLETING,STOPPED', `--nodelist=${this.opts.nodeName}`, '--format=%A'];
    const t0 = Date.now();
    const r = await this.run(argv);
    if (r.code !== 0) {
      const limit = this.opts.timeoutMs ?? 5000;
      // Slurm's CLI retries an unreadable slurm.conf or a silent slurmctld for up to a minute: say it was cut off
      const how = Date.now() - t0 >= limit ? `gave no answer within ${limit} ms` : `exited ${r.code}`;
      throw new Error(`Slurm GPU job mapping: ${argv.join(' ')} ${how}: ${(r.stderr.trim() || r.stdout.trim()).split('\n')[0]}`);
    }
    return [...new Set(r.stdout.split('\n').map((l) => l.trim()).filter((l) => /^\d+$/.test(l)))];
  }

  private async showJob(id: string): Promise<string> {
    const r = await this.run(['scontrol', 'show', 'job', '--details', '--oneliner', id]);
    // a job that ended between squeue and scontrol is simply gone
    return r.code === 0 ? r.stdout : '';
  }

  private async run(argv: string[]) {
    try {
      return await this.runner.exec(argv, { timeoutMs: this.opts.timeoutMs ?? 5000 });
    } catch (err) {
      throw new Error(`Slurm GPU job mapping: cannot run ${argv[0]}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
