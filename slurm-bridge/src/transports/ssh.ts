// SSH transport: the Slurm CLI on a login node over one persistent ssh2 connection (key auth).
// Each command is one exec channel; channels are capped below sshd's MaxSessions (10). Every command line is
// `/usr/bin/env -i <fixed env> /abs/path/cmd args`; private files (sbatch's export file, job secrets) go
// over SFTP on the same connection.
import { randomBytes } from 'node:crypto';
import { Client, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { CliTransport, type CliTransportOptions } from './cli.ts';
import { agentEnv, jobIdEnv, resolveArgv, resolveCommands, resolveJobIdLib, type AgentCommand, type CommandPaths } from './exec-env.ts';
import { fixedEnvCommandLine, type CommandRunner, type RunOptions, type RunResult } from './runner.ts';

export interface SshOptions extends CommandPaths {
  host: string;
  port?: number;
  username: string;
  privateKey: Buffer | string;
  passphrase?: string;
  /** Keys of the agent's configuration for every remote command (e.g. SLURM_CONF); sent inline (`env -i K=V cmd`). PATH, LD_*, BASH_ENV, proxies refused. */
  env?: Record<string, string>;
  /** Directory on the login node for temporary private files (default /tmp). */
  tmpDir?: string;
  readyTimeoutMs?: number;
  /** Most exec channels at once on the connection. */
  maxChannels?: number;
  /** Pin the server's host key (SHA256 fingerprint base64 as ssh-keygen prints it, without `SHA256:`). */
  hostKeySha256?: string;
}

const NO_SUCH_FILE = 2;
const sftpCode = (err: unknown): number | undefined => (err as { code?: number }).code;

export class SshRunner implements CommandRunner {
  readonly kind = 'ssh' as const;
  readonly env: Readonly<Record<string, string>>;
  readonly commands: Record<AgentCommand, string>;
  /** On the login node. */
  readonly jobIdLib: string | undefined;
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private sftpSession: Promise<SFTPWrapper> | undefined;
  private active = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly opts: SshOptions) {
    // The remote account's HOME/LANG are its own: only the configured keys go, the rest is the fixed PATH.
    this.env = Object.freeze(agentEnv(opts.env ?? {}, {}));
    this.commands = resolveCommands(opts);
    this.jobIdLib = resolveJobIdLib(opts);
    if (opts.tmpDir !== undefined && !/^\/[^\0]*$/.test(opts.tmpDir)) throw new Error(`tmpDir must be an absolute path on the login node, e.g. /tmp (got ${JSON.stringify(opts.tmpDir)})`);
  }

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
        // Small request/answer exchanges: without this, Nagle and delayed ACKs add ~40 ms to every SFTP call.
        c.setNoDelay(true);
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
        if (this.client === c) {
          this.client = undefined;
          this.sftpSession = undefined;
        }
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
    const line = fixedEnvCommandLine(this.commands.env, jobIdEnv(this.env, argv, opts.slurmJobId, this.jobIdLib), resolveArgv(argv, this.commands));
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

  // ---------- private files over SFTP ----------

  private sftp(): Promise<SFTPWrapper> {
    if (this.sftpSession) return this.sftpSession;
    const session = this.connect().then(
      (c) =>
        new Promise<SFTPWrapper>((resolve, reject) => {
          c.sftp((err, sftp) => {
            if (err) return reject(new Error(`sftp to ${this.opts.host}: ${err.message}`));
            sftp.on('close', () => {
              if (this.sftpSession === session) this.sftpSession = undefined;
            });
            resolve(sftp);
          });
        }),
    );
    this.sftpSession = session;
    session.catch(() => {
      if (this.sftpSession === session) this.sftpSession = undefined;
    });
    return session;
  }

  private async call<T>(what: string, fn: (sftp: SFTPWrapper, cb: (err: Error | undefined | null, v?: T) => void) => void): Promise<T> {
    const sftp = await this.sftp();
    return new Promise<T>((resolve, reject) =>
      fn(sftp, (err, v) => (err ? reject(Object.assign(new Error(`${what}: ${err.message}`), { code: sftpCode(err) })) : resolve(v as T))),
    );
  }

  async makeTempDir(): Promise<string> {
    const dir = `${(this.opts.tmpDir ?? '/tmp').replace(/\/+$/, '')}/meridian-${randomBytes(12).toString('hex')}`;
    // mkdir fails when the name exists, so the directory is new and ours.
    await this.call(`mkdir ${dir}`, (s, cb) => s.mkdir(dir, { mode: 0o700 }, cb));
    return dir;
  }

  async makePrivateDir(dir: string, opts: { parentTraversable?: boolean } = {}): Promise<void> {
    const parent = dir.replace(/\/[^/]+\/?$/, '');
    for (const d of [parent, dir]) {
      await this.call<void>(`mkdir ${d}`, (s, cb) => s.mkdir(d, { mode: 0o700 }, cb)).catch(() => undefined);
      const st = await this.call<{ isDirectory(): boolean }>(`lstat ${d}`, (s, cb) => s.lstat(d, cb));
      if (!st.isDirectory()) throw new Error(`${d} is not a directory; refusing to keep private files there`);
      // chmod succeeds only on a directory of this account
      await this.call(`chmod ${d}`, (s, cb) => s.chmod(d, d === parent && opts.parentTraversable ? 0o711 : 0o700, cb));
    }
  }

  async writePrivateFile(path: string, content: string | Buffer): Promise<void> {
    const tmp = `${path.replace(/\/[^/]+$/, '')}/.tmp-${randomBytes(8).toString('hex')}`;
    await this.call(`write ${tmp}`, (s, cb) => s.writeFile(tmp, content, { mode: 0o600, flag: 'wx' }, cb));
    try {
      await this.call(`rename ${tmp}`, (s, cb) => s.ext_openssh_rename(tmp, path, cb));
    } catch (err) {
      await this.call(`unlink ${tmp}`, (s, cb) => s.unlink(tmp, cb)).catch(() => undefined);
      throw err;
    }
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    await this.call(`chown ${path}`, (s, cb) => s.chown(path, uid, gid, cb));
  }

  async removeDir(dir: string): Promise<void> {
    for (const name of await this.listDir(dir)) {
      await this.call(`unlink ${dir}/${name}`, (s, cb) => s.unlink(`${dir}/${name}`, cb)).catch((err: unknown) => {
        if (sftpCode(err) !== NO_SUCH_FILE) throw err;
      });
    }
    await this.call(`rmdir ${dir}`, (s, cb) => s.rmdir(dir, cb)).catch((err: unknown) => {
      if (sftpCode(err) !== NO_SUCH_FILE) throw err;
    });
  }

  async listDir(dir: string): Promise<string[]> {
    try {
      const list = await this.call<{ filename: string }[]>(`readdir ${dir}`, (s, cb) => s.readdir(dir, cb));
      return list.map((e) => e.filename).filter((n) => n !== '.' && n !== '..');
    } catch (err) {
      if (sftpCode(err) === NO_SUCH_FILE) return [];
      throw err;
    }
  }

  async close(): Promise<void> {
    this.client?.end();
    this.client = undefined;
    this.sftpSession = undefined;
  }
}

export type SshTransportOptions = SshOptions & CliTransportOptions;

/** The CLI transport over SSH to a login node. */
export class SshTransport extends CliTransport {
  constructor(opts: SshTransportOptions) {
    super(new SshRunner(opts), opts);
  }
}
