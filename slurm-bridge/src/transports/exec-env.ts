// What an agent's child process is and sees. Every program comes from a configured absolute path (never a
// PATH lookup) and runs with the agent's own fixed environment: a system PATH, a few locale keys of the
// agent's own, and the keys its configuration names. Nothing of a job's environment ever reaches it: a
// user's PATH, LD_PRELOAD or BASH_ENV would otherwise choose or change what runs with the agent's account.

/** The PATH every agent command gets: system directories only. */
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Where Slurm's client commands are unless configured. */
export const DEFAULT_SLURM_BIN_DIR = '/usr/bin';

/** Where the system tools the transports use (tail, env) are unless configured. */
export const DEFAULT_SYSTEM_BIN_DIR = '/usr/bin';

/** The Slurm commands an agent may run; anything else is refused. */
export const SLURM_COMMANDS = ['sbatch', 'squeue', 'scontrol', 'scancel', 'sacct', 'sinfo'] as const;
/** System tools the CLI transports use: `tail` and `stat` (job output), `env` (the fixed environment over SSH), `getent` (a job's Unix account). */
export const SYSTEM_COMMANDS = ['tail', 'stat', 'env', 'getent'] as const;
export type AgentCommand = (typeof SLURM_COMMANDS)[number] | (typeof SYSTEM_COMMANDS)[number];

/** Keys taken from the agent's own environment (never from a job's). */
const OWN_KEYS = ['HOME', 'LANG', 'LC_ALL', 'TZ'] as const;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Keys that choose or change what a program loads or runs: never in an agent command's environment,
 * not even from the agent's configuration.
 */
export function isHostileEnvKey(name: string): boolean {
  return (
    /^(PATH|ENV|BASH_ENV|IFS|CDPATH|GLOBIGNORE|SHELLOPTS|BASHOPTS|PS4|PROMPT_COMMAND|NODE_OPTIONS|GCONV_PATH|HOSTALIASES|LOCALDOMAIN|RES_OPTIONS|TMPDIR|NLSPATH|GETCONF_DIR)$/.test(name) ||
    /^(LD_|DYLD_|MALLOC_|BASH_FUNC_|PYTHON|PERL5|PERLLIB|RUBY|LUA_|GLIBC_TUNABLES)/.test(name) ||
    /_PROXY$/i.test(name)
  );
}

/**
 * The environment of every command the agent runs: PATH = SYSTEM_PATH, HOME/LANG/LC_ALL/TZ from the agent's
 * own environment (`own`, default process.env) when set, and `config` (e.g. SLURM_CONF). A config key that
 * could change what runs (PATH, LD_*, BASH_ENV, proxies, ...) is an error naming the key.
 */
export function agentEnv(config: Record<string, string> = {}, own: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = { PATH: SYSTEM_PATH };
  for (const k of OWN_KEYS) {
    const v = own[k];
    if (v === undefined || v === '' || v.includes('\0')) continue;
    if (k === 'HOME' && !v.startsWith('/')) continue;
    env[k] = v;
  }
  for (const [k, v] of Object.entries(config)) {
    if (!ENV_NAME.test(k)) throw new Error(`agent command environment: ${JSON.stringify(k)} is not a variable name`);
    if (isHostileEnvKey(k)) {
      throw new Error(`agent command environment: ${k} cannot be set; the agent runs its commands with PATH=${SYSTEM_PATH} and configured absolute paths (set slurmBinDir instead)`);
    }
    if (v.includes('\0')) throw new Error(`agent command environment: ${k} contains a NUL byte`);
    env[k] = v;
  }
  return env;
}

export interface CommandPaths {
  /** Directory of sbatch, squeue, scontrol, scancel, sacct, sinfo (default /usr/bin). */
  slurmBinDir?: string;
  /** Directory of tail, stat and env (default /usr/bin). */
  systemBinDir?: string;
  /** One command's absolute path, overriding the directories. */
  commands?: Partial<Record<AgentCommand, string>>;
  /**
   * The library built from slurm-bridge/shim/sbatch-jobid.c (absolute path): with it sbatch submits a job under
   * the ID Meridian gave it (Slurm 22.05's sbatch has no --jobid; slurmctld takes the ID from root or SlurmUser).
   */
  sbatchJobIdLib?: string;
}

