// Rebalancing. Queued jobs are re-decided every cycle, so when stock moves their target moves with it;
// this module reports those moves (so stale prewarms can be cancelled) and suggests migrating running
// checkpointable jobs when finishing elsewhere is cheaper by more than a configured threshold.
import type { Migration, Requeue, SchedulerConfig } from './model.ts';
import type { Engine, Outcome } from './engine.ts';
import { gpuPrice, fallbackPrices } from './policies.ts';
import { dataCost } from './data.ts';
import { fmtDuration } from './reasons.ts';

export function requeues(outcomes: readonly Outcome[]): Requeue[] {
  const out: Requeue[] = [];
  for (const o of outcomes) {
    const from = o.job.targetCluster;
    if (!from) continue;
    const to = o.kind === 'placed' ? o.cand.cluster.id : o.target?.cluster.id;
    if (!to || to === from) continue;
    const reason =
      o.kind === 'placed'
        ? `placed on ${to}: capacity there now, ${from} still busy or worse by policy`
        : `stock moved: ${to} is now expected sooner (~${fmtDuration(o.pend.etaSec ?? Infinity)})`;
    out.push({ jobId: o.job.id, from, to, reason });
  }
  return out;
}

export function migrations(engine: Engine, cfg: SchedulerConfig['migration']): Migration[] {
  if (!cfg?.enabled) return [];
  const minUsd = cfg.minSavingUsd ?? 50;
  const minFrac = cfg.minSavingFraction ?? 0.2;
  const overheadSec = cfg.restartOverheadSec ?? 600;
  const prices = fallbackPrices(engine.snap.clusters);
  // Free whole GPUs left after this cycle's placements, consumed as suggestions are made.
  const free = new Map<string, number>();
  for (const c of engine.snap.clusters) for (const [m, mi] of c.models) free.set(`${c.id}\u0000${m}`, mi.freeWhole);

  const out: Migration[] = [];
  const entries = [...engine.running.values()].filter((e) => !e.preempted && e.spec.checkpointable && e.model && e.spec.gpus > 0);
  entries.sort((a, b) => (a.spec.jobId < b.spec.jobId ? -1 : 1));
  for (const e of entries) {
    const r = e.spec;
    const remainingSec = (r.startedAt - engine.now) / 1000 + r.expectedRuntimeSec;
    if (remainingSec <= overheadSec) continue;
    const gpus = e.milli / 1000;
    const curCost = gpuPrice(e.cluster, e.model, r.tier, prices) * gpus * (remainingSec / 3600);
    let best: Migration | null = null;
    for (const c of engine.snap.clusters) {
      if (c === e.cluster) continue;
      const k = `${c.id}\u0000${e.model}`;
      if ((free.get(k) ?? 0) < gpus) continue;
      const price = gpuPrice(c, e.model, r.tier, prices);
      const data = dataCost(engine.snap, c, r.datasets, engine.cfg.defaultLink);
      const newCost = price * gpus * ((remainingSec + overheadSec + data.transferSec) / 3600) + data.egressUsd;
      const saving = curCost - newCost;
      if (saving < minUsd || saving < minFrac * curCost) continue;
      if (!best || saving > best.savingUsd)
        best = {
          jobId: r.jobId,
          from: e.cluster.id,
          to: c.id,
          gpuModel: e.model,
          savingUsd: Math.round(saving * 100) / 100,
          reason: `checkpoint and move: $${curCost.toFixed(2)} to finish on ${e.cluster.id} vs $${newCost.toFixed(2)} on ${c.id} (incl. restart and data)`,
        };
    }
    if (best) {
      out.push(best);
      const k = `${best.to}\u0000${e.model}`;
      free.set(k, (free.get(k) ?? 0) - gpus);
    }
  }
  return out;
}
