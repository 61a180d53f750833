// The hub as a child process (`node hub/dist/main.js`, the built hub) on a fixed port, so tests can kill -9 it
// and start it again where agents and clients expect it.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { generateSecretsKey } from '@meridian/hub/store/sealed';
import { packagePath } from '../packages.ts';

const MAIN = packagePath('hub', 'dist/main.js');

export class HubProcess {
  private child: ChildProcess | null = null;
  url = '';

  /** One key for every start of this hub, so a restarted hub opens what it sealed before. */
  readonly secretsKey = generateSecretsKey();

  constructor(
    private readonly env: Record<string, string>,
    private readonly logFile: string,
  ) {}

  async start(timeoutMs = 120_000): Promise<string> {
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(process.execPath, [MAIN], { env: { ...process.env, MERIDIAN_SECRETS_KEY: this.secretsKey, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stderr!.pipe(log);
    this.url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`hub did not start within ${timeoutMs} ms (see ${this.logFile})`)), timeoutMs);
      let buf = '';
      child.stdout!.on('data', (d: Buffer) => {
        log.write(d);
        buf += d.toString();
        const m = /MERIDIAN_HUB_URL=(\S+)/.exec(buf);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`hub exited with ${code} before starting (see ${this.logFile})`));
      });
    });
    return this.url;
  }

  /** SIGKILL: no shutdown hooks, no flushing, like a machine losing power. */
  async kill9(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
    this.child = null;
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
      c.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      c.kill('SIGTERM');
    });
    this.child = null;
  }
}
