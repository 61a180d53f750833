// The scheduling engine: the state one cycle works on (snapshot, ledgers, running jobs) and the rules
// for one job. runCycle builds a fresh Engine per cycle; the trace simulator keeps one alive and feeds
// it events, so both exercise exactly the same decisions.
import type { CycleInput, JobSpec, Link, NodeStrategy, WorkloadWeighting, PolicyName, ProjectSpec, RunningAllocation, SchedulerConfig, Tier } from './model.ts';
import { TIER_RANK, taskMilli } from './model.ts';
import type { FitOptions } from './fit.ts';
import type { TaskShape, WorkloadType } from './workload.ts';
import { perGpuWeights, reserveRates } from './workload.ts';
import { placeGang } from './fit.ts';
import { fragmentationChoice, gpuNodeReserveReason, limitReason, memoStamp, targetKey } from './choice.ts';
import type { Snapshot, TaskAlloc } from './snapshot.ts';
import { buildSnapshot, fromTaskPlacement, release, reserve } from './snapshot.ts';

const reserveOne = (a: TaskAlloc): TaskAlloc[] => {
  reserve(a);
  return [a];
};
import type { Candidate } from './policies.ts';
import { DEFAULT_WEIGHTS, bestCandidate, fallbackPrices, gpuPrice, scoreCandidates, sortCandidates } from './policies.ts';
import { eligibleTargets } from './filters.ts';
import { FairShare } from './fairshare.ts';
import { QuotaLedger } from './quota.ts';
import { BudgetLedger } from './budget.ts';
import { Timeline } from './timeline.ts';
import { Reservations } from './backfill.ts';
import type { RunningEntry } from './preemption.ts';
import { VictimLists, lostWork, planPreemption } from './preemption.ts';
import type { Pend } from './reasons.ts';
import { reasons } from './reasons.ts';
import { hash32 } from './rng.ts';
import { CandidateScratch, buildCandidates } from './candidates.ts';

export type Outcome =
  | { kind: 'placed'; job: JobSpec; cand: Candidate; model: string | null; allocs: TaskAlloc[]; victims: RunningEntry[]; usd: number }
  | { kind: 'pending'; job: JobSpec; pend: Pend; target: Candidate | null; prewarm: boolean };

export interface ResolvedConfig {
  seed: number;
  defaultPolicy: PolicyName;
  nodeStrategy: NodeStrategy;
  maxNodesScored: number;
  gpuNodeReserve: boolean;
  cpuAwareFragmentation: boolean;
  workloadWeighting: WorkloadWeighting;
  maxPrewarmHoldSec: number;
  preemption: boolean;
  maxPreemptionAttempts: number;
  backfill: boolean;
  defaultLink: Link;
}

export function resolveConfig(c: SchedulerConfig = {}): ResolvedConfig {
  return {
    seed: c.seed ?? 1,
    defaultPolicy: c.defaultPolicy ?? 'balanced',
    nodeStrategy: c.nodeStrategy ?? 'fgd',
    maxNodesScored: c.maxNodesScored ?? 128,
    gpuNodeReserve: c.gpuNodeReserve ?? true,
    cpuAwareFragmentation: c.cpuAwareFragmentation ?? true,
    workloadWeighting: c.workloadWeighting ?? 'per-task',
    maxPrewarmHoldSec: c.maxPrewarmHoldSec ?? 300,
    preemption: c.preemption ?? true,
    maxPreemptionAttempts: c.maxPreemptionAttempts ?? 100,
    backfill: c.backfill ?? true,
    defaultLink: { region: '', ...(c.defaultLink ?? { bandwidthBytesPerSec: 100e6, egressUsdPerGB: 0.09 }) },
  };
}

/**
 * Internal switches for tests: `memo: false` turns off every engine memo (failed-fit memos, the static
 * filter memo, the cached target aggregates), so a test can check that memos never change a decision.
 */
