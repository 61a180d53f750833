// Slurm job semantics the hub enforces wherever a job lands (pure, no I/O): which clusters a job that names
// a partition / nodelist / constraint may go to, and whether its --dependency lets it start yet.
// The login-node sbatch writes these as `slurm.meridian.dev/<key>` annotations; the keys, the node labels and the
// --dependency grammar are the shared tables in @meridian/protocol/slurm.
import type { JobSpec } from '@meridian/protocol/job-spec';
import { slurmAnnotation as annotationOf, SLURM_NODE_LABELS, type SlurmAnnotationKey } from '@meridian/protocol/slurm/annotations';
import { dependencySeparator, dependencyTerm, HUB_DEPENDENCY_TYPES } from '@meridian/protocol/slurm/dependency';

/** The scheduler's cluster filter with an id no cluster has: "fits nowhere right now". */
export const NO_CLUSTER = '(no-matching-slurm-cluster)';

export function slurmAnnotation(spec: Pick<JobSpec, 'annotations'>, key: SlurmAnnotationKey): string | undefined {
  return annotationOf(spec.annotations, key);
}

export interface ClusterNodes {
  id: string;
  kind: 'kubernetes' | 'slurm';
  nodes: { name: string; labels: Record<string, string> }[];
}

/** The Slurm-only requests of a job (partition, nodelist, constraint); undefined when it names none. */
export function slurmOnly(spec: Pick<JobSpec, 'annotations'>): { partition?: string; nodelist?: string; constraint?: string; multiNodeArray?: boolean } | undefined {
  const partition = slurmAnnotation(spec, 'partition');
  const nodelist = slurmAnnotation(spec, 'nodelist');
  const constraint = slurmAnnotation(spec, 'constraint');
  // Kubernetes runs an array as one pod per index; an array of multi-node tasks needs Slurm.
  const multiNodeArray = slurmAnnotation(spec, 'array') !== undefined && Number(slurmAnnotation(spec, 'nodes') ?? 1) > 1;
  if (!partition && !nodelist && !constraint && !multiNodeArray) return undefined;
  return { ...(partition ? { partition } : {}), ...(nodelist ? { nodelist } : {}), ...(constraint ? { constraint } : {}), ...(multiNodeArray ? { multiNodeArray } : {}) };
}

const partitionsOf = (n: { labels: Record<string, string> }) => (n.labels[SLURM_NODE_LABELS.partitions] ?? '').split(',').filter(Boolean);

/** Partitions the federation's Slurm clusters report (from their nodes' labels). */
export function knownPartitions(clusters: ClusterNodes[]): Set<string> {
  return new Set(clusters.filter((c) => c.kind === 'slurm').flatMap((c) => c.nodes.flatMap(partitionsOf)));
}

/**
 * The clusters a job may be placed on: undefined = no Slurm-only request (anywhere). Otherwise only Slurm
 * clusters that have the partition (`-p a,b`: any of them), every node of a plain nodelist, and a node with a
 * single-feature constraint (richer constraint expressions are left to slurmctld). Kubernetes clusters cannot
 * honour these, so they are never eligible.
 */
export function eligibleClusters(spec: Pick<JobSpec, 'annotations'>, clusters: ClusterNodes[]): string[] | undefined {
  const want = slurmOnly(spec);
  if (!want) return undefined;
  const parts = want.partition?.split(',').filter(Boolean);
  const names = want.nodelist && /^[\w.-]+(,[\w.-]+)*$/.test(want.nodelist) ? want.nodelist.split(',') : undefined;
  const feature = want.constraint && /^[\w.-]+$/.test(want.constraint) ? want.constraint : undefined;
  return clusters
    .filter((c) => c.kind === 'slurm')
    .filter((c) => !parts || c.nodes.some((n) => partitionsOf(n).some((p) => parts.includes(p))))
    .filter((c) => !names || names.every((name) => c.nodes.some((n) => n.name === name)))
    .filter((c) => !feature || c.nodes.some((n) => n.labels[`${SLURM_NODE_LABELS.featurePrefix}${feature}`] === 'true'))
    .map((c) => c.id);
}

// ---------------- dependencies ----------------