/** The configured job-ID library's path, checked like the command paths; undefined when not configured. */
export function resolveJobIdLib(paths: CommandPaths = {}): string | undefined {
  return paths.sbatchJobIdLib === undefined ? undefined : absolute('sbatchJobIdLib', paths.sbatchJobIdLib, '/usr/local/lib/meridian/libmeridian-sbatch-jobid.so');
}

/** The highest job ID Slurm hands out or accepts (above it Slurm keeps IDs for federations). */
export const SLURM_MAX_JOB_ID = 67_108_863;

/**
 * The environment of one sbatch call that asks for job ID `jobId`: the fixed environment plus the job-ID library
 * (LD_PRELOAD, the agent's own configured path, never a job's) and the ID. Only sbatch takes it.
 */
export function jobIdEnv(env: Readonly<Record<string, string>>, argv: string[], jobId: string | undefined, lib: string | undefined): Record<string, string> {
  if (jobId === undefined) return { ...env };
  if (argv[0] !== 'sbatch') throw new Error(`a requested job ID is for sbatch only, not ${argv[0]}`);
  if (!lib) throw new Error('sbatch: a requested job ID needs the job-ID library (sbatchJobIdLib, --slurm-jobid-lib)');
  if (!/^[1-9]\d{0,7}$/.test(jobId) || Number(jobId) > SLURM_MAX_JOB_ID) throw new Error(`sbatch: job ID ${JSON.stringify(jobId)} is not a number from 1 to ${SLURM_MAX_JOB_ID}`);
  return { ...env, LD_PRELOAD: lib, MERIDIAN_SLURM_JOB_ID: jobId };
}

function absolute(field: string, path: string, example: string): string {
  if (typeof path !== 'string' || !path.startsWith('/') || path.includes('\0') || /(^|\/)\.\.?(\/|$)/.test(path)) {
    throw new Error(`${field} must be an absolute path without . or .. parts, e.g. ${example} (got ${JSON.stringify(path)})`);
  }
  return path.replace(/\/+$/, '') || '/';
}

/** Every command's absolute path; a relative or odd path is an error naming the setting and the fix. */
export function resolveCommands(paths: CommandPaths = {}): Record<AgentCommand, string> {
  const slurmDir = absolute('slurmBinDir', paths.slurmBinDir ?? DEFAULT_SLURM_BIN_DIR, DEFAULT_SLURM_BIN_DIR);
  const sysDir = absolute('systemBinDir', paths.systemBinDir ?? DEFAULT_SYSTEM_BIN_DIR, DEFAULT_SYSTEM_BIN_DIR);
  const out = {} as Record<AgentCommand, string>;
  for (const c of SLURM_COMMANDS) out[c] = `${slurmDir === '/' ? '' : slurmDir}/${c}`;
  for (const c of SYSTEM_COMMANDS) out[c] = `${sysDir === '/' ? '' : sysDir}/${c}`;
  for (const [name, p] of Object.entries(paths.commands ?? {})) {
    if (!(name in out)) throw new Error(`commands.${name}: not a command the agent runs (known: ${Object.keys(out).join(', ')})`);
    if (p !== undefined) out[name as AgentCommand] = absolute(`commands.${name}`, p, `/opt/slurm/bin/${name}`);
  }
  return out;
}

/** argv whose first word is a command name → the same argv with that command's absolute path. */
export function resolveArgv(argv: string[], commands: Record<AgentCommand, string>): string[] {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('empty command');
  const path = (commands as Record<string, string | undefined>)[cmd];
  if (!path || !Object.hasOwn(commands, cmd)) throw new Error(`${JSON.stringify(cmd)} is not a command the agent runs (known: ${Object.keys(commands).join(', ')})`);
  return [path, ...args];
}

/**
 * A job's exported environment as an `sbatch --export-file` body: NAME=value entries separated by NUL
 * (values may hold newlines). A name that is not a variable name or a value with a NUL is an error naming it.
 */
export function exportFileBody(env: Record<string, string>): Buffer {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (!ENV_NAME.test(k)) throw new Error(`job environment: ${JSON.stringify(k)} is not a variable name`);
    if (v.includes('\0')) throw new Error(`job environment: ${k} contains a NUL byte`);
    parts.push(`${k}=${v}`);
  }
  return Buffer.from(parts.length ? `${parts.join('\0')}\0` : '');
}
