// -M/--clusters on the query commands. The federation answers to one Slurm cluster name (MERIDIAN_CLUSTER_NAME,
// default "meridian"): `-M meridian` (or `all`) is everything; `-M <member>` is what runs, or may run, on that
// member cluster. Names the hub does not know get Slurm's two error lines and exit 1.
import { federationName, type Io } from './io.ts';
import { HubError, hubClientFromEnv } from './hub-client.ts';
import type { HubJobView } from './rows.ts';

export interface ClusterScope {
  /** The name printed in `CLUSTER: name` lines. */
  name: string;
  /** Member cluster ids this scope covers; null for the whole federation. */
  members: string[] | null;
}

/** The scopes `-M spec` names (undefined: no -M, the whole federation without a CLUSTER line), or an exit code. */
export async function clusterScopes(io: Io, cmd: string, spec: string | undefined): Promise<ClusterScope[] | undefined | number> {
  if (spec === undefined) return undefined;
  const fed = federationName(io.env);
  const names = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.some((n) => n === 'all' || n === fed) || !names.length) return [{ name: fed, members: null }];
  let known: string[];
  try {
    known = (await hubClientFromEnv(io.env, cmd).clusters()).items.map((c) => c.id);
  } catch (err) {
    if (err instanceof HubError) return io.err(`${cmd}: error: ${err.message}\n`), 1;
    throw err;
  }
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length) {
    // as Slurm's slurmdb_get_info_cluster refuses a name slurmdbd does not have
    for (const n of unknown) io.err(`${cmd}: error: No cluster '${n}' known by database.\n`);
    io.err(`${cmd}: error: '${spec}' can't be reached now, or it is an invalid entry for --cluster.  Use 'sacctmgr list clusters' to see available clusters.\n`);
    return 1;
  }
  return names.map((n) => ({ name: n, members: [n] }));
}

/** Whether a job belongs to a scope: placed there, or not placed yet and allowed there. */
export function jobInScope(v: HubJobView, scope: ClusterScope | undefined): boolean {
  if (!scope?.members) return true;
  if (v.cluster) return scope.members.includes(v.cluster);
  const allowed = (v.spec as { placement?: { clusters?: string[] } } | undefined)?.placement?.clusters;
  return !allowed?.length || allowed.some((c) => scope.members!.includes(c));
}
