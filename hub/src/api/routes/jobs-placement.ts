// Placement targets checked at submit: a job that names a cluster or region the federation does not have would
// wait forever with "no cluster matches", so it is refused with the names that do exist.
import type { JobSpec } from '@meridian/protocol/job-spec';
import type { FieldError } from '@meridian/protocol/job-spec';
import { listClusters } from '../../store/repos/clusters.ts';
import type { ApiContext } from '../context.ts';
import { ApiError } from '../errors.ts';

/** Error code of the refusal; the login-node sbatch words it as sbatch does for an unknown --clusters entry. */
export const UNKNOWN_PLACEMENT = 'unknown_placement';

const listed = (names: Iterable<string>) => [...new Set(names)].sort().join(', ') || '(none registered yet)';

/** 400 naming each unknown `placement.clusters[i]` / `placement.regions[i]`; one read, only when a job names any. */
export async function checkPlacement(ctx: ApiContext, spec: JobSpec): Promise<void> {
  const { clusters = [], regions = [] } = spec.placement;
  if (!clusters.length && !regions.length) return;
  // An archived cluster takes no placements, so it is not a target (archivedAt is absent before that column exists).
  const live = (await listClusters(ctx.pool)).filter((c) => !(c as { archivedAt?: string | null }).archivedAt);
  const ids = new Set(live.map((c) => c.id));
  const regs = new Set(live.map((c) => c.region));
  const details: FieldError[] = [];
  clusters.forEach((c, i) => {
    if (!ids.has(c)) details.push({ path: `placement.clusters[${i}]`, message: `no cluster named "${c}" in the federation; known clusters: ${listed(ids)}` });
  });
  regions.forEach((r, i) => {
    if (!regs.has(r)) details.push({ path: `placement.regions[${i}]`, message: `no cluster in region "${r}"; known regions: ${listed(regs)}` });
  });
  const unknown = [...clusters.filter((c) => !ids.has(c)), ...regions.filter((r) => !regs.has(r))];
  if (details.length) throw new ApiError(400, UNKNOWN_PLACEMENT, `no such cluster or region in the federation: ${unknown.join(', ')}`, details);
}
