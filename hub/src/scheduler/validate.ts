// Hand-written validation (no zod in the hot path): cluster-level damage stops the cycle with an error
// naming every bad field; a bad job only fails itself (it gets an `Invalid(...)` pending reason), so one
// broken submission never halts scheduling for everyone else.
import type { CycleInput, JobSpec } from './model.ts';
import { POLICIES, TIERS, NODE_STRATEGIES, WORKLOAD_WEIGHTINGS } from './model.ts';

export interface Issue {
  path: string;
  message: string;
}

export class SchedulerInputError extends Error {
  readonly issues: Issue[];
  constructor(issues: Issue[]) {
    super(
      `invalid scheduler input: ${issues
        .slice(0, 10)
        .map((i) => `${i.path}: ${i.message}`)
        .join('; ')}${issues.length > 10 ? ` (+${issues.length - 10} more)` : ''}`,
    );
    this.name = 'SchedulerInputError';
    this.issues = issues;
  }
}

const show = (v: unknown): string => {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
};

// Fast checks: paths are built only for a value that fails (building ~1M path strings per cycle for
// valid input was a visible share of a 20,000-node cycle).
const okNum = (v: unknown, min = 0, max = Number.POSITIVE_INFINITY, int = false): boolean =>
  typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max && (!int || Number.isInteger(v));
const okStr = (v: unknown): boolean => typeof v === 'string' && v.length > 0;

class Checker {
  readonly issues: Issue[] = [];
  fail(path: string, message: string): void {
    this.issues.push({ path, message });
  }
  num(path: string, v: unknown, opts: { min?: number; max?: number; int?: boolean } = {}): boolean {
    const { min = 0, max = Number.POSITIVE_INFINITY, int = false } = opts;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (int && !Number.isInteger(v))) {
      const kind = int ? 'an integer' : 'a number';
      const range = max === Number.POSITIVE_INFINITY ? `>= ${min}` : `in ${min}..${max}`;
      this.fail(path, `must be ${kind} ${range} (got ${show(v)})`);
      return false;
    }
    return true;
  }
  str(path: string, v: unknown): boolean {
    if (typeof v !== 'string' || v.length === 0) {
      this.fail(path, `must be a non-empty string (got ${show(v)})`);
      return false;
    }
    return true;
  }
  strArray(path: string, v: unknown): boolean {
    if (v === undefined) return true;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) {
      this.fail(path, `must be an array of strings (got ${show(v)})`);
      return false;
    }
    return true;
  }
  oneOf(path: string, v: unknown, allowed: readonly string[]): boolean {
    if (typeof v !== 'string' || !allowed.includes(v)) {
      this.fail(path, `must be one of ${allowed.join(', ')} (got ${show(v)})`);
      return false;
    }
    return true;
  }
}