export interface EngineOptions {
  memo?: boolean;
}

export function shapeOf(job: JobSpec): TaskShape {
  return {
    cpu: job.cpuMilli,
    mem: job.memoryMiB,
    gpus: job.gpus,
    milli: job.gpus > 0 ? 0 : (job.milliGpu ?? 0),
    models: job.gpuModels && job.gpuModels.length > 0 ? new Set(job.gpuModels) : null,
  };
}

const gpuHoursOf = (job: JobSpec): number => (job.tasks * taskMilli(job) * job.expectedRuntimeSec) / 3600 / 1000;

export class Engine {
  readonly snap: Snapshot;
  readonly cfg: ResolvedConfig;
  readonly projects: Map<string, ProjectSpec>;
  readonly fair: FairShare;
  readonly quota: QuotaLedger;
  readonly budget: BudgetLedger;
  readonly running = new Map<string, RunningEntry>();
  readonly runningByCluster = new Map<string, RunningEntry[]>();
  private readonly victims = new VictimLists(this.runningByCluster);
  readonly warnings: string[] = [];
  reservations = new Reservations();
  timeline = new Timeline();
  workload: WorkloadType[] = [];
  now: number;
  readonly prices: Map<string, number>;
  private readonly fitOpts: FitOptions;
  /**
   * Failed node-level attempts, keyed by target and task shape, with the cluster's release counter at
   * the time. A full cluster is not searched again for the same shape until something in it is freed,
   * which is what keeps a saturated cycle fast.
   */
  private readonly failed = new Map<string, number>();
  /**
   * The same for plain placement attempts, keyed by shape, then by target (its ModelIndex, or the
   * cluster for pooled and CPU-only targets): object keys, so no key string is built per target tried.
   */
  private readonly failedPlace = new Map<string, Map<object | string, number>>();
  /** False in tests only: every memo is bypassed (see EngineOptions). */
  readonly memo: boolean;
  private preemptionAttempts = 0;
  /** Scratch list of fragmentationChoice, and the node it found for its pick. */
  private readonly probeList: Candidate[] = [];
  private readonly picked: { alloc: TaskAlloc | null } = { alloc: null };
  private readonly filterMemo = new Map<string, ReturnType<typeof eligibleTargets>>();
  /** Candidate objects reused from job to job; outcomes keep copies (see commit and pending). */
  private readonly scratch = new CandidateScratch();

  constructor(input: Omit<CycleInput, 'jobs'>, opts: EngineOptions = {}) {
    this.memo = opts.memo ?? true;
    this.scratch.memo = this.memo;
    this.now = input.now;
    this.cfg = resolveConfig(input.config);
    this.snap = buildSnapshot(input.clusters);
    this.projects = new Map((input.projects ?? []).map((p) => [p.name, p]));
    const t = this.snap.totals;
    this.fair = new FairShare({ gpuMilli: t.gpuMilli, cpu: t.cpuMilli, mem: t.memMiB }, new Map([...this.projects].map(([k, p]) => [k, p.weight])));
    this.quota = new QuotaLedger(this.projects);
    this.budget = new BudgetLedger(this.projects);
    this.prices = fallbackPrices(this.snap.clusters);
    this.fitOpts = { strategy: this.cfg.nodeStrategy, workload: this.workload, maxScan: this.cfg.maxNodesScored, seed: hash32('node-draw', this.cfg.seed), reserveCpu: 0, reserveMem: 0, cpuAware: this.cfg.cpuAwareFragmentation };
    for (const r of input.running ?? []) this.addRunning(r);
  }

  setWorkload(w: WorkloadType[]): void {
    const r = this.cfg.gpuNodeReserve ? reserveRates(w) : { cpu: 0, mem: 0 };
    if (this.cfg.workloadWeighting === 'per-gpu') w = perGpuWeights(w);
    this.workload = w;
    this.fitOpts.workload = w;
    this.fitOpts.reserveCpu = r.cpu;
    this.fitOpts.reserveMem = r.mem;
    for (const c of this.snap.clusters) for (const n of c.nodes) n.fragVersion = -1;
  }

