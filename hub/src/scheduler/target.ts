// A (cluster, GPU model) target a job may be placed on, and the job-independent part of its tie-break key.
// Shared by the static filters (which build targets) and candidate building (which ranks them).
import type { ClusterState, ModelIndex } from './snapshot.ts';
import { hash32 } from './rng.ts';

export interface Target {
  cluster: ClusterState;
  /** null for CPU-only jobs (any node). */
  model: string | null;
  /** The model's index in the cluster (GPU targets). */
  mi?: ModelIndex;
  /** Job-independent parts of the seeded tie-break keys of this target and of the pool it leads. */
  tieKey: number;
  poolTieKey: number;
  /** CPU-only targets: cached capacity aggregates (see candidates.ts). */
  memo?: TargetMemo;
  /** The model list of the pooled target this one leads, reused while the group is unchanged. */
  poolModels?: string[];
}

export interface TargetMemo {
  /** Version the figures were computed at: ModelIndex.version, the pooled models' sum, or ClusterState.version (CPU-only). */
  version: number;
  indexes: ModelIndex[];
  freeMilli: number;
  totalMilli: number;
  fitsNow: boolean;
  gpuWaitSec: number;
  /** For a pooled target: the models pooled (the entry is valid only for the same list); else null. */
  pool: readonly string[] | null;
}

/** hash32 of GPU model names, memoised. */
const modelHashes = new Map<string, number>();
function modelHash(model: string): number {
  let h = modelHashes.get(model);
  if (h === undefined) modelHashes.set(model, (h = hash32(model)));
  return h;
}

/** The job-independent part of a target's seeded tie-break key (the job's hash is mixed in per job). */
export function tieKeyOf(cluster: ClusterState, model: string | null): number {
  return Math.imul(cluster.ord + 1, 0x9e3779b1) ^ (model === null ? 0 : modelHash(model));
}