/** Validates everything but the jobs; throws SchedulerInputError listing every bad field. */
export function validateStructure(input: CycleInput): void {
  const c = new Checker();
  if (typeof input !== 'object' || input === null) throw new SchedulerInputError([{ path: '', message: 'input must be an object' }]);
  c.num('now', input.now);
  if (!Array.isArray(input.clusters)) c.fail('clusters', 'must be an array');
  if (!Array.isArray(input.jobs)) c.fail('jobs', 'must be an array');
  if (input.running !== undefined && !Array.isArray(input.running)) c.fail('running', 'must be an array');
  if (input.projects !== undefined && !Array.isArray(input.projects)) c.fail('projects', 'must be an array');
  if (c.issues.length) throw new SchedulerInputError(c.issues);

  const ids = new Set<string>();
  input.clusters.forEach((cl, ci) => {
    const p = `clusters[${ci}]`;
    if (!c.str(`${p}.id`, cl.id)) return;
    if (ids.has(cl.id)) c.fail(`${p}.id`, `duplicate cluster id ${show(cl.id)}`);
    ids.add(cl.id);
    c.str(`${p}.region`, cl.region);
    c.oneOf(`${p}.kind`, cl.kind, ['kubernetes', 'slurm']);
    if (typeof cl.prices !== 'object' || cl.prices === null) c.fail(`${p}.prices`, 'must be an object of model → {onDemand, spot?}');
    else
      for (const [m, pr] of Object.entries(cl.prices)) {
        c.num(`${p}.prices.${m}.onDemand`, pr?.onDemand);
        if (pr?.spot !== undefined) c.num(`${p}.prices.${m}.spot`, pr.spot);
      }
    if (!Array.isArray(cl.links)) c.fail(`${p}.links`, 'must be an array');
    else
      cl.links.forEach((l, li) => {
        c.str(`${p}.links[${li}].region`, l.region);
        c.num(`${p}.links[${li}].bandwidthBytesPerSec`, l.bandwidthBytesPerSec, { min: 1 });
        c.num(`${p}.links[${li}].egressUsdPerGB`, l.egressUsdPerGB);
      });
    if (!Array.isArray(cl.nodes)) {
      c.fail(`${p}.nodes`, 'must be an array');
      return;
    }
    const names = new Set<string>();
    cl.nodes.forEach((n, ni) => {
      const q = `${p}.nodes[${ni}]`;
      if (c.str(`${q}.name`, n.name)) {
        if (names.has(n.name)) c.fail(`${q}.name`, `duplicate node name ${show(n.name)} in cluster ${cl.id}`);
        names.add(n.name);
      }
      if (!okNum(n.cpuMilli)) c.num(`${q}.cpuMilli`, n.cpuMilli);
      if (!okNum(n.memoryMiB)) c.num(`${q}.memoryMiB`, n.memoryMiB);
      if (!okNum(n.cpuAllocatedMilli)) c.num(`${q}.cpuAllocatedMilli`, n.cpuAllocatedMilli);
      if (!okNum(n.memoryAllocatedMiB)) c.num(`${q}.memoryAllocatedMiB`, n.memoryAllocatedMiB);
      if (typeof n.schedulable !== 'boolean') c.fail(`${q}.schedulable`, `must be a boolean (got ${show(n.schedulable)})`);
      if (!Array.isArray(n.gpus)) c.fail(`${q}.gpus`, 'must be an array of {healthy, milliUsed}, one per GPU');
      else {
        if (n.gpus.length > 0 && !n.gpuModel) c.fail(`${q}.gpuModel`, 'required when the node has GPUs');
        n.gpus.forEach((g, gi) => {
          if (typeof g?.healthy !== 'boolean') c.fail(`${q}.gpus[${gi}].healthy`, 'must be a boolean');
          if (!okNum(g?.milliUsed, 0, 1000, true)) c.num(`${q}.gpus[${gi}].milliUsed`, g?.milliUsed, { max: 1000, int: true });
        });
      }
    });
  });

  (input.projects ?? []).forEach((pr, pi) => {
    const p = `projects[${pi}]`;
    c.str(`${p}.name`, pr.name);
    c.num(`${p}.weight`, pr.weight, { min: Number.MIN_VALUE });
    if (pr.policy !== undefined) c.oneOf(`${p}.policy`, pr.policy, POLICIES);
    if (pr.quota?.totalGpus !== undefined) c.num(`${p}.quota.totalGpus`, pr.quota.totalGpus);
    for (const [m, q] of Object.entries(pr.quota?.perModel ?? {})) c.num(`${p}.quota.perModel.${m}`, q);
    if (pr.budget?.gpuHours !== undefined) c.num(`${p}.budget.gpuHours`, pr.budget.gpuHours, { min: Number.NEGATIVE_INFINITY });
    if (pr.budget?.usd !== undefined) c.num(`${p}.budget.usd`, pr.budget.usd, { min: Number.NEGATIVE_INFINITY });
    if (pr.weights) for (const k of ['cost', 'locality', 'inventory'] as const) c.num(`${p}.weights.${k}`, pr.weights[k]);
  });

  (input.running ?? []).forEach((r, ri) => {
    if (
      okStr(r.jobId) &&
      okStr(r.project) &&
      (TIERS as readonly unknown[]).includes(r.tier) &&
      okStr(r.clusterId) &&
      okNum(r.cpuMilli) &&
      okNum(r.memoryMiB) &&
      okNum(r.gpus, 0, Number.POSITIVE_INFINITY, true) &&
      Array.isArray(r.tasks) &&
      okNum(r.startedAt) &&
      okNum(r.expectedRuntimeSec)
    )
      return;
    const p = `running[${ri}]`;
    c.str(`${p}.jobId`, r.jobId);
    c.str(`${p}.project`, r.project);
    c.oneOf(`${p}.tier`, r.tier, TIERS);
    c.str(`${p}.clusterId`, r.clusterId);
    c.num(`${p}.cpuMilli`, r.cpuMilli);
    c.num(`${p}.memoryMiB`, r.memoryMiB);
    c.num(`${p}.gpus`, r.gpus, { int: true });
    if (!Array.isArray(r.tasks)) c.fail(`${p}.tasks`, 'must be an array of task placements');
    c.num(`${p}.startedAt`, r.startedAt);
    c.num(`${p}.expectedRuntimeSec`, r.expectedRuntimeSec);
  });

  const cfg = input.config ?? {};
  if (cfg.defaultPolicy !== undefined) c.oneOf('config.defaultPolicy', cfg.defaultPolicy, POLICIES);
  if (cfg.nodeStrategy !== undefined) c.oneOf('config.nodeStrategy', cfg.nodeStrategy, NODE_STRATEGIES);
  if (cfg.workloadWeighting !== undefined) c.oneOf('config.workloadWeighting', cfg.workloadWeighting, WORKLOAD_WEIGHTINGS);
  if (cfg.seed !== undefined) c.num('config.seed', cfg.seed, { min: Number.NEGATIVE_INFINITY, int: true });
  if (cfg.maxNodesScored !== undefined) c.num('config.maxNodesScored', cfg.maxNodesScored, { int: true });
  for (const k of ['gpuNodeReserve', 'cpuAwareFragmentation'] as const)
    if (cfg[k] !== undefined && typeof cfg[k] !== 'boolean') c.fail(`config.${k}`, `must be true or false, got ${JSON.stringify(cfg[k])}`);
  if (c.issues.length) throw new SchedulerInputError(c.issues);
}

