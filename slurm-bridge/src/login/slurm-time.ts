// Slurm's time arguments (sacct -S/-E): YYYY-MM-DD[THH:MM[:SS]], MM/DD[/YY], HH:MM[:SS], now[+-N[unit]],
// today, midnight, noon, tomorrow. Local time, as Slurm reads it. Undefined when it is none of these.
export function parseSlurmTime(text: string, nowMs = Date.now()): number | undefined {
  const t = text.trim().toLowerCase();
  const now = new Date(nowMs);
  const at = (d: Date) => Math.floor(d.getTime() / 1000);
  const day = (h = 0) => {
    const d = new Date(nowMs);
    d.setHours(h, 0, 0, 0);
    return d;
  };
  if (t === 'now') return at(now);
  if (t === 'today' || t === 'midnight') return at(day());
  if (t === 'noon') return at(day(12));
  if (t === 'tomorrow') return at(day()) + 86400;
  let m = /^now([+-])(\d+)(seconds?|minutes?|hours?|days?|weeks?)?$/.exec(t);
  if (m) {
    const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[(m[3] ?? 's')[0] as 's' | 'm' | 'h' | 'd' | 'w'];
    return at(now) + (m[1] === '-' ? -1 : 1) * Number(m[2]) * unit;
  }
  m = /^(\d{4})-(\d{2})-(\d{2})(?:t(\d{1,2}):(\d{2})(?::(\d{2}))?)?$/.exec(t);
  if (m) {
    const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0));
    return Number.isNaN(d.getTime()) || d.getMonth() !== Number(m[2]) - 1 ? undefined : at(d);
  }
  m = /^(\d{1,2})\/(\d{1,2})(?:\/(\d{2}))?$/.exec(t);
  if (m) {
    const d = new Date(m[3] ? 2000 + Number(m[3]) : now.getFullYear(), Number(m[1]) - 1, Number(m[2]));
    return d.getMonth() !== Number(m[1]) - 1 ? undefined : at(d);
  }
  m = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(t);
  if (m && Number(m[1]) < 24 && Number(m[2]) < 60) {
    const d = day();
    d.setHours(Number(m[1]), Number(m[2]), Number(m[3] ?? 0));
    return at(d);
  }
  return undefined;
}
