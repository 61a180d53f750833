// sbatch's command line, #SBATCH directives and SBATCH_* input variables → one options object, with sbatch's
// own error messages and exit codes (checked against Slurm 22.05's sbatch: option errors exit 255, submission
// errors exit 1). Pure: no I/O; the caller reads the script.
import { checkLimits, checkScript, SbatchError } from './sbatch-limits.ts';
import { BY_LONG, BY_SHORT, OPTIONS, type OptDef } from './sbatch-option-table.ts';
import type { SbatchOptions } from './sbatch-types.ts';

export type { SbatchOptions };

export interface SbatchInvocation {
  options: SbatchOptions;
  /** Script path (undefined: stdin or --wrap). */
  scriptPath?: string;
  scriptArgs: string[];
  action: 'submit' | 'help' | 'usage' | 'version';
}

export { checkScript, SbatchError };
export { ACCEPTED_OPTIONS, arrayIndices, validArray, validBegin, validDependency } from './sbatch-option-table.ts';

function lookupLong(name: string): OptDef {
  const exact = BY_LONG.get(name);
  if (exact) return exact;
  const prefixed = OPTIONS.filter((d) => d.long.startsWith(name));
  const distinct = [...new Set(prefixed)];
  if (distinct.length === 1) return distinct[0]!; // getopt_long accepts unique abbreviations
  if (distinct.length > 1) {
    throw new SbatchError(`sbatch: option '--${name}' is ambiguous; possibilities:${distinct.map((d) => ` '--${d.long}'`).join('')}\nTry "sbatch --help" for more information\n`, 255);
  }
  throw new SbatchError(`sbatch: unrecognized option '--${name}'\nTry "sbatch --help" for more information\n`, 255);
}

/**
 * getopt_long-style scan: `--opt=v`, `--opt v`, `-x v`, `-xv`, bundled flags, `--` ends options, the first
 * non-option is the script and the rest are its arguments. Applies into `o` in order (later wins).
 */
export function applyArgs(o: SbatchOptions, argv: string[], where: 'cli' | 'directive'): { positional: string[]; action: SbatchInvocation['action'] } {
  let action: SbatchInvocation['action'] = 'submit';
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const def = lookupLong(name);
      let v: string | undefined;
      if (def.arg === 'none') {
        if (eq >= 0) throw new SbatchError(`sbatch: option '--${def.long}' doesn't allow an argument\nTry "sbatch --help" for more information\n`, 255);
      } else if (eq >= 0) v = a.slice(eq + 1);
      else if (def.arg === 'required') {
        if (i + 1 >= argv.length) throw new SbatchError(`sbatch: option '--${def.long}' requires an argument\nTry "sbatch --help" for more information\n`, 255);
        v = argv[++i];
      }
      if (def.long === 'help' || def.long === 'usage' || def.long === 'version') action = def.long;
      def.apply(o, v, def.long);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const def = BY_SHORT.get(c);
        if (!def) throw new SbatchError(`sbatch: invalid option -- '${c}'\nTry "sbatch --help" for more information\n`, 255);
        if (def.arg === 'none') {
          if (def.long === 'help' || def.long === 'version') action = def.long;
          def.apply(o, undefined, def.long);
          continue;
        }
        let v: string | undefined = a.slice(j + 1);
        if (!v) {
          if (def.arg === 'optional') v = undefined;
          else if (i + 1 >= argv.length) throw new SbatchError(`sbatch: option requires an argument -- '${c}'\nTry "sbatch --help" for more information\n`, 255);
          else v = argv[++i];
        }
        def.apply(o, v, def.long);
        break;
      }
      continue;
    }
    if (where === 'directive') continue; // stray words in #SBATCH lines are ignored
    positional.push(...argv.slice(i));
    break;
  }
  return { positional, action };
}

