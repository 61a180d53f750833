// `squeue -h -o <codes joined by a separator>` → records. The separator must not occur in values;
// the bridge uses the ASCII unit separator (0x1f) so job names and comments may contain `|`.
import { ParseError } from './scontrol.ts';

export const UNIT_SEP = '\x1f';

/** Splits squeue/sinfo delimited output into records named by `fields`. Wrong column counts throw. */
export function parseDelimited(text: string, fields: string[], sep = UNIT_SEP): Record<string, string>[] {
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l, i) => {
      const cols = l.split(sep);
      // squeue -O appends the separator after the last field too.
      if (cols.length === fields.length + 1 && cols[cols.length - 1] === '') cols.pop();
      if (cols.length !== fields.length) {
        throw new ParseError(`line ${i + 1} has ${cols.length} fields, expected ${fields.length}: ${JSON.stringify(l.slice(0, 200))}`);
      }
      return Object.fromEntries(fields.map((f, j) => [f, cols[j]!]));
    });
}

/** squeue `-o` format for the given `%` codes joined by the separator. */
export function squeueFormat(codes: string[], sep = UNIT_SEP): string {
  return codes.join(sep);
}