export type DepType = (typeof HUB_DEPENDENCY_TYPES)[number];
export type DepTerm = { type: DepType; jobs: { id: string; plusMin: number }[] } | { type: 'singleton' };
export interface Dependency {
  /** `,` joins terms that must all hold; `?` terms of which one is enough. */
  op: 'all' | 'any';
  terms: DepTerm[];
}

/** `afterok:1:2,afterany:3`, `afterok:4?afternotok:5`, `singleton`, `after:6+10`; throws naming the bad part. */
export function parseDependency(text: string): Dependency {
  const s = text.trim();
  if (!s) throw new Error('the dependency is empty');
  const { op, sep, mixed } = dependencySeparator(s);
  if (mixed) throw new Error(`"${s}" mixes "," and "?"; Slurm allows one kind of separator`);
  const terms = s.split(sep).map((t): DepTerm => {
    if (t === 'singleton') return { type: 'singleton' };
    const term = dependencyTerm(t, HUB_DEPENDENCY_TYPES);
    if (!term) throw new Error(`"${t}" is not type:jobid[:jobid...] with type after, afterany, afterok, afternotok or aftercorr, nor singleton`);
    const jobs = term.ids.map((part) => {
      const j = /^(\d{1,18})(?:_\d+)?(?:\+(\d+))?$/.exec(part);
      if (!j) throw new Error(`"${part}" in "${t}" is not a job id (a number, optionally +minutes)`);
      return { id: j[1]!, plusMin: j[2] ? Number(j[2]) : 0 };
    });
    return { type: term.type as DepType, jobs };
  });
  return { op, terms };
}

export function dependencyJobIds(d: Dependency): string[] {
  return [...new Set(d.terms.flatMap((t) => (t.type === 'singleton' ? [] : t.jobs.map((j) => j.id))))];
}

/** What the hub knows of a prerequisite job. */
export interface PrereqState {
  state: string;
  startedMs: number | null;
}

export type DepVerdict = 'ready' | 'wait' | 'never';

const DONE = new Set(['Succeeded', 'Failed', 'Cancelled']);

function termVerdict(t: DepTerm, lookup: (id: string) => PrereqState | undefined, singletonBusy: boolean, now: number): DepVerdict {
  if (t.type === 'singleton') return singletonBusy ? 'wait' : 'ready';
  const each = t.jobs.map(({ id, plusMin }): DepVerdict => {
    const p = lookup(id);
    if (!p) return 'never'; // the prerequisite is gone (Slurm: DependencyNeverSatisfied)
    switch (t.type) {
      case 'after': {
        if (p.state === 'Cancelled' && p.startedMs === null) return 'ready';
        if (p.startedMs === null && !DONE.has(p.state)) return 'wait';
        return (p.startedMs ?? 0) + plusMin * 60_000 <= now ? 'ready' : 'wait';
      }
      case 'afterany':
        return DONE.has(p.state) ? 'ready' : 'wait';
      case 'afterok':
      case 'aftercorr':
        return p.state === 'Succeeded' ? 'ready' : DONE.has(p.state) ? 'never' : 'wait';
      case 'afternotok':
        return p.state === 'Failed' || p.state === 'Cancelled' ? 'ready' : p.state === 'Succeeded' ? 'never' : 'wait';
    }
  });
  return each.includes('never') ? 'never' : each.every((v) => v === 'ready') ? 'ready' : 'wait';
}

/**
 * Whether a dependent job may be scheduled: `ready`, `wait` (stays Queued, reason Dependency) or `never`
 * (a condition can no longer hold: the hub cancels it with DependencyNeverSatisfied).
 */
export function evaluateDependency(d: Dependency, lookup: (id: string) => PrereqState | undefined, singletonBusy: boolean, now: number): DepVerdict {
  const vs = d.terms.map((t) => termVerdict(t, lookup, singletonBusy, now));
  if (d.op === 'all') return vs.includes('never') ? 'never' : vs.every((v) => v === 'ready') ? 'ready' : 'wait';
  return vs.includes('ready') ? 'ready' : vs.every((v) => v === 'never') ? 'never' : 'wait';
}

/** The name singleton compares: the Slurm job name when the login node gave one, else the hub name. */
export function singletonName(spec: Pick<JobSpec, 'annotations' | 'name'>): string {
  return slurmAnnotation(spec, 'jobName') ?? spec.name;
}
