// Small pure parsers shared by every Slurm output format.
import type { GresCount } from '../types.ts';

const NULLISH = new Set(['', '(null)', 'N/A', 'n/a', 'None', 'NONE', 'Unknown', '(none)']);

/** Slurm's "nothing here" spellings → undefined. */
export function nullable(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  return NULLISH.has(t) ? undefined : t;
}

/** `3:0` → {exitCode: 3, signal: 0}; garbage → undefined. */
export function parseExitCode(v: string | undefined): { exitCode: number; signal: number } | undefined {
  const m = /^(\d+):(\d+)$/.exec((v ?? '').trim());
  if (!m) return undefined;
  return { exitCode: Number(m[1]), signal: Number(m[2]) };
}

/** A raw wait(2) status as slurmrestd v0.0.38 reports `exit_code` → code and signal. */
export function decodeWaitStatus(status: number): { exitCode: number; signal: number } {
  if (!Number.isInteger(status) || status < 0) return { exitCode: 0, signal: 0 };
  const sig = status & 0x7f;
  if (sig !== 0 && sig !== 0x7f) return { exitCode: 0, signal: sig };
  return { exitCode: (status >> 8) & 0xff, signal: 0 };
}

/** Slurm timestamps (`2026-11-22T09:41:20`, local time) → Date; Unknown/None/N/A → undefined. */
export function parseSlurmTime(v: string | undefined): Date | undefined {
  const t = nullable(v);
  if (!t) return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/.exec(t);
  if (!m) return undefined;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** Unix seconds (REST) → Date; 0/null → undefined. */
export function fromEpoch(v: unknown): Date | undefined {
  return typeof v === 'number' && v > 0 ? new Date(v * 1000) : undefined;
}

/**
 * Slurm durations → minutes (rounded up): `UNLIMITED` → undefined; `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`,
 * `D-HH:MM`, `D-HH:MM:SS`. Returns null for text that is not a duration.
 */
export function parseDurationMin(v: string | undefined): number | undefined | null {
  const t = (v ?? '').trim();
  if (/^(UNLIMITED|INFINITE|infinite|unlimited|Partition_Limit|NONE)$/.test(t)) return undefined;
  const sec = parseDurationSec(t);
  return sec === null ? null : Math.ceil(sec / 60);
}

/** Slurm durations → seconds (the sbatch --time grammar). null when malformed. */
export function parseDurationSec(t: string): number | null {
  let m = /^(\d+)-(\d+)(?::(\d+)(?::(\d+))?)?$/.exec(t);
  if (m) return Number(m[1]) * 86400 + Number(m[2]) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
  m = /^(\d+)(?::(\d+)(?::(\d+))?)?$/.exec(t);
  if (!m) return null;
  if (m[3] !== undefined) return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  if (m[2] !== undefined) return Number(m[1]) * 60 + Number(m[2]);
  return Number(m[1]) * 60;
}

/** Memory sizes with Slurm's suffixes (default MiB): 100M, 16G, 512K, 2T → MiB. null when malformed. */
export function parseMemoryMiB(v: string): number | null {
  const m = /^(\d+(?:\.\d+)?)([KMGTkmgt]?)[Bb]?$/.exec(v.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toUpperCase();
  const mult = unit === 'K' ? 1 / 1024 : unit === 'G' ? 1024 : unit === 'T' ? 1024 * 1024 : 1;
  return Math.ceil(n * mult);
}

/** Splits on commas that are not inside parentheses: `gpu:2(IDX:0,2),mps:100` → two parts. */
export function splitOutsideParens(s: string): string[] {
  let depth = 0;
  let cur = '';
  const parts: string[] = [];
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth = Math.max(0, depth - 1);
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

/**
 * GRES strings: `gpu:a100:4`, `gpu:4`, `gpu:a100:4(S:0-1),gpu:v100:2`, used forms `gpu:a100:1(IDX:0)`;
 * `(null)`/`N/A` → []. Entries it cannot read are skipped.
 */
export function parseGres(v: string | undefined): GresCount[] {
  const t = nullable(v);
  if (!t) return [];
  const out: GresCount[] = [];
  for (const raw of splitOutsideParens(t)) {
    const p = raw.replace(/\(.*\)$/, '').trim().replace(/^gres[:/]/, '');
    if (!p) continue;
    const f = p.split(':');
    const name = f[0];
    if (!name || !/^[A-Za-z][\w.-]*$/.test(name)) continue;
    if (f.length === 1) out.push({ name, count: 1 });
    else if (f.length === 2) {
      if (/^\d+$/.test(f[1]!)) out.push({ name, count: Number(f[1]) });
      else out.push({ name, type: f[1]!, count: 1 });
    } else if (f.length >= 3 && /^\d+$/.test(f[2]!)) out.push({ name, type: f[1]!, count: Number(f[2]) });
  }
  return out;
}

/** Count of one GRES (e.g. gpu) across entries. */
export function gresTotal(list: GresCount[], name = 'gpu'): number {
  return list.filter((g) => g.name === name).reduce((a, g) => a + g.count, 0);
}

/** `0-1,3` (an IDX list) → [0, 1, 3]; anything else → []. */
function idxList(v: string): number[] {
  const out: number[] = [];
  for (const part of v.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    for (let i = Number(m[1]); i <= Number(m[2] ?? m[1]); i++) out.push(i);
  }
  return out;
}

/**
 * GPUs in use on a node from its GresUsed (`scontrol show node -d`, `sinfo -O GresUsed`), counting a GPU
 * that any job holds a gres/shard of: such a GPU cannot be given whole. Whole GPUs and shard GPUs are joined
 * by index (`gpu:a100:1(IDX:0),shard:a100:5(IDX:1)` → 2; Slurm 22.05 writes a shard's count oddly, the IDX
 * list is what holds); a shard entry without indices counts one GPU. undefined when there is no GresUsed.
 */
export function gpusInUse(gresUsed: string | undefined, totalGpus: number): number | undefined {
  const t = nullable(gresUsed);
  if (t === null || t === undefined) return undefined;
  const idx = new Set<number>();
  let unindexed = 0;
  for (const raw of splitOutsideParens(t)) {
    const m = /^(?:gres[:/])?(gpu|shard)(?::[^:(]+)?(?::(\d+))?(?:\((.*)\))?$/.exec(raw.trim());
    if (!m) continue;
    const count = Number(m[2] ?? 1);
    const inner = m[3] ?? '';
    const listed = inner.startsWith('IDX:') ? idxList(inner.slice(4)) : [];
    if (m[1] === 'shard' && !inner.startsWith('IDX:') && /\d+\/\d+/.test(inner)) {
      // per-GPU shard use, `used/total` in GPU order
      inner.split(',').forEach((u, i) => Number(u.split('/')[0]) > 0 && listed.push(i));
    }
    if (listed.length) listed.forEach((i) => idx.add(i));
    else if (count > 0) unindexed += m[1] === 'gpu' ? count : 1;
  }
  return Math.min(totalGpus, idx.size + unindexed);
}

/** `gres/gpu=2` or `gres/gpu:a100=2` inside a TRES string (AllocTRES) → count. */
export function tresGres(tres: string | undefined, name = 'gpu'): number {
  let total = 0;
  let sawTyped = false;
  let untyped = 0;
  for (const item of (nullable(tres) ?? '').split(',')) {
    const m = /^gres\/([^=:]+)(?::([^=]+))?=(\d+)$/.exec(item.trim());
    if (!m || m[1] !== name) continue;
    if (m[2]) {
      sawTyped = true;
      total += Number(m[3]);
    } else untyped += Number(m[3]);
  }
  // Slurm lists both gres/gpu=N and gres/gpu:type=N; the untyped total is authoritative.
  return untyped || (sawTyped ? total : 0);
}

/** Node state `IDLE+DRAIN+CLOUD`, `MIXED*`, `down*` → base + flags. */
export function parseNodeState(v: string): { baseState: string; flags: string[] } {
  const t = v.trim();
  const parts = t.split('+').map((s) => s.trim()).filter(Boolean);
  let base = (parts.shift() ?? 'unknown').toLowerCase();
  const flags = parts.map((f) => f.toUpperCase());
  if (base.endsWith('*')) {
    base = base.slice(0, -1);
    flags.push('NOT_RESPONDING');
  }
  return { baseState: base || 'unknown', flags };
}

/** `admin says no [root@2026-11-22T09:42:08]` → reason, user, time. */
export function parseReason(v: string | undefined): { reason: string; user?: string; time?: Date } {
  const t = nullable(v) ?? '';
  const m = /^(.*?)\s*\[([^@\]]+)@([^\]]+)\]$/.exec(t);
  if (!m) return { reason: t };
  return { reason: m[1]!, user: m[2]!, time: parseSlurmTime(m[3]) };
}

/** The most names one hostlist expands to (the largest Slurm clusters have tens of thousands of nodes). */
export const HOSTLIST_MAX = 100_000;

/** Hostlist expression → names: `gpu-[0-2,5],login` → gpu-0 gpu-1 gpu-2 gpu-5 login. */
export function expandHostlist(v: string | undefined): string[] {
  const t = nullable(v);
  if (!t) return [];
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  const items: string[] = [];
  for (const ch of t) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (ch === ',' && depth === 0) {
      items.push(cur);
      cur = '';
    } else cur += ch;
  }
  items.push(cur);
  for (const item of items) {
    const m = /^([^[]*)\[([^\]]+)\](.*)$/.exec(item);
    if (!m) {
      if (item) out.push(item);
      continue;
    }
    for (const range of m[2]!.split(',')) {
      const r = /^(\d+)(?:-(\d+))?$/.exec(range);
      if (!r) continue;
      const width = r[1]!.length;
      const lo = Number(r[1]);
      const hi = r[2] !== undefined ? Number(r[2]) : lo;
      const tails = expandHostlist(m[3]!);
      // bounded: a hostlist names at most HOSTLIST_MAX nodes, however its ranges multiply
      for (let i = lo; i <= hi && out.length < HOSTLIST_MAX; i++) {
        for (const tail of tails.length ? tails : ['']) {
          if (out.length >= HOSTLIST_MAX) break;
          out.push(`${m[1]}${String(i).padStart(width, '0')}${tail}`);
        }
      }
    }
  }
  return out;
}

/** `root(0)` → root. */
export function userName(v: string | undefined): string {
  const t = nullable(v) ?? '';
  return t.replace(/\(\d+\)$/, '');
}
