// The two column languages of Slurm's query commands, over any row type: `-O name[:[.]width[suffix]],...`
// (squeue/sinfo -O: 20 wide by default, `:` alone or `:0` unpadded, `.` right-justified, text after the width
// printed after the value — how Open OnDemand gets \x1F-separated fields) and `-o %[.][width]x` (sinfo -o).
import { fieldName } from '@meridian/protocol/slurm/fields';

export interface Column<R> {
  title: string;
  value: (r: R) => string;
  width: number;
  right: boolean;
  suffix: string;
  /** The -O name or -o letter it prints. */
  key?: string;
  /** -o only: the literal text before this column. */
  prefix?: string;
}

type Lookup<R> = (canonical: string) => ((r: R) => string) | undefined;

/**
 * Parses an -O list against `table` (name → title). Unknown names are reported through `invalid` (Slurm's
 * "Invalid job format specification: X") and print as an empty column, as Slurm 22.05's do.
 */
export function parseLong<R>(spec: string, table: Readonly<Record<string, { title: string }>>, lookup: Lookup<R>, invalid: (name: string) => void): Column<R>[] {
  const cols: Column<R>[] = [];
  for (const token of spec.split(',')) {
    if (!token) continue;
    const colon = token.indexOf(':');
    const raw = colon >= 0 ? token.slice(0, colon) : token;
    let width = 20;
    let right = false;
    let suffix = '';
    if (colon >= 0) {
      let rest = token.slice(colon + 1);
      if (rest.startsWith('.')) {
        right = true;
        rest = rest.slice(1);
      }
      const m = /^\d*/.exec(rest)![0];
      width = m ? Number(m) : 0;
      suffix = rest.slice(m.length);
    }
    const name = fieldName(table, raw);
    const value = name ? lookup(name) : undefined;
    if (!name || !value) invalid(raw);
    cols.push({ title: name && value ? table[name]!.title : '', value: value ?? (() => ''), width, right, suffix, key: name });
  }
  return cols;
}

/** Parses a `%[.][width]x` format; unknown letters print as written, reported through `invalid`. */
export function parsePercent<R>(fmt: string, letters: Readonly<Record<string, string>>, lookup: Lookup<R>, invalid: (letter: string) => void): Column<R>[] {
  const cols: Column<R>[] = [];
  let lit = '';
  for (let i = 0; i < fmt.length; i++) {
    const m = fmt[i] === '%' ? /^%(\.?)(\d*)([A-Za-z])/.exec(fmt.slice(i)) : null;
    if (!m) {
      lit += fmt[i];
      continue;
    }
    i += m[0].length - 1;
    const value = letters[m[3]!] !== undefined ? lookup(m[3]!) : undefined;
    if (!value) {
      invalid(m[3]!);
      lit += m[0];
      continue;
    }
    cols.push({ title: letters[m[3]!]!, value, width: m[2] ? Number(m[2]) : 0, right: m[1] === '.', suffix: '', prefix: lit, key: m[3] });
    lit = '';
  }
  if (lit) cols.push({ title: '', value: () => '', width: 0, right: false, suffix: '', prefix: lit });
  return cols;
}

/** Slurm's _print_str: padded to width and cut there; width 0 prints the text as it is. */
export function cell(text: string, width: number, right: boolean): string {
  if (!width) return text;
  const t = text.length > width ? text.slice(0, width) : text;
  return right ? t.padStart(width) : t.padEnd(width);
}

export function renderLine<R>(cols: Column<R>[], text: (c: Column<R>) => string): string {
  return cols.map((c) => `${c.prefix ?? ''}${cell(text(c), c.width, c.right)}${c.suffix}`).join('');
}

export function renderTable<R>(cols: Column<R>[], rows: R[], header: boolean): string {
  const lines: string[] = [];
  if (header) lines.push(renderLine(cols, (c) => c.title));
  for (const r of rows) lines.push(renderLine(cols, (c) => c.value(r)));
  return lines.length ? `${lines.join('\n')}\n` : '';
}
