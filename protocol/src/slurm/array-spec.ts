// Slurm's --array grammar, read the same way by the login node (validation, squeue rows), the Slurm driver
// and the Kubernetes driver (one pod per index): `0-15`, `0,6,16-32`, `0-15:4`, with an optional `%N` limit.
import { BOUNDS } from '../bounds.ts';

export interface ArrayRange {
  lo: number;
  hi: number;
  step: number;
}

export interface ArrayPart {
  /** the text of one comma-separated part */
  text: string;
  /** the range it names; undefined when the part is not N, N-M or N-M:S */
  range?: ArrayRange;
}

export interface ArraySpec {
  parts: ArrayPart[];
  /** the `%N` limit as written (digits only when well-formed) */
  limitText?: string;
  /** the spec has more than one `%`, no list, or a limit that is not a whole number */
  malformed: boolean;
}

const RANGE = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/;

export function parseArraySpec(spec: string): ArraySpec {
  const [list, limitText, ...rest] = spec.split('%');
  const malformed = rest.length > 0 || !list || (limitText !== undefined && !/^\d+$/.test(limitText));
  const parts = (list ?? '').split(',').map((text): ArrayPart => {
    const m = RANGE.exec(text);
    if (!m) return { text };
    const lo = Number(m[1]);
    return { text, range: { lo, hi: m[2] !== undefined ? Number(m[2]) : lo, step: m[3] !== undefined ? Number(m[3]) : 1 } };
  });
  return { parts, ...(limitText !== undefined ? { limitText } : {}), malformed };
}

/** A range that names no index (`5-3`) or never advances (`0-4:0`). */
export function emptyRange(r: ArrayRange): boolean {
  return r.hi < r.lo || r.step < 1;
}

/** Whether Slurm would take the spec: well-formed, every part a non-empty range. */
export function validArraySpec(spec: string): boolean {
  const s = parseArraySpec(spec);
  return !s.malformed && s.parts.every((p) => p.range !== undefined && !emptyRange(p.range));
}

/**
 * Whether slurmctld with the default MaxArraySize would take the spec: valid, at most 4096 characters, every
 * index and step below MaxArraySize (slurm_parse_array_tok). The hub holds API-submitted arrays to the same.
 */
export function arrayWithinBounds(spec: string, maxArraySize: number = BOUNDS.arraySize.max): boolean {
  if (spec.length > BOUNDS.arraySpecLength.max || !validArraySpec(spec)) return false;
  return parseArraySpec(spec).parts.every((p) => p.range !== undefined && p.range.hi < maxArraySize && p.range.step < maxArraySize);
}

/**
 * The indices a spec names (without the limit), sorted and unique; parts that are not ranges are passed over.
 * `max` bounds the work on a hostile spec (`0-999999999`).
 */
export function arraySpecIndices(spec: string, max = 100_000): number[] {
  const out: number[] = [];
  for (const p of parseArraySpec(spec).parts) {
    if (!p.range) continue;
    const { lo, hi, step } = p.range;
    if (step < 1) {
      if (lo <= hi) out.push(lo); // a step of 0 names its first index only
      continue;
    }
    for (let i = lo; i <= hi && out.length < max; i += step) out.push(i);
  }
  return [...new Set(out)].sort((a, b) => a - b);
}