  /** Register a running job (its resources are already counted in the node state). */
  addRunning(r: RunningAllocation, allocs?: TaskAlloc[]): void {
    const cl = this.snap.byId.get(r.clusterId);
    if (!cl) {
      this.warnings.push(`running job ${r.jobId}: unknown cluster ${r.clusterId}; ignored for preemption`);
      return;
    }
    let list = allocs;
    if (!list) {
      list = [];
      for (const t of r.tasks) {
        const a = fromTaskPlacement(cl, t, r.cpuMilli, r.memoryMiB);
        if (!a) {
          this.warnings.push(`running job ${r.jobId}: a task names an unknown node or GPU on ${r.clusterId}; ignored for preemption`);
          return;
        }
        list.push(a);
      }
    }
    const milli = r.tasks.length * taskMilli(r);
    const model = r.gpuModel ?? list[0]?.node.model ?? '';
    const e: RunningEntry = { spec: r, cluster: cl, model, allocs: list, rank: TIER_RANK[r.tier], milli, lostWork: lostWork(r, this.now, milli), preempted: false };
    this.running.set(r.jobId, e);
    let byC = this.runningByCluster.get(cl.id);
    if (!byC) this.runningByCluster.set(cl.id, (byC = []));
    byC.push(e);
    this.victims.changed();
    // New victims may make a failed preemption plan possible.
    this.failed.clear();
    this.charge(r.project, model, milli, r.cpuMilli * r.tasks.length, r.memoryMiB * r.tasks.length, 1);
  }

  private charge(project: string, model: string | null, milli: number, cpu: number, mem: number, sign: 1 | -1): void {
    this.fair.charge(project, { gpuMilli: milli, cpu, mem }, sign);
    this.quota.charge(project, model || null, milli, sign);
  }

  /** Remove a running job: release its resources unless they were already released by preemption. */
  finish(jobId: string): void {
    const e = this.running.get(jobId);
    if (!e) return;
    this.running.delete(jobId);
    const list = this.runningByCluster.get(e.cluster.id)!;
    list.splice(list.indexOf(e), 1);
    this.victims.changed();
    if (!e.preempted) {
      for (const a of e.allocs) release(a);
      const r = e.spec;
      this.charge(r.project, e.model, e.milli, r.cpuMilli * r.tasks.length, r.memoryMiB * r.tasks.length, -1);
    }
  }

  /** Start a cycle: fresh reservations and a release timeline from the live running set. */
  beginCycle(): void {
    this.preemptionAttempts = 0;
    this.failed.clear();
    this.failedPlace.clear();
    this.filterMemo.clear();
    // Cached target aggregates hold GPU-wait ETAs from the previous cycle's timeline.
    for (const c of this.snap.clusters) {
      c.poolMemo.clear();
      for (const mi of c.models.values()) mi.memo.clear();
    }
    this.reservations = new Reservations();
    this.timeline = new Timeline();
    for (const e of this.running.values()) {
      if (e.preempted || !e.model) continue;
      const end = (e.spec.startedAt - this.now) / 1000 + e.spec.expectedRuntimeSec;
      this.timeline.add(e.cluster.id, e.model, end, e.milli);
    }
  }

  private policyFor(job: JobSpec): PolicyName {
    return job.policy ?? this.projects.get(job.project)?.policy ?? this.cfg.defaultPolicy;
  }

