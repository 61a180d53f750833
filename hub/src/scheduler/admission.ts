// Admission signal: being full is normal, so instead of erroring the API answers 429 + Retry-After when a
// tier's or project's pending queue is past its bound. Retry-After is the median ETA of that queue.
import type { AdmissionSignal, JobSpec, PendingJob, ProjectSpec, SchedulerConfig, Tier } from './model.ts';
import { TIERS } from './model.ts';

export const DEFAULT_TIER_BOUNDS: Record<Tier, number> = { realtime: 1_000, batch: 50_000, interruptible: 50_000, filler: 100_000 };
export const DEFAULT_PROJECT_BOUND = 10_000;

function retryAfter(etas: number[]): number {
  if (etas.length === 0) return 60;
  etas.sort((a, b) => a - b);
  const median = etas[Math.floor(etas.length / 2)]!;
  return Math.min(3600, Math.max(5, Math.round(median)));
}

export function admissionSignals(
  pending: readonly PendingJob[],
  jobs: ReadonlyMap<string, JobSpec>,
  projects: ReadonlyMap<string, ProjectSpec>,
  cfg: SchedulerConfig['admission'] = {},
): AdmissionSignal[] {
  const byTier = new Map<string, number[]>();
  const countTier = new Map<string, number>();
  const byProject = new Map<string, number[]>();
  const countProject = new Map<string, number>();
  for (const p of pending) {
    if (p.code === 'Invalid') continue;
    const j = jobs.get(p.jobId);
    if (!j) continue;
    countTier.set(j.tier, (countTier.get(j.tier) ?? 0) + 1);
    countProject.set(j.project, (countProject.get(j.project) ?? 0) + 1);
    if (p.etaSec !== null) {
      (byTier.get(j.tier) ?? byTier.set(j.tier, []).get(j.tier)!).push(p.etaSec);
      (byProject.get(j.project) ?? byProject.set(j.project, []).get(j.project)!).push(p.etaSec);
    }
  }
  const out: AdmissionSignal[] = [];
  for (const tier of TIERS) {
    const n = countTier.get(tier) ?? 0;
    const bound = cfg.maxPendingPerTier?.[tier] ?? DEFAULT_TIER_BOUNDS[tier];
    out.push({ scope: 'tier', key: tier, pending: n, bound, admit: n < bound, retryAfterSec: retryAfter(byTier.get(tier) ?? []) });
  }
  const names = new Set([...projects.keys(), ...countProject.keys()]);
  for (const name of [...names].sort()) {
    const n = countProject.get(name) ?? 0;
    const bound = projects.get(name)?.maxPending ?? cfg.maxPendingPerProject ?? DEFAULT_PROJECT_BOUND;
    out.push({ scope: 'project', key: name, pending: n, bound, admit: n < bound, retryAfterSec: retryAfter(byProject.get(name) ?? []) });
  }
  return out;
}
