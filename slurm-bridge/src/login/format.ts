// Byte-compatible output of Slurm's client commands: squeue's -o format engine (default format included),
// sacct -P, sinfo's default table, and sbatch's submit line. Pure: rows in, text out. The same engine is fed
// from Meridian's job view (the login node) or from real Slurm jobs (the compatibility tests).

/** One job (or array remainder) as squeue sees it. Times in epoch seconds. */
export interface QueueRow {
  /** What %i prints: `12`, `12_3`, `12_[4-7%2]`. */
  displayId: string;
  jobId: string;
  arrayJobId?: string;
  arrayTaskId?: string;
  partition: string;
  name: string;
  user: string;
  uid?: number;
  group?: string;
  account: string;
  qos: string;
  /** Long state: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, ... */
  state: string;
  reason: string;
  nodeList: string;
  numNodes: number;
  numCpus: number;
  minMemory?: string;
  timeLimitSec?: number;
  submitTime?: number;
  startTime?: number;
  endTime?: number;
  /** For time used: now (epoch s). */
  now: number;
  priority?: number;
  workDir: string;
  command: string;
  comment: string;
  dependency: string;
  features: string;
  tresPerNode: string;
  exitCode?: string;
  /** squeue's tres-alloc (cpu=N,mem=NM,node=N,billing=N), where known. */
  tresAlloc?: string;
  /** squeue's ReqNodes / ExcNodes / Reservation / STDOUT / STDERR, where known. */
  reqNodes?: string;
  stdOut?: string;
  stdErr?: string;
  cluster?: string;
  nice?: number;
  /** sbatch -n and -c, where given. */
  ntasks?: number;
  cpusPerTask?: number;
}

export const STATE_COMPACT: Record<string, string> = {
  PENDING: 'PD', RUNNING: 'R', SUSPENDED: 'S', COMPLETING: 'CG', COMPLETED: 'CD', CONFIGURING: 'CF', CANCELLED: 'CA', FAILED: 'F',
  TIMEOUT: 'TO', PREEMPTED: 'PR', BOOT_FAIL: 'BF', DEADLINE: 'DL', NODE_FAIL: 'NF', OUT_OF_MEMORY: 'OOM', REQUEUED: 'RQ',
  REQUEUE_FED: 'RF', REQUEUE_HOLD: 'RH', RESIZING: 'RS', REVOKED: 'RV', SIGNALING: 'SI', SPECIAL_EXIT: 'SE', STAGE_OUT: 'SO',
  STOPPED: 'ST', RESV_DEL_HOLD: 'RD',
};

/** Slurm's secs2time_str: `0:00`, `5:07`, `1:02:03`, `2-01:02:03`. */
export function secsToTime(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return 'INVALID';
  const s = Math.floor(sec);
  const days = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  const p2 = (n: number) => String(n).padStart(2, '0');
  if (days) return `${days}-${p2(h)}:${p2(m)}:${p2(r)}`;
  if (h) return `${h}:${p2(m)}:${p2(r)}`;
  return `${m}:${p2(r)}`;
}