  /** Decide one job. On placement, capacity is reserved and ledgers charged. */
  scheduleJob(job: JobSpec): Outcome {
    const shape = shapeOf(job);
    // Static filters depend only on the constraints and gang shape (cluster totals do not change within
    // a cycle), so jobs sharing them share the answer.
    const modelsKey = shape.models ? [...shape.models].sort().join('\u0001') : '*';
    const fkey = `${job.tasks}\u0000${shape.gpus}\u0000${shape.milli}\u0000${modelsKey}\u0000${job.regions?.join('\u0001') ?? ''}\u0000${job.clusters?.join('\u0001') ?? ''}`;
    let filtered = this.memo ? this.filterMemo.get(fkey) : undefined;
    if (!filtered) this.filterMemo.set(fkey, (filtered = eligibleTargets(this.snap, job, shape)));
    if (!filtered.ok) return this.pending(job, { code: filtered.code, reason: filtered.reason, etaSec: null });
    const need = job.tasks * taskMilli(job);
    const hours = gpuHoursOf(job);
    // Everything a node-level fit depends on besides the nodes tried (targetKey) and their state (the
    // cluster's release counter: reservations only shrink capacity, so a failed fit stays failed until
    // something there is released). Identical tasks fit greedily iff they fit at all, so the order of
    // earlier placements does not matter. Reservation and quota checks run before the memo is read.
    const shapeKey = `${shape.cpu}\u0000${shape.mem}\u0000${shape.gpus}\u0000${shape.milli}\u0000${job.tasks}`;

    const jobHash = hash32(job.id, this.cfg.seed);
    const policy = this.policyFor(job);
    let cands = buildCandidates(this, this.scratch, job, shape, filtered.targets, policy, jobHash, need);
    // Projects without a quota or budget (check() is null for every target) skip the filter passes.
    const quotaOk = need === 0 || !this.quota.limits(job.project) ? cands : cands.filter((c) => this.quota.allows(job.project, c.model, need));
    if (quotaOk.length === 0) return this.pending(job, { code: 'QuotaExceeded', reason: this.quota.check(job.project, cands[0]!.model, need)!, etaSec: null });
    const budgetOk = this.budget.limits(job.project) ? quotaOk.filter((c) => this.budget.check(job.project, hours, c.maxCostUsd) === null) : quotaOk;
    if (budgetOk.length === 0) {
      const cheapest = quotaOk.reduce((a, b) => (b.maxCostUsd < a.maxCostUsd ? b : a));
      return this.pending(job, { code: 'BudgetExhausted', reason: this.budget.check(job.project, hours, cheapest.maxCostUsd)!, etaSec: null });
    }
    // Targets with room that only the budget rules out: if nothing else takes the job, the budget is
    // what blocks it, and the reason must say so rather than blame capacity.
    const overBudget = budgetOk.length < quotaOk.length ? quotaOk.find((c) => c.fitsNow && !budgetOk.includes(c)) : undefined;
    cands = budgetOk;
    const weights = this.projects.get(job.project)?.weights ?? DEFAULT_WEIGHTS;
    scoreCandidates(cands, policy, weights);
    // Ranked lazily: the best target is found by one scan and the rest sorted only when it does not
    // take the job (the order tried is exactly that of a full sort).
    let top = cands[bestCandidate(cands, policy)]!;
    if (policy === 'balanced' && job.tasks === 1 && this.cfg.nodeStrategy === 'fgd') top = fragmentationChoice(cands, top, shape, weights, this.fitOpts, this.probeList, this.picked);
    else this.picked.alloc = null;

    // Data gravity: when the best-ranked target is busy but holds the data, waiting for it can beat
    // starting now somewhere the data must first travel to.
    if ((policy === 'locality-first' || policy === 'balanced') && !top.fitsNow && Number.isFinite(top.readySec)) {
      let minFitReady = Number.POSITIVE_INFINITY;
      for (const c of cands) if (c.fitsNow) minFitReady = Math.min(minFitReady, c.readySec);
      if (top.readySec < minFitReady && Number.isFinite(minFitReady)) {
        this.hold(job, top, need);
        return this.pending(job, reasons.localData(top.cluster.id, top.readySec, minFitReady), top, top.data.missingBytes > 0);
      }
    }

    let heldBy: Pend | null = null;
    let failedHere = this.failedPlace.get(shapeKey);
    for (let i = 0; i < cands.length; i++) {
      // Past the first, the sorted order (cands[0] is then top). No closure here: this runs per job.
      if (i === 1) sortCandidates(cands, policy);
      const c = i === 0 ? top : cands[i]!;
      if (!c.fitsNow) continue;
      const blocker = this.cfg.backfill ? this.reservations.blocker(c.cluster.id, c.model, job.tier, job.expectedRuntimeSec, need) : null;
      if (blocker) {
        heldBy ??= reasons.held(blocker.clusterId, blocker.model, blocker.jobId, blocker.shadowSec);
        continue;
      }
      const fkeyObj = targetKey(c, modelsKey);
      if (this.memo && failedHere?.get(fkeyObj) === memoStamp(c, shape)) continue;
      // The fragmentation pick already found this target's node (nothing has changed since).
      const allocs = i === 0 && this.picked.alloc ? reserveOne(this.picked.alloc) : placeGang(c.indexes, shape, job.tasks, this.fitOpts);
      if (!allocs) {
        if (!failedHere) this.failedPlace.set(shapeKey, (failedHere = new Map()));
        failedHere.set(fkeyObj, memoStamp(c, shape));
        continue;
      }
      // Do not keep GPUs idle through a long copy: pend as Prewarming and start when the cache is warm.
      if (c.data.transferSec > this.cfg.maxPrewarmHoldSec) {
        for (const a of allocs) release(a);
        const kept = this.scratch.keep(this, c);
        return this.pending(job, reasons.prewarming(kept.data.missing, c.cluster.id, c.data.transferSec), kept, true);
      }
      return this.commit(job, c, allocs, []);
    }

    // Every path below sees cands sorted: the loop above sorted them unless there is only one.
    if (this.cfg.preemption && TIER_RANK[job.tier] < TIER_RANK.filler && this.preemptionAttempts < this.cfg.maxPreemptionAttempts) {
      this.preemptionAttempts++;
      const rank = TIER_RANK[job.tier];
      const pkey = (c: Candidate): string => {
        const t = targetKey(c, modelsKey);
        return `${rank}\u0000${shapeKey}\u0000${typeof t === 'string' ? t : `${c.cluster.ord}\u0000m\u0000${c.model}`}`;
      };
      const allowed = this.cfg.backfill ? cands.filter((c) => !this.reservations.blocker(c.cluster.id, c.model, job.tier, job.expectedRuntimeSec, need)) : cands;
      const plan = planPreemption(
        rank,
        shape,
        job.tasks,
        allowed,
        this.victims,
        this.fitOpts,
        (c) => this.failed.set(pkey(c), memoStamp(c, shape)),
        undefined,
        (c) => this.memo && this.failed.get(pkey(c)) === memoStamp(c, shape),
      );
      if (plan) {
        for (const v of plan.victims) {
          const r = v.spec;
          this.charge(r.project, v.model, v.milli, r.cpuMilli * r.tasks.length, r.memoryMiB * r.tasks.length, -1);
        }
        return this.commit(job, plan.cand, plan.allocs, plan.victims);
      }
    }
    if (heldBy) return this.pending(job, heldBy);
    const reserved = gpuNodeReserveReason(cands, shape, this.fitOpts);
    if (reserved) return this.pending(job, reserved);
    // Still pending: report the target where it would start soonest and hold it for the gang.
    let best: Candidate | null = null;
    let bestEta = Number.POSITIVE_INFINITY;
    for (const c of cands) {
      let eta = c.readySec;
      if (c.fitsNow && c.model !== null) {
        // Capacity is there in total but scattered across nodes: the next release is a fair guess.
        eta = Math.max(this.timeline.nextRelease(c.cluster.id, c.model) ?? Number.POSITIVE_INFINITY, c.data.transferSec);
      }
      if (eta < bestEta || best === null) {
        best = c;
        bestEta = eta;
      }
    }
    const eta = Number.isFinite(bestEta) ? bestEta : null;
    if (best) this.hold(job, best, need);
    const model = best?.model ?? best?.pool?.join('|') ?? (shape.models ? [...shape.models].join('|') : 'GPU');
    let pend = job.tasks > 1 || job.gpus > 1 ? reasons.waitingForGang(need, model, best?.cluster.id ?? null, eta) : reasons.insufficient(need, model, eta === null ? null : (best?.cluster.id ?? null), eta);
    // Room exists now where only a quota or budget forbids it: that is the blocker to name first.
    const limited = limitReason(this.quota, this.budget, job, shape, filtered.targets, need, hours, overBudget);
    if (limited) pend = { code: limited.code, reason: `${limited.reason}; within it: ${pend.reason}`, etaSec: pend.etaSec };
    return this.pending(job, pend, best, (best?.data.missingBytes ?? 0) > 0);
  }

