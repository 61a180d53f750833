// Tenant labels (pure): the hub, not the agent, says which cluster and region a series belongs to, and
// which project when the series carries a job. Labels an agent sent under those names are replaced.
import type { Label } from '@meridian/protocol/telemetry/remote-write';

export interface Tenant {
  clusterId: string;
  region: string;
}

/** Job identity on a series: the federation job id, else the Slurm job id or the pod's namespace. */
export interface JobRef {
  clusterId: string;
  jobId?: string;
  slurmJobId?: string;
  namespace?: string;
}

export type ProjectResolver = (job: JobRef) => string | undefined;

export const TENANT_LABELS = new Set(['cluster', 'region', 'project']);

/** The job labels of a (sorted) label set, or null when it has none. */
export function jobRefOf(labels: Label[], clusterId: string): JobRef | null {
  let ref: JobRef | null = null;
  for (const l of labels) {
    if (l.name === 'meridian_job_id') (ref ??= { clusterId }).jobId = l.value;
    else if (l.name === 'slurm_job_id') (ref ??= { clusterId }).slurmJobId = l.value;
    else if (l.name === 'namespace') (ref ??= { clusterId }).namespace = l.value;
  }
  return ref;
}

/**
 * Returns `labels` (sorted by name) with cluster, region and (when known) project set by the hub, still
 * sorted. `extra` must be sorted by name.
 */
export function withTenantLabels(labels: Label[], extra: Label[]): Label[] {
  const out: Label[] = [];
  let j = 0;
  for (const l of labels) {
    if (TENANT_LABELS.has(l.name)) continue;
    while (j < extra.length && extra[j]!.name < l.name) out.push(extra[j++]!);
    out.push(l);
  }
  while (j < extra.length) out.push(extra[j++]!);
  return out;
}

export function tenantExtras(tenant: Tenant, project: string | undefined): Label[] {
  const extra: Label[] = [{ name: 'cluster', value: tenant.clusterId }];
  if (project) extra.push({ name: 'project', value: project });
  extra.push({ name: 'region', value: tenant.region });
  return extra; // cluster < project < region
}
