// `sinfo -h -N -o` delimited node rows → node states as sinfo shows them (idle, mix, drain, drng, down...).
import { nullable } from './common.ts';
import { parseDelimited, UNIT_SEP } from './squeue.ts';

export interface SinfoNodeRow {
  node: string;
  partition: string;
  isDefaultPartition: boolean;
  /** Compact state (%t): idle, alloc, mix, drain, drng, down, idle~, ... */
  state: string;
  cpus: number;
  memoryMiB: number;
  gres: string;
  reason: string;
  reasonUser?: string;
}

export const SINFO_NODE_CODES = ['%N', '%P', '%t', '%c', '%m', '%G', '%E', '%u'];

export function sinfoNodeFormat(sep = UNIT_SEP): string {
  return SINFO_NODE_CODES.join(sep);
}

export function parseSinfoNodes(text: string, sep = UNIT_SEP): SinfoNodeRow[] {
  return parseDelimited(text, ['N', 'P', 't', 'c', 'm', 'G', 'E', 'u'], sep).map((r) => ({
    node: r.N!,
    partition: r.P!.replace(/\*$/, ''),
    isDefaultPartition: r.P!.endsWith('*'),
    state: r.t!,
    cpus: Number(r.c) || 0,
    memoryMiB: Number(r.m) || 0,
    gres: nullable(r.G) ?? '',
    reason: r.E === 'none' ? '' : (nullable(r.E) ?? ''),
    reasonUser: nullable(r.u),
  }));
}
