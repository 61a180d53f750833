// Slurm's --output/--error filename patterns, shared by the hub's job view (what scontrol/sacct print) and the
// Kubernetes translation (where a script's output goes). Pure.
//   %% a literal %   %A array master id   %a array task id   %j / %J job id   %N first node's short name
//   %n node id (0)   %s step (batch)     %t task id (0)      %u user name      %x job name
// A width (`%4j`) zero-pads numbers. A code without a value is left as written.

export type PatternCode = 'A' | 'a' | 'j' | 'J' | 'N' | 'n' | 's' | 't' | 'u' | 'x';
/** A value, or a function of the requested width (for values known only at run time, e.g. a shell expression). */
export type PatternValue = string | ((width: number) => string);

export function expandSlurmPattern(pattern: string, values: Partial<Record<PatternCode, PatternValue>>): string {
  return pattern.replace(/%(%|(\d*)([AajJNnstux]))/g, (m: string, all: string, w: string, code: PatternCode) => {
    if (all === '%') return '%';
    const v = values[code];
    if (v === undefined) return m;
    const width = w ? Number(w) : 0;
    if (typeof v === 'function') return v(width);
    return /^\d+$/.test(v) ? v.padStart(width, '0') : v;
  });
}

/** sbatch's default output name: `slurm-%j.out`, or `slurm-%A_%a.out` for an array. */
export function defaultOutputPattern(isArray: boolean): string {
  return isArray ? 'slurm-%A_%a.out' : 'slurm-%j.out';
}

/** A pattern result made absolute against the job's working directory. */
export function inWorkDir(path: string, workDir: string | undefined): string {
  if (path.startsWith('/') || !workDir) return path;
  return `${workDir.replace(/\/+$/, '')}/${path}`;
}
