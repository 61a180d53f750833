// Data gravity: how many bytes a job still needs on a cluster, how long they take to arrive and what
// the egress costs. The source of a copy is the fastest of the dataset's home region and any cluster
// already caching it (a warm cache elsewhere is often closer than home).
import type { DatasetRef, Link } from './model.ts';
import type { ClusterState, Snapshot } from './snapshot.ts';

/** Same-region copies when no link entry says otherwise: fast and free. */
const INTRA_REGION: Link = { region: '', bandwidthBytesPerSec: 10e9, egressUsdPerGB: 0 };

export interface DataCost {
  missingBytes: number;
  transferSec: number;
  egressUsd: number;
  /** Datasets not (fully) cached on the cluster, with bytes still to copy. */
  missing: { name: string; bytes: number; percent: number }[];
}

function linkFor(cl: ClusterState, region: string, fallback: Link): Link {
  return cl.links.get(region) ?? (region === cl.region ? INTRA_REGION : fallback);
}

/** The cost of a job without datasets (shared, frozen). */
export const NO_DATA: DataCost = Object.freeze({ missingBytes: 0, transferSec: 0, egressUsd: 0, missing: Object.freeze([]) as unknown as DataCost['missing'] });

export function dataCost(snap: Snapshot, cl: ClusterState, datasets: readonly DatasetRef[] | undefined, fallback: Link): DataCost {
  if (!datasets || datasets.length === 0) return NO_DATA;
  return dataCostInto({ missingBytes: 0, transferSec: 0, egressUsd: 0, missing: [] }, snap, cl, datasets, fallback, true);
}

/**
 * dataCost written into `out` (its three figures reset first); the `missing` list is filled only when
 * asked, so candidate building can reuse one object per cluster and list datasets only for a kept one.
 */
export function dataCostInto(out: DataCost, snap: Snapshot, cl: ClusterState, datasets: readonly DatasetRef[], fallback: Link, list: boolean): DataCost {
  out.missingBytes = 0;
  out.transferSec = 0;
  out.egressUsd = 0;
  for (const d of datasets) {
    if (d.cachedIn.includes(cl.id)) continue;
    const percent = Math.min(100, Math.max(0, cl.prewarming.get(d.name) ?? 0));
    const bytes = d.sizeBytes * (1 - percent / 100);
    let best = linkFor(cl, d.homeRegion, fallback);
    for (const cid of d.cachedIn) {
      const src = snap.byId.get(cid);
      if (!src) continue;
      const l = linkFor(cl, src.region, fallback);
      if (l.bandwidthBytesPerSec > best.bandwidthBytesPerSec || (l.bandwidthBytesPerSec === best.bandwidthBytesPerSec && l.egressUsdPerGB < best.egressUsdPerGB)) best = l;
    }
    out.missingBytes += bytes;
    out.transferSec += bytes / best.bandwidthBytesPerSec;
    out.egressUsd += (bytes / 1e9) * best.egressUsdPerGB;
    if (list) out.missing.push({ name: d.name, bytes, percent });
  }
  return out;
}
