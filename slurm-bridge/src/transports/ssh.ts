// SSH transport: the Slurm CLI on a login node over one persistent ssh2 connection (key auth).
// Each command is one exec channel; channels are capped below sshd's MaxSessions (10).
import { Client, type ConnectConfig } from 'ssh2';
import { CliTransport, type CliTransportOptions } from './cli.ts';
import { commandLine, type CommandRunner, type RunOptions, type RunResult } from './runner.ts';

export interface SshOptions {
  host: string;
  port?: number;
  username: string;
  privateKey: Buffer | string;
  passphrase?: string;
  /** Environment for every remote command (e.g. SLURM_CONF); sent inline (`env K=V cmd`), not via AcceptEnv. */
  env?: Record<string, string>;
  readyTimeoutMs?: number;
  /** Most exec channels at once on the connection. */
  maxChannels?: number;
  /** Pin the server's host key (SHA256 fingerprint base64 as ssh-keygen prints it, without `SHA256:`). */
  hostKeySha256?: string;
}

export class SshRunner implements CommandRunner {
  readonly kind = 'ssh' as const;
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private active = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly opts: SshOptions) {}

  private connect(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    if (this.connecting) return this.connecting;
    this.connecting = new Promise<Client>((resolve, reject) => {
      const c = new Client();
      const cfg: ConnectConfig = {
        host: this.opts.host,
        port: this.opts.port ?? 22,
        username: this.opts.username,
        privateKey: this.opts.privateKey,
        passphrase: this.opts.passphrase,
        readyTimeout: this.opts.readyTimeoutMs ?? 15_000,
        keepaliveInterval: 15_000,
      };
      if (this.opts.hostKeySha256) {
        const want = this.opts.hostKeySha256.replace(/^SHA256:/, '').replace(/=+$/, '');
        cfg.hostHash = 'sha256';
        cfg.hostVerifier = (hash: string) => Buffer.from(hash, 'hex').toString('base64').replace(/=+$/, '') === want;
      }
      c.once('ready', () => {
        this.client = c;
        this.connecting = undefined;
        resolve(c);
      });
      c.once('error', (err) => {
        this.connecting = undefined;
        if (this.client === c) this.client = undefined;
        reject(new Error(`ssh ${this.opts.username}@${this.opts.host}:${this.opts.port ?? 22}: ${err.message}`));
      });
      c.on('close', () => {
        if (this.client === c) this.client = undefined;
      });
      c.connect(cfg);
    });
    return this.connecting;
  }

  private async acquire(): Promise<void> {
    const max = this.opts.maxChannels ?? 8;
    while (this.active >= max) await new Promise<void>((r) => this.waiters.push(r));
    this.active++;
  }

  private releaseSlot(): void {
    this.active--;
    this.waiters.shift()?.();
  }

  async exec(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    const line = commandLine(argv, { ...this.opts.env, ...opts.env });
    await this.acquire();
    try {
      try {
        return await this.execOnce(line, opts);
      } catch (err) {
        // A dropped connection: reconnect once. Commands the bridge retries are idempotent or looked up first.
        if (this.client) throw err;
        return await this.execOnce(line, opts);
      }
    } finally {
      this.releaseSlot();
    }
  }

  private async execOnce(line: string, opts: RunOptions): Promise<RunResult> {
    const client = await this.connect();
    return new Promise<RunResult>((resolve, reject) => {
      client.exec(line, (err, stream) => {
        if (err) {
          this.client = undefined;
          client.end();
          return reject(err);
        }
        let stdout = '';
        let stderr = '';
        let code = -1;
        const timer = opts.timeoutMs ? setTimeout(() => stream.close(), opts.timeoutMs) : undefined;
        stream.on('data', (d: Buffer) => (stdout += d.toString()));
        stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        stream.on('exit', (c: number | null, signal?: string) => {
          code = c ?? (signal ? 128 : -1);
        });
        stream.on('close', () => {
          if (timer) clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
        stream.end(opts.stdin ?? '');
      });
    });
  }

  async close(): Promise<void> {
    this.client?.end();
    this.client = undefined;
  }
}

export type SshTransportOptions = SshOptions & CliTransportOptions;

/** The CLI transport over SSH to a login node. */
export class SshTransport extends CliTransport {
  constructor(opts: SshTransportOptions) {
    super(new SshRunner(opts), opts);
  }
}