/** Shell-like word splitting for #SBATCH lines: quotes, backslashes, a trailing `# comment`. */
export function splitDirective(text: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else if (ch === '#' && !inWord) break;
    else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** `#SBATCH` directives: from the line after `#!` up to the first line that is neither blank nor a comment. */
export function directives(script: string): string[] {
  const out: string[] = [];
  const lines = script.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!.replace(/\r$/, '');
    const t = l.trim();
    if (t === '') continue;
    if (!t.startsWith('#')) break;
    const m = /^#SBATCH(\s+(.*))?$/.exec(l);
    if (m) out.push(...splitDirective(m[2] ?? ''));
  }
  return out;
}

/** SBATCH_* input environment variables → equivalent options (sbatch(1) "INPUT ENVIRONMENT VARIABLES"). */
const ENV_OPTIONS: [string, string, 'value' | 'flag'][] = [
  ['SBATCH_ACCOUNT', 'account', 'value'],
  ['SBATCH_ARRAY_INX', 'array', 'value'],
  ['SBATCH_CLUSTERS', 'clusters', 'value'],
  ['SLURM_CLUSTERS', 'clusters', 'value'],
  ['SBATCH_CONSTRAINT', 'constraint', 'value'],
  ['SBATCH_EXCLUSIVE', 'exclusive', 'flag'],
  ['SBATCH_EXPORT', 'export', 'value'],
  ['SBATCH_GRES', 'gres', 'value'],
  ['SBATCH_GPUS', 'gpus', 'value'],
  ['SBATCH_GPUS_PER_NODE', 'gpus-per-node', 'value'],
  ['SBATCH_HOLD', 'hold', 'flag'],
  ['SBATCH_JOB_NAME', 'job-name', 'value'],
  ['SBATCH_MEM_PER_CPU', 'mem-per-cpu', 'value'],
  ['SBATCH_MEM_PER_NODE', 'mem', 'value'],
  ['SBATCH_PARTITION', 'partition', 'value'],
  ['SBATCH_QOS', 'qos', 'value'],
  ['SBATCH_REQUEUE', 'requeue', 'flag'],
  ['SBATCH_NO_REQUEUE', 'no-requeue', 'flag'],
  ['SBATCH_TIMELIMIT', 'time', 'value'],
  ['SBATCH_WAIT', 'wait', 'flag'],
  ['SBATCH_RESERVATION', 'reservation', 'value'],
  ['SBATCH_SIGNAL', 'signal', 'value'],
];

export function envArgs(env: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (const [name, opt, kind] of ENV_OPTIONS) {
    const v = env[name];
    if (v === undefined) continue;
    out.push(kind === 'flag' ? `--${opt}` : `--${opt}=${v}`);
  }
  return out;
}

/** Scans the command line only (to learn the script and --wrap before reading it). */
export function parseCommandLine(argv: string[]): SbatchInvocation {
  const options: SbatchOptions = { passthrough: {} };
  const { positional, action } = applyArgs(options, argv, 'cli');
  if (action === 'submit' && options.wrap !== undefined && positional.length) {
    throw new SbatchError('sbatch: error: Script arguments not permitted with --wrap option\n', 1);
  }
  return { options, scriptPath: positional[0], scriptArgs: positional.slice(1), action };
}

/** The script sbatch submits for --wrap. */
export function wrapScript(cmd: string): string {
  return `#!/bin/sh\n# This script was created by sbatch --wrap.\n\n${cmd}\n`;
}

/**
 * The full option set: #SBATCH directives < SBATCH_* variables < command line (sbatch's precedence).
 * `script` is the text submitted (for --wrap, pass `wrapScript(wrap)`).
 */
export function resolveOptions(argv: string[], script: string, env: Record<string, string | undefined>): SbatchOptions {
  checkScript(script);
  const o: SbatchOptions = { passthrough: {} };
  applyArgs(o, directives(script), 'directive');
  applyArgs(o, envArgs(env), 'directive');
  applyArgs(o, argv, 'cli');
  checkLimits(o, script);
  return o;
}
