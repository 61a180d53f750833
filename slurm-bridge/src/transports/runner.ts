// How the CLI transport runs Slurm's commands: locally (child_process) or on a login node (ssh2). A runner
// runs only the agent's own programs (argv[0] is a command name, resolved to its configured absolute path)
// with the agent's own fixed environment (./exec-env.ts); there is no way to hand it a job's environment.
// It also keeps private files on the host the commands run on: sbatch's export file, job secrets.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, lchown, lstat, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { agentEnv, jobIdEnv, resolveArgv, resolveCommands, resolveJobIdLib, type AgentCommand, type CommandPaths } from './exec-env.ts';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  stdin?: string;
  timeoutMs?: number;
  /** sbatch only: submit under this job ID (needs the job-ID library, see exec-env.ts jobIdEnv). */
  slurmJobId?: string;
}

export interface CommandRunner {
  readonly kind: 'ssh' | 'local';
  /** The fixed environment every command gets (a job's export file starts from it). */
  readonly env: Readonly<Record<string, string>>;
  /** The job-ID library for sbatch, when configured (exec-env.ts CommandPaths.sbatchJobIdLib). */
  readonly jobIdLib?: string;
  /** Runs `argv[0]` (sbatch, scontrol, tail, ...) from its configured absolute path; other names are refused. */
  exec(argv: string[], opts?: RunOptions): Promise<RunResult>;
  /** A fresh directory (mode 0700) for temporary private files. */
  makeTempDir(): Promise<string>;
  /** Makes `dir` and its parent mode 0700 (parent 0711 with `parentTraversable`), owned by the account the commands run as (anything else is refused). */
  makePrivateDir(dir: string, opts?: { parentTraversable?: boolean }): Promise<void>;
  /** Writes `path` mode 0600 (a new file renamed into place, so a planted link is replaced, never followed). */
  writePrivateFile(path: string, content: string | Buffer): Promise<void>;
  /** Removes a directory and the files in it; nothing when it is gone. */
  removeDir(dir: string): Promise<void>;
  /** Names in a directory; [] when it does not exist. */
  listDir(dir: string): Promise<string[]>;
  /** Hands a file or directory to another account (needs root). */
  chown(path: string, uid: number, gid: number): Promise<void>;
  close(): Promise<void>;
}

export interface RunnerOptions extends CommandPaths {
  /** Keys of the agent's configuration for its commands, e.g. SLURM_CONF (PATH, LD_*, BASH_ENV, proxies refused). */
  env?: Record<string, string>;
}

/** POSIX single-quote quoting for a remote shell. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** argv as one shell command line. */
export function commandLine(argv: string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** `<env> -i K=V ... /abs/cmd args` — the remote command starts from an empty environment plus exactly `env`. */
export function fixedEnvCommandLine(envProgram: string, env: Record<string, string>, argv: string[]): string {
  return commandLine([envProgram, '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv]);
}

const code = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

export class LocalRunner implements CommandRunner {
  readonly kind = 'local' as const;
  readonly env: Readonly<Record<string, string>>;
  readonly commands: Record<AgentCommand, string>;
  readonly jobIdLib: string | undefined;

  constructor(opts: RunnerOptions = {}) {
    this.env = Object.freeze(agentEnv(opts.env ?? {}));
    this.commands = resolveCommands(opts);
    this.jobIdLib = resolveJobIdLib(opts);
  }

  exec(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    let cmd: string;
    let args: string[];
    let env: Record<string, string>;
    try {
      [cmd, ...args] = resolveArgv(argv, this.commands) as [string, ...string[]];
      env = jobIdEnv(this.env, argv, opts.slurmJobId, this.jobIdLib);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      // `env` replaces the whole environment: nothing of this process's own (credentials) or of a job's.
      const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', (err) => {
        if (timer) clearTimeout(timer);
        reject(new Error(`${cmd}: ${err.message}`));
      });
      child.on('close', (c, signal) => {
        if (timer) clearTimeout(timer);
        resolve({ code: c ?? (signal ? 128 : -1), stdout, stderr });
      });
      child.stdin.on('error', () => {});
      child.stdin.end(opts.stdin ?? '');
    });
  }

  makeTempDir(): Promise<string> {
    return mkdtemp(join(tmpdir(), 'meridian-'));
  }

  async makePrivateDir(dir: string, opts: { parentTraversable?: boolean } = {}): Promise<void> {
    for (const d of [dirname(dir), dir]) {
      await mkdir(d, { recursive: true, mode: 0o700 });
      const st = await lstat(d);
      if (!st.isDirectory() || (process.getuid && st.uid !== process.getuid())) throw new Error(`${d} is not a directory of this account; refusing to keep private files there`);
      await chmod(d, d !== dir && opts.parentTraversable ? 0o711 : 0o700);
    }
  }

  async writePrivateFile(path: string, content: string | Buffer): Promise<void> {
    const tmp = join(dirname(path), `.tmp-${randomBytes(8).toString('hex')}`);
    await writeFile(tmp, content, { mode: 0o600, flag: 'wx' });
    try {
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async removeDir(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
  }

  async listDir(dir: string): Promise<string[]> {
    try {
      return await readdir(dir);
    } catch (err) {
      if (code(err) === 'ENOENT') return [];
      throw err;
    }
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    await lchown(path, uid, gid);
  }

  async close(): Promise<void> {}
}
