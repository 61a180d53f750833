// Acts on the cycle's `prewarms`: one `prewarm` command per (dataset, cluster) through the cluster's outbox,
// never a second while a copy is in flight or cached (the cache row is the claim). Copies a cluster refused
// outright (its command result is not ok, e.g. a Slurm cluster) are marked failed and retried after a while;
// a copy whose reports stopped is asked for again.
import type pg from 'pg';
import type { PrewarmRequest } from '../scheduler/index.ts';
import { tx } from '../store/db.ts';
import { enqueueCommand } from '../store/repos/agent-stream.ts';
import { claimPrewarm, datasetSize, failRefusedPrewarms, setPrewarmCommand } from '../store/repos/datasets.ts';

/** A failed copy is tried again no sooner than this. */
export const PREWARM_RETRY_SEC = 60;
/** Agents report a running copy at least every 30 s; silence this long means the report was lost: ask again. */
export const PREWARM_STALE_SEC = 120;

export interface PrewarmSent {
  dataset: string;
  clusterId: string;
  seq: number;
}

export async function sendPrewarms(pool: pg.Pool, prewarms: PrewarmRequest[], sources: Map<string, string>): Promise<PrewarmSent[]> {
  await failRefusedPrewarms(pool);
  const sent: PrewarmSent[] = [];
  for (const p of prewarms) {
    const seq = await tx(pool, async (c) => {
      if (!(await claimPrewarm(c, p.dataset, p.clusterId, PREWARM_RETRY_SEC, PREWARM_STALE_SEC))) return null;
      const source = sources.get(p.dataset);
      // the copy is the whole dataset: a partial earlier copy is the cluster's to resume, not the hub's to slice
      const sizeBytes = Number((await datasetSize(c, p.dataset)) ?? p.bytes);
      const s = await enqueueCommand(c, p.clusterId, { kind: 'prewarm', dataset: p.dataset, sizeBytes, ...(source ? { source } : {}) });
      await setPrewarmCommand(c, p.dataset, p.clusterId, s);
      return s;
    });
    if (seq !== null) sent.push({ dataset: p.dataset, clusterId: p.clusterId, seq });
  }
  return sent;
}