  private hold(job: JobSpec, c: Candidate, need: number): void {
    if (!this.cfg.backfill || c.model === null || job.tier === 'filler') return;
    this.reservations.hold(job.id, c.cluster.id, c.model, c.freeMilli, need, this.timeline);
  }

  private pending(job: JobSpec, pend: Pend, target: Candidate | null = null, prewarm = false): Outcome {
    // A scratch candidate is copied (kept ones already are: copying again is harmless).
    return { kind: 'pending', job, pend, target: target && this.scratch.keep(this, target), prewarm };
  }

  private commit(job: JobSpec, cand: Candidate, allocs: TaskAlloc[], victims: RunningEntry[]): Outcome {
    const need = job.tasks * taskMilli(job);
    // A pooled target learns its model only now, from the node FGD chose.
    const model = cand.pool ? (allocs[0]?.node.model ?? null) : cand.model;
    const usd = cand.pool ? gpuPrice(cand.cluster, model, job.tier, this.prices) * gpuHoursOf(job) + cand.data.egressUsd : cand.costUsd;
    this.charge(job.project, model, need, job.cpuMilli * job.tasks, job.memoryMiB * job.tasks, 1);
    this.budget.spend(job.project, gpuHoursOf(job), usd);
    if (this.cfg.backfill) this.reservations.consume(cand.cluster.id, model, job.tier, job.expectedRuntimeSec, need);
    return { kind: 'placed', job, cand: this.scratch.keep(this, cand), model, allocs, victims, usd };
  }

