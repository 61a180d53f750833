// A supervised engine process: spawned in its own process group with its output in a log file,
// waited on for readiness, and stopped with SIGTERM then SIGKILL so nothing is left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RunDir } from './rundir.ts';
import { signalGroup } from './signals.ts';

export interface DaemonSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  uid?: number;
  gid?: number;
}

export class EngineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineError';
  }
}

const live = new Set<Daemon>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous last resort: if the test process exits without stopping its engines, kill them.
  process.on('exit', () => {
    for (const d of live) d.killNow();
  });
  // On a signal, kill engines and exit — unless the program handles the signal itself (the sandbox
  // stops its engines gracefully), in which case stay out of its way.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      if (process.listeners(sig).some((l) => l !== onSignal)) return;
      for (const d of live) d.killNow();
      process.exit(130);
    };
    process.on(sig, onSignal);
  }
}

export class Daemon {
  readonly logFile: string;
  readonly commandLine: string;
  private child: ChildProcess | undefined;
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    readonly spec: DaemonSpec,
    private readonly runDir: RunDir,
  ) {
    this.logFile = join(runDir.path, `${spec.name}.log`);
    this.commandLine = [spec.command, ...spec.args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.exited === undefined;
  }

  start(): this {
    if (!existsSync(this.spec.command)) {
      throw new EngineError(
        `${this.spec.name}: executable ${this.spec.command} not found. Run \`npm run setup\` (it installs and builds the engines).`,
      );
    }
    installExitHook();
    const fd = openSync(this.logFile, 'a');
    writeFileSync(fd, `# ${new Date().toISOString()} ${this.commandLine}\n`);
    const child = spawn(this.spec.command, this.spec.args, {
      cwd: this.spec.cwd ?? this.runDir.path,
      env: this.spec.env ?? process.env,
      stdio: ['ignore', fd, fd],
      detached: true, // own process group, so stop() reaches its children too
      uid: this.spec.uid,
      gid: this.spec.gid,
    });
    closeSync(fd);
    this.child = child;
    child.on('exit', (code, signal) => {
      this.exited = { code, signal };
      live.delete(this);
    });
    child.on('error', (err) => {
      this.exited = { code: null, signal: null };
      live.delete(this);
      writeFileSync(this.logFile, `\n# spawn error: ${err.message}\n`, { flag: 'a' });
    });
    if (child.pid !== undefined) this.runDir.recordPid(this.spec.name, child.pid, this.spec.command);
    live.add(this);
    return this;
  }

  logTail(lines = 40): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** A failure that tells the reader what was run and what it said. */
  failure(why: string): EngineError {
    const status = this.exited ? ` (exited: code ${this.exited.code}, signal ${this.exited.signal})` : '';
    return new EngineError(
      `${this.spec.name} ${why}${status}\n  command: ${this.commandLine}\n  log: ${this.logFile}\n  --- last lines ---\n${this.logTail()}`,
    );
  }

  /** Polls `probe` until it returns true; throws with the log tail if the process dies or time runs out. */
  async waitReady(probe: () => Promise<boolean>, timeoutMs = 60_000, intervalMs = 100): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError = '';
    while (Date.now() < deadline) {
      if (this.exited) throw this.failure('exited before becoming ready');
      try {
        if (await probe()) return;
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
      }
      await sleep(intervalMs);
    }
    throw this.failure(`not ready after ${timeoutMs} ms${lastError ? ` (last probe error: ${lastError})` : ''}`);
  }

  /** SIGTERM the process group, SIGKILL after `graceMs`. Resolves when the process is gone. */
  async stop(graceMs = 5_000): Promise<void> {
    const child = this.child;
    if (!child?.pid || this.exited) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    signalGroup(child.pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
    signalGroup(child.pid, 'SIGKILL'); // stragglers in the group (e.g. forked workers)
    this.runDir.forgetPid(this.spec.name);
  }

  /** Stops (or, with `hard`, kills) this process and starts the same command again: crash-recovery tests. */
  async restart(hard = false): Promise<Daemon> {
    if (hard) await this.kill();
    else await this.stop();
    return new Daemon(this.spec, this.runDir).start();
  }

  /** Simulates a crash: SIGKILL with no grace. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child?.pid || this.exited) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    signalGroup(child.pid, 'SIGKILL');
    await gone;
    this.runDir.forgetPid(this.spec.name);
  }

  killNow(): void {
    if (this.child?.pid && !this.exited) signalGroup(this.child.pid, 'SIGKILL');
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
