// `scontrol show <entity> -o` prints one record per line as `Key=Value` pairs separated by spaces,
// where values may themselves contain spaces (OS=Linux 6.1 ..., Reason=admin says no [root@...]).
// A new pair starts at whitespace followed by `Key=` with Slurm's key alphabet (letters, digits, _:/).

const KEY_AT = /(^|\s)([A-Za-z][A-Za-z0-9_:/]*)=/g;

export interface KvOptions {
  /** Keys whose value runs to the end of the line (scontrol prints Reason last for nodes). */
  greedy?: string[];
}

export function parseKeyValueLine(line: string, opts: KvOptions = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const text = line.replace(/\r?\n$/, '');
  const starts: { key: string; keyStart: number; valueStart: number }[] = [];
  for (const m of text.matchAll(KEY_AT)) {
    const keyStart = m.index + m[1]!.length;
    starts.push({ key: m[2]!, keyStart, valueStart: keyStart + m[2]!.length + 1 });
  }
  for (let i = 0; i < starts.length; i++) {
    const s = starts[i]!;
    if (s.key in out) continue; // a later `Key=` inside a value never overwrites the real one
    if (opts.greedy?.includes(s.key)) {
      out[s.key] = text.slice(s.valueStart).trim();
      break;
    }
    const end = i + 1 < starts.length ? starts[i + 1]!.keyStart : text.length;
    out[s.key] = text.slice(s.valueStart, end).trim();
  }
  return out;
}

/** Several `-o` records (one per non-empty line). */
export function parseKeyValueLines(text: string, opts: KvOptions = {}): Record<string, string>[] {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => /^[A-Za-z][A-Za-z0-9_]*=/.test(l))
    .map((l) => parseKeyValueLine(l, opts));
}
