// How the CLI transport runs Slurm's commands: locally (child_process) or on a login node (ssh2).
import { spawn } from 'node:child_process';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  stdin?: string;
  /** Extra environment for this command only. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface CommandRunner {
  readonly kind: 'ssh' | 'local';
  exec(argv: string[], opts?: RunOptions): Promise<RunResult>;
  close(): Promise<void>;
}

/** POSIX single-quote quoting for a remote shell. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `env A=1 B='x y' cmd args...` as one shell command line. */
export function commandLine(argv: string[], env: Record<string, string> = {}): string {
  const assigns = Object.entries(env).map(([k, v]) => {
    if (!ENV_NAME.test(k)) throw new Error(`invalid environment variable name ${JSON.stringify(k)}`);
    return shellQuote(`${k}=${v}`);
  });
  return [...(assigns.length ? ['env', ...assigns] : []), ...argv.map(shellQuote)].join(' ');
}

export class LocalRunner implements CommandRunner {
  readonly kind = 'local' as const;
  constructor(private readonly baseEnv: Record<string, string> = {}) {}

  exec(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    const [cmd, ...args] = argv;
    if (!cmd) return Promise.reject(new Error('empty command'));
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { env: { ...process.env, ...this.baseEnv, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', (err) => {
        if (timer) clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
      });
      child.stdin.on('error', () => {});
      child.stdin.end(opts.stdin ?? '');
    });
  }

  async close(): Promise<void> {}
}
