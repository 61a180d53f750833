// `sacct -P` (`|`-separated, no trailing `|`) → rows; and the job view the bridge needs from it
// when slurmctld has already forgotten a job (MinJobAge) but accounting remembers it.
import type { SlurmJob } from '../types.ts';
import { nullable, parseDurationMin, parseExitCode, parseSlurmTime } from './common.ts';
import { ParseError } from './scontrol.ts';

/** Header + rows → records keyed by the header's names. With `noHeader`, pass the field names. */
export function parseSacctParsable(text: string, fields?: string[]): Record<string, string>[] {
  const lines = text.split('\n').filter((l) => l.length > 0);
  let names = fields;
  if (!names) {
    const header = lines.shift();
    if (!header) return [];
    names = header.split('|');
  }
  return lines.map((l, i) => {
    const cols = l.split('|');
    if (cols.length !== names!.length) {
      throw new ParseError(`sacct -P line ${i + 1} has ${cols.length} fields, expected ${names!.length}: ${JSON.stringify(l.slice(0, 200))}`);
    }
    return Object.fromEntries(names!.map((n, j) => [n, cols[j]!]));
  });
}

export const SACCT_FIELDS = ['JobIDRaw', 'JobID', 'JobName', 'Partition', 'Account', 'User', 'State', 'ExitCode', 'NodeList', 'NNodes', 'AllocCPUS', 'Timelimit', 'Submit', 'Start', 'End', 'Comment', 'WorkDir'];

/** Allocation rows (not steps) → SlurmJob. State `CANCELLED by 0` → CANCELLED. */
export function jobsFromSacct(rows: Record<string, string>[]): SlurmJob[] {
  const out: SlurmJob[] = [];
  for (const r of rows) {
    const raw = r.JobIDRaw ?? r.JobID ?? '';
    if (!/^\d+$/.test(raw)) continue; // steps: 12.batch, 12.0
    const exit = parseExitCode(r.ExitCode) ?? { exitCode: 0, signal: 0 };
    const arr = /^(\d+)_(\d+)$/.exec(r.JobID ?? '');
    const limit = parseDurationMin(r.Timelimit);
    out.push({
      jobId: raw,
      arrayJobId: arr?.[1],
      arrayTaskId: arr?.[2],
      name: r.JobName ?? '',
      comment: r.Comment ?? '',
      user: r.User ?? '',
      account: nullable(r.Account),
      partition: r.Partition ?? '',
      state: (r.State ?? 'UNKNOWN').split(' ')[0]!.toUpperCase(),
      reason: 'None',
      exitCode: exit.exitCode,
      signal: exit.signal,
      nodeList: nullable(r.NodeList) === 'None assigned' ? '' : (nullable(r.NodeList) ?? ''),
      numNodes: Number(r.NNodes ?? 1) || 1,
      numCpus: Number(r.AllocCPUS ?? 0) || 0,
      timeLimitMin: limit === null ? undefined : limit,
      submitTime: parseSlurmTime(r.Submit),
      startTime: parseSlurmTime(r.Start),
      endTime: parseSlurmTime(r.End),
      stdout: '',
      stderr: '',
      workDir: r.WorkDir ?? '',
      tresPerNode: '',
    });
  }
  return out;
}