const okStrArray = (v: unknown): boolean => v === undefined || (Array.isArray(v) && v.every((x) => typeof x === 'string'));

/** The checks of validateJob without building a path: true means validateJob would return null. */
function jobIsValid(job: JobSpec): boolean {
  if (typeof job !== 'object' || job === null) return false;
  const ok =
    okStr(job.id) &&
    okStr(job.project) &&
    (TIERS as readonly unknown[]).includes(job.tier) &&
    okNum(job.tasks, 1, Number.POSITIVE_INFINITY, true) &&
    okNum(job.cpuMilli) &&
    okNum(job.memoryMiB) &&
    okNum(job.gpus, 0, Number.POSITIVE_INFINITY, true) &&
    (job.milliGpu === undefined || job.milliGpu === 0 || (okNum(job.milliGpu, 1, 999, true) && !(job.gpus > 0))) &&
    (job.priority === undefined || okNum(job.priority, Number.NEGATIVE_INFINITY)) &&
    (job.policy === undefined || (POLICIES as readonly unknown[]).includes(job.policy)) &&
    okStrArray(job.gpuModels) &&
    okStrArray(job.regions) &&
    okStrArray(job.clusters) &&
    okNum(job.expectedRuntimeSec, 1) &&
    okNum(job.submittedAt);
  if (!ok || job.datasets === undefined) return ok;
  if (!Array.isArray(job.datasets)) return false;
  for (const d of job.datasets) if (!(okStr(d?.name) && okNum(d?.sizeBytes) && okStrArray(d?.cachedIn ?? []) && okStr(d?.homeRegion))) return false;
  return true;
}

/** Returns the first problem with one job as `path: message`, or null when the job is well-formed. */
export function validateJob(job: JobSpec, index: number): string | null {
  return jobIsValid(job) ? null : jobProblem(job, index);
}

/** validateJob's full check, which builds every path (exported so tests can hold the fast path to it). */
export function jobProblem(job: JobSpec, index: number): string | null {
  const c = new Checker();
  const p = `jobs[${index}]`;
  if (typeof job !== 'object' || job === null) return `${p}: must be an object`;
  c.str(`${p}.id`, job.id);
  c.str(`${p}.project`, job.project);
  c.oneOf(`${p}.tier`, job.tier, TIERS);
  c.num(`${p}.tasks`, job.tasks, { min: 1, int: true });
  c.num(`${p}.cpuMilli`, job.cpuMilli);
  c.num(`${p}.memoryMiB`, job.memoryMiB);
  c.num(`${p}.gpus`, job.gpus, { int: true });
  if (job.milliGpu !== undefined && job.milliGpu !== 0) {
    if (c.num(`${p}.milliGpu`, job.milliGpu, { min: 1, max: 999, int: true }) && job.gpus > 0)
      c.fail(`${p}.milliGpu`, 'set either gpus (whole) or milliGpu (fractional), not both');
  }
  if (job.priority !== undefined) c.num(`${p}.priority`, job.priority, { min: Number.NEGATIVE_INFINITY });
  if (job.policy !== undefined) c.oneOf(`${p}.policy`, job.policy, POLICIES);
  c.strArray(`${p}.gpuModels`, job.gpuModels);
  c.strArray(`${p}.regions`, job.regions);
  c.strArray(`${p}.clusters`, job.clusters);
  c.num(`${p}.expectedRuntimeSec`, job.expectedRuntimeSec, { min: 1 });
  c.num(`${p}.submittedAt`, job.submittedAt);
  if (job.datasets !== undefined) {
    if (!Array.isArray(job.datasets)) c.fail(`${p}.datasets`, 'must be an array');
    else
      job.datasets.forEach((d, di) => {
        c.str(`${p}.datasets[${di}].name`, d?.name);
        c.num(`${p}.datasets[${di}].sizeBytes`, d?.sizeBytes);
        c.strArray(`${p}.datasets[${di}].cachedIn`, d?.cachedIn ?? []);
        c.str(`${p}.datasets[${di}].homeRegion`, d?.homeRegion);
      });
  }
  const first = c.issues[0];
  return first ? `${first.path}: ${first.message}` : null;
}
