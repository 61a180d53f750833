// Slurm's --dependency grammar as far as the federation speaks it: `afterok:1:2,afterany:3`,
// `afterok:4?afternotok:5`, `singleton`, `after:6+10`. The login node validates it, the hub gates on it and
// the Slurm driver rewrites federation ids to Slurm ids; each reads the terms with this one tokenizer.

/** Types sbatch accepts. */
export const SBATCH_DEPENDENCY_TYPES = ['after', 'afterany', 'afterok', 'afternotok', 'aftercorr', 'afterburstbuffer', 'expand'] as const;
/** Types the Slurm driver passes on to slurmctld (ids rewritten). */
export const SLURM_DRIVER_DEPENDENCY_TYPES = ['after', 'afterany', 'afterok', 'afternotok', 'aftercorr', 'afterburstbuffer'] as const;
/** Types the hub gates on wherever the job lands. */
export const HUB_DEPENDENCY_TYPES = ['after', 'afterany', 'afterok', 'afternotok', 'aftercorr'] as const;

export interface DependencyTerm {
  type: string;
  /** the `:`-separated ids as written (`12`, `12_3`, `12+10`) */
  ids: string[];
}

/** `type:id[:id...]` → its parts, when `type` is one of `types`; undefined otherwise. */
export function dependencyTerm(text: string, types: readonly string[]): DependencyTerm | undefined {
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1) return undefined;
  const type = text.slice(0, colon);
  if (!types.includes(type)) return undefined;
  return { type, ids: text.slice(colon + 1).split(':') };
}

/** `,` joins terms that must all hold; `?` terms of which one is enough. Slurm allows only one kind. */
export function dependencySeparator(spec: string): { op: 'all' | 'any'; sep: ',' | '?'; mixed: boolean } {
  const any = spec.includes('?');
  return { op: any ? 'any' : 'all', sep: any ? '?' : ',', mixed: any && spec.includes(',') };
}