  /** Record a placed job as running (so later decisions in this engine see it). */
  admitPlaced(o: Extract<Outcome, { kind: 'placed' }>): void {
    const j = o.job;
    const r: RunningAllocation = {
      jobId: j.id,
      project: j.project,
      tier: j.tier as Tier,
      clusterId: o.cand.cluster.id,
      ...(o.model ? { gpuModel: o.model } : {}),
      cpuMilli: j.cpuMilli,
      memoryMiB: j.memoryMiB,
      gpus: j.gpus,
      ...(j.milliGpu ? { milliGpu: j.milliGpu } : {}),
      tasks: [],
      checkpointable: j.checkpointable ?? false,
      startedAt: this.now,
      expectedRuntimeSec: j.expectedRuntimeSec,
    };
    // Charge was done at commit; register without charging again.
    const milli = j.tasks * taskMilli(j);
    const e: RunningEntry = { spec: { ...r, tasks: o.allocs.map(() => ({ node: '', gpuIndices: [] })) }, cluster: o.cand.cluster, model: o.model ?? '', allocs: o.allocs, rank: TIER_RANK[j.tier], milli, lostWork: 0, preempted: false };
    this.running.set(j.id, e);
    let byC = this.runningByCluster.get(e.cluster.id);
    if (!byC) this.runningByCluster.set(e.cluster.id, (byC = []));
    byC.push(e);
    this.victims.changed();
    this.failed.clear();
  }
}
