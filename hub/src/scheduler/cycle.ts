// One scheduling cycle: plain input in, plain output out, no I/O and no clock reads. Order of work:
// validate → snapshot → tiers in order → within a tier, projects by weighted DRF and each project's jobs
// by priority then age → place / preempt / hold a backfill reservation / explain → admission, rebalance.
import type { CycleInput, CycleOutput, JobSpec, PendingJob, Placement, Preemption, PrewarmRequest, Tier } from './model.ts';
import { TIERS } from './model.ts';
import { validateJob, validateStructure } from './validate.ts';
import type { Outcome } from './engine.ts';
import type { EngineOptions } from './engine.ts';
import { Engine, shapeOf } from './engine.ts';
import { buildWorkload } from './workload.ts';
import { fairOrder } from './fairshare.ts';
import { reasons } from './reasons.ts';
import { toTaskPlacement } from './snapshot.ts';
import { admissionSignals } from './admission.ts';
import { migrations, requeues } from './rebalance.ts';

const byProjectOrder = (a: JobSpec, b: JobSpec): number =>
  (b.priority ?? 0) - (a.priority ?? 0) || a.submittedAt - b.submittedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export function runCycle(input: CycleInput, opts: EngineOptions = {}): CycleOutput {
  validateStructure(input);
  const engine = new Engine(input, opts);
  const pending: PendingJob[] = [];
  const valid: JobSpec[] = [];
  const seen = new Set<string>();
  input.jobs.forEach((job, i) => {
    const err = validateJob(job, i);
    const id = typeof job?.id === 'string' ? job.id : `#${i}`;
    if (err) pending.push({ jobId: id, ...reasons.invalid(err) });
    else if (seen.has(job.id) || engine.running.has(job.id))
      pending.push({ jobId: id, ...reasons.invalid(`jobs[${i}].id: ${seen.has(job.id) ? 'duplicate job id in this cycle' : 'job is already running'}`) });
    else {
      seen.add(job.id);
      valid.push(job);
    }
  });

  engine.setWorkload(buildWorkload(valid.map((j) => ({ shape: shapeOf(j), count: j.tasks }))));
  engine.beginCycle();

  const outcomes: Outcome[] = [];
  for (const tier of TIERS) {
    const queues = new Map<string, JobSpec[]>();
    for (const j of valid) {
      if (j.tier !== (tier as Tier)) continue;
      let q = queues.get(j.project);
      if (!q) queues.set(j.project, (q = []));
      q.push(j);
    }
    for (const q of queues.values()) q.sort(byProjectOrder);
    for (const job of fairOrder(queues, engine.fair, engine.cfg.seed)) outcomes.push(engine.scheduleJob(job));
  }
  return assemble(input, engine, outcomes, pending);
}

function assemble(input: CycleInput, engine: Engine, outcomes: Outcome[], pending: PendingJob[]): CycleOutput {
  const placements: Placement[] = [];
  const preemptions: Preemption[] = [];
  const prewarm = new Map<string, PrewarmRequest>();
  const addPrewarm = (clusterId: string, missing: { name: string; bytes: number }[], jobId: string): void => {
    for (const m of missing) {
      const k = `${m.name}\u0000${clusterId}`;
      const p = prewarm.get(k);
      if (p) p.forJobs.push(jobId);
      else prewarm.set(k, { dataset: m.name, clusterId, bytes: Math.round(m.bytes), forJobs: [jobId] });
    }
  };
  for (const o of outcomes) {
    if (o.kind === 'placed') {
      placements.push({
        jobId: o.job.id,
        clusterId: o.cand.cluster.id,
        gpuModel: o.model,
        tasks: o.allocs.map(toTaskPlacement),
        estimatedUsd: Math.round(o.usd * 100) / 100,
      });
      if (o.victims.length)
        preemptions.push({
          jobId: o.job.id,
          clusterId: o.cand.cluster.id,
          victims: o.victims.map((v) => v.spec.jobId),
          reason: `${o.job.tier} job ${o.job.id} needs ${o.job.tasks}×${o.job.gpus || (o.job.milliGpu ?? 0) / 1000} ${o.model ?? 'CPU'} on ${o.cand.cluster.id}; evicting ${o.victims
            .map((v) => `${v.spec.jobId} (${v.spec.tier}${v.spec.checkpointable ? ', checkpointable' : ''})`)
            .join(', ')}`,
        });
      addPrewarm(o.cand.cluster.id, o.cand.data.missing, o.job.id);
    } else {
      pending.push({ jobId: o.job.id, ...o.pend });
      if (o.prewarm && o.target) addPrewarm(o.target.cluster.id, o.target.data.missing, o.job.id);
    }
  }
  const jobsById = new Map(input.jobs.filter((j) => typeof j?.id === 'string').map((j) => [j.id, j]));
  const victims = preemptions.reduce((s, p) => s + p.victims.length, 0);
  return {
    placements,
    preemptions,
    prewarms: [...prewarm.values()],
    admission: admissionSignals(pending, jobsById, engine.projects, input.config?.admission),
    pending,
    requeues: requeues(outcomes),
    migrations: migrations(engine, input.config?.migration),
    warnings: engine.warnings,
    stats: { jobs: input.jobs.length, placed: placements.length, pending: pending.length, preempted: victims },
  };
}
