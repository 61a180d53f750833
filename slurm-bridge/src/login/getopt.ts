// getopt_long as Slurm's query commands use it: `--opt=v`, `--opt v`, unique abbreviations of long options,
// `-x v`, `-xv`, bundled flags (`-ahNO fields`, `-aho %F/%C`, `-nP`), `--` ends the options. Errors in
// getopt's own words, exit 1 as squeue/sinfo/sacct/scontrol exit.

/** Every spelling → [canonical name, takes a value]. Short spellings are `-x`, long ones `--name`. */
export type OptSpec = Record<string, [string, boolean]>;

export interface Scanned {
  flags: Set<string>;
  values: Map<string, string>;
  /** Every value of a repeated option, in order. */
  all: Map<string, string[]>;
  positional: string[];
}

export class OptError extends Error {
  constructor(readonly stderr: string) {
    super(stderr.trim());
  }
}

/** sacct's getopt errors end there; the others add the --help hint. */
const tryHelp = (cmd: string) => (cmd === 'sacct' ? '' : `Try "${cmd} --help" for more information\n`);

function set(s: Scanned, name: string, v: string): void {
  s.values.set(name, v);
  s.all.set(name, [...(s.all.get(name) ?? []), v]);
}

function long(cmd: string, name: string, spec: OptSpec): [string, boolean] {
  if (spec[name]) return spec[name];
  const matches = [...new Set(Object.keys(spec).filter((k) => k.startsWith(name) && k.startsWith('--')))];
  const distinct = [...new Set(matches.map((k) => spec[k]![0]))];
  if (distinct.length === 1) return spec[matches[0]!]!;
  if (matches.length > 1) throw new OptError(`${cmd}: option '${name}' is ambiguous; possibilities:${matches.map((m) => ` '${m}'`).join('')}\n${tryHelp(cmd)}`);
  throw new OptError(`${cmd}: unrecognized option '${name}'\n${tryHelp(cmd)}`);
}

/** Scans argv; throws OptError with getopt's text. Options may follow positionals (GNU permutation). */
export function getopt(cmd: string, argv: string[], spec: OptSpec): Scanned {
  const s: Scanned = { flags: new Set(), values: new Map(), all: new Map(), positional: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      s.positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(0, eq) : a;
      const [canon, takes] = long(cmd, name, spec);
      const full = Object.keys(spec).find((k) => spec[k]![0] === canon && k.startsWith(name) && k.startsWith('--')) ?? name;
      if (!takes) {
        if (eq >= 0) throw new OptError(`${cmd}: option '${full}' doesn't allow an argument\n${tryHelp(cmd)}`);
        s.flags.add(canon);
      } else if (eq >= 0) set(s, canon, a.slice(eq + 1));
      else if (i + 1 < argv.length) set(s, canon, argv[++i]!);
      else throw new OptError(`${cmd}: option '${full}' requires an argument\n${tryHelp(cmd)}`);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const def = spec[`-${c}`];
        if (!def) throw new OptError(`${cmd}: invalid option -- '${c}'\n${tryHelp(cmd)}`);
        if (!def[1]) {
          s.flags.add(def[0]);
          continue;
        }
        const rest = a.slice(j + 1);
        if (rest) set(s, def[0], rest);
        else if (i + 1 < argv.length) set(s, def[0], argv[++i]!);
        else throw new OptError(`${cmd}: option requires an argument -- '${c}'\n${tryHelp(cmd)}`);
        break;
      }
      continue;
    }
    s.positional.push(a);
  }
  return s;
}

/** Builds an OptSpec from `[short | '', long, canonical, takesValue]` rows. */
export function optSpec(rows: [string, string, string, boolean][]): OptSpec {
  const spec: OptSpec = {};
  for (const [short, lng, canon, takes] of rows) {
    if (short) spec[`-${short}`] = [canon, takes];
    if (lng) spec[`--${lng}`] = [canon, takes];
  }
  return spec;
}
