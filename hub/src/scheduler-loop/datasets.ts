// Data locality for the cycle input: the registry's datasets named by queued jobs become the scheduler's
// DatasetRef (size, home region, clusters with a warm cache), and copies in flight become each cluster's
// `prewarming` progress. Datasets not registered at the hub carry no locality and are left out. Pure.
import type { ClusterSpec, DatasetRef, JobSpec } from '../scheduler/index.ts';
import type { CacheFact } from '../store/repos/datasets.ts';

/**
 * Pure: fills `jobs[i].datasets` from each job's requested names (a size given in the job spec wins over the
 * registry's) and `clusters[i].prewarming` from copies in flight.
 */
export function applyLocality(jobs: JobSpec[], requested: Map<string, { name: string; sizeBytes?: number | undefined }[]>, clusters: ClusterSpec[], facts: CacheFact[]): void {
  const byName = new Map<string, Omit<DatasetRef, 'sizeBytes'> & { sizeBytes: number }>();
  const warming = new Map<string, { dataset: string; percent: number }[]>();
  for (const f of facts) {
    let d = byName.get(f.name);
    if (!d) byName.set(f.name, (d = { name: f.name, sizeBytes: f.sizeBytes, homeRegion: f.homeRegion, cachedIn: [] }));
    if (!f.clusterId) continue;
    if (f.state === 'cached') d.cachedIn.push(f.clusterId);
    else if (f.state === 'prewarming') {
      const list = warming.get(f.clusterId) ?? [];
      list.push({ dataset: f.name, percent: f.percent ?? 0 });
      warming.set(f.clusterId, list);
    }
  }
  for (const d of byName.values()) d.cachedIn.sort();
  for (const j of jobs) {
    const refs: DatasetRef[] = [];
    for (const want of requested.get(j.id) ?? []) {
      const d = byName.get(want.name);
      if (d) refs.push({ ...d, cachedIn: [...d.cachedIn], ...(want.sizeBytes !== undefined ? { sizeBytes: want.sizeBytes } : {}) });
    }
    if (refs.length) j.datasets = refs;
  }
  for (const c of clusters) {
    const w = warming.get(c.id);
    if (w) c.prewarming = w.sort((a, b) => a.dataset.localeCompare(b.dataset));
  }
}