/** Slurm's local ISO time (`2026-11-22T09:41:21`), or N/A. */
export function slurmTime(epoch: number | undefined): string {
  if (!epoch) return 'N/A';
  const d = new Date(epoch * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** States whose %R shows the reason instead of the node list (squeue's print.c). */
const REASON_STATES = new Set(['PENDING', 'FAILED', 'TIMEOUT', 'OUT_OF_MEMORY', 'DEADLINE', 'BOOT_FAIL', 'NODE_FAIL', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESV_DEL_HOLD']);

const PENDINGISH = new Set(['PENDING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESV_DEL_HOLD']);

function timeUsed(r: QueueRow): number {
  if (!r.startTime || PENDINGISH.has(r.state)) return 0;
  const end = r.endTime && r.endTime > 0 && r.endTime <= r.now && !['RUNNING', 'COMPLETING', 'SUSPENDED'].includes(r.state) ? r.endTime : r.now;
  return Math.max(0, end - r.startTime);
}

type Field = { title: string; value: (r: QueueRow) => string; /** squeue never truncates these (times). */ noCut?: boolean };

const FIELDS: Record<string, Field> = {
  a: { title: 'ACCOUNT', value: (r) => r.account || '(null)' },
  A: { title: 'JOBID', value: (r) => r.arrayJobId ?? r.jobId },
  b: { title: 'TRES_PER_NODE', value: (r) => r.tresPerNode || 'N/A' },
  c: { title: 'MIN_CPUS', value: (r) => String(r.cpusPerTask ?? Math.max(1, Math.round(r.numCpus / Math.max(1, r.numNodes)))) },
  C: { title: 'CPUS', value: (r) => String(r.numCpus) },
  D: { title: 'NODES', value: (r) => String(r.numNodes) },
  e: { title: 'END_TIME', value: (r) => (r.endTime ? slurmTime(r.endTime) : 'N/A'), noCut: true },
  E: { title: 'DEPENDENCY', value: (r) => r.dependency || '(null)' },
  f: { title: 'FEATURES', value: (r) => r.features || '(null)' },
  F: { title: 'ARRAY_JOB_ID', value: (r) => r.arrayJobId ?? r.jobId },
  g: { title: 'GROUP', value: (r) => r.group ?? r.user },
  i: { title: 'JOBID', value: (r) => r.displayId },
  j: { title: 'NAME', value: (r) => r.name },
  k: { title: 'COMMENT', value: (r) => r.comment || '(null)' },
  K: { title: 'ARRAY_TASK_ID', value: (r) => r.arrayTaskId ?? 'N/A' },
  l: { title: 'TIME_LIMIT', value: (r) => (r.timeLimitSec === undefined ? 'UNLIMITED' : secsToTime(r.timeLimitSec)), noCut: true },
  L: { title: 'TIME_LEFT', value: (r) => (r.timeLimitSec === undefined ? 'UNLIMITED' : secsToTime(Math.max(0, r.timeLimitSec - timeUsed(r)))), noCut: true },
  m: { title: 'MIN_MEMORY', value: (r) => r.minMemory ?? '0' },
  M: { title: 'TIME', value: (r) => secsToTime(timeUsed(r)), noCut: true },
  N: { title: 'NODELIST', value: (r) => r.nodeList },
  o: { title: 'COMMAND', value: (r) => r.command || '(null)' },
  p: { title: 'PRIORITY', value: (r) => ((r.priority ?? 0) / 4294967295).toFixed(8) },
  P: { title: 'PARTITION', value: (r) => r.partition },
  q: { title: 'QOS', value: (r) => r.qos || '(null)' },
  Q: { title: 'PRIORITY', value: (r) => String(r.priority ?? 0) },
  r: { title: 'REASON', value: (r) => r.reason },
  R: { title: 'NODELIST(REASON)', value: (r) => (REASON_STATES.has(r.state) ? `(${r.reason})` : r.nodeList) },
  S: { title: 'START_TIME', value: (r) => slurmTime(r.startTime), noCut: true },
  t: { title: 'ST', value: (r) => STATE_COMPACT[r.state] ?? r.state.slice(0, 2) },
  T: { title: 'STATE', value: (r) => r.state },
  u: { title: 'USER', value: (r) => r.user },
  U: { title: 'UID', value: (r) => String(r.uid ?? 0) },
  V: { title: 'SUBMIT_TIME', value: (r) => slurmTime(r.submitTime), noCut: true },
  Z: { title: 'WORK_DIR', value: (r) => r.workDir },
};

/** The value squeue -o prints for a letter (undefined for letters it does not know). */
export const squeueLetterValue = (letter: string): ((r: QueueRow) => string) | undefined => FIELDS[letter]?.value;

export const SQUEUE_DEFAULT_FORMAT = '%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R';
export const SQUEUE_LONG_FORMAT = '%.18i %.9P %.8j %.8u %.8T %.10M %.9l %.6D %R';

interface Piece {
  literal?: string;
  field?: Field;
  right: boolean;
  width?: number;
}

/** Compiles an squeue `-o` format; unknown codes print as Slurm does for them (nothing). */
export function compileFormat(fmt: string): Piece[] {
  const out: Piece[] = [];
  let lit = '';
  for (let i = 0; i < fmt.length; i++) {
    const ch = fmt[i]!;
    if (ch !== '%') {
      lit += ch;
      continue;
    }
    if (fmt[i + 1] === '%') {
      i++;
      continue; // squeue prints nothing for %% (checked on 22.05)
    }
    const m = /^(\.?)(\d*)([A-Za-z])/.exec(fmt.slice(i + 1));
    if (!m) {
      lit += ch;
      continue;
    }
    if (lit) out.push({ literal: lit, right: false });
    lit = '';
    out.push({ field: FIELDS[m[3]!] ?? { title: '', value: () => '' }, right: m[1] === '.', width: m[2] ? Number(m[2]) : undefined });
    i += m[0].length;
  }
  if (lit) out.push({ literal: lit, right: false });
  return out;
}

function cell(text: string, p: Piece, header = false): string {
  if (p.width === undefined) return text;
  const t = text.length > p.width && (header || !p.field?.noCut) ? text.slice(0, p.width) : text;
  return p.right ? t.padStart(p.width) : t.padEnd(p.width);
}

export function formatSqueue(rows: QueueRow[], fmt = SQUEUE_DEFAULT_FORMAT, header = true): string {
  const pieces = compileFormat(fmt);
  const line = (f: (p: Piece) => string) => pieces.map((p) => (p.literal !== undefined ? p.literal : f(p))).join('');
  const out: string[] = [];
  if (header) out.push(line((p) => cell(p.field!.title, p, true)));
  for (const r of rows) out.push(line((p) => cell(p.field!.value(r), p)));
  return out.length ? `${out.join('\n')}\n` : '';
}

export function submittedLine(jobId: string, parsable: boolean, cluster?: string): string {
  if (parsable) return cluster ? `${jobId};${cluster}\n` : `${jobId}\n`;
  return `Submitted batch job ${jobId}${cluster ? ` on cluster ${cluster}` : ''}\n`;
}

/** sacct default fields and -P output (`|`-separated, no trailing `|`, header unless -n). */
export const SACCT_DEFAULT_FIELDS = ['JobID', 'JobName', 'Partition', 'Account', 'AllocCPUS', 'State', 'ExitCode'];

export function formatSacctParsable(rows: Record<string, string>[], fields = SACCT_DEFAULT_FIELDS, header = true): string {
  const lines = rows.map((r) => fields.map((f) => r[f] ?? '').join('|'));
  if (header) lines.unshift(fields.join('|'));
  return lines.length ? `${lines.join('\n')}\n` : '';
}

const SACCT_WIDTHS: Record<string, number> = { JobID: 12, JobName: 10, Partition: 10, Account: 10, AllocCPUS: 10, State: 10, ExitCode: 8 };

/** sacct's fixed-width table (default without -P). */
export function formatSacctTable(rows: Record<string, string>[], fields = SACCT_DEFAULT_FIELDS, header = true): string {
  const w = (f: string) => SACCT_WIDTHS[f] ?? 10;
  const fit = (s: string, f: string) => {
    const n = w(f);
    const t = s.length > n ? `${s.slice(0, n - 1)}+` : s;
    return f === 'JobID' || f === 'JobName' || f === 'Partition' || f === 'Account' || f === 'State' ? t.padEnd(n) : t.padStart(n);
  };
  const out: string[] = [];
  if (header) {
    out.push(fields.map((f) => fit(f, f).replace(/^(\s*)(\S+)(\s*)$/, (_m, a: string, b: string, c: string) => (f === 'JobID' || f === 'JobName' || f === 'Partition' || f === 'Account' || f === 'State' ? `${b}${a}${c}` : `${a}${b}${c}`))).join(' '));
    out.push(fields.map((f) => '-'.repeat(w(f))).join(' '));
  }
  for (const r of rows) out.push(fields.map((f) => fit(r[f] ?? '', f)).join(' '));
  return out.length ? `${out.join('\n')}\n` : '';
}
