// PostgreSQL from Debian: a throwaway cluster (initdb) on a free loopback port, a fresh database per run.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { Daemon, EngineError, sleep } from './daemon.ts';
import { debian } from './engines.ts';
import { freePort } from './ports.ts';
import { RunDir } from './rundir.ts';
import { signalGroup } from './signals.ts';
import { unprivilegedUser } from './users.ts';

export interface PostgresOptions {
  database?: string;
}

export class PostgresEngine {
  private constructor(
    private readonly runDir: RunDir,
    private daemon: Daemon,
    readonly port: number,
    readonly database: string,
  ) {}

  readonly user = 'meridian';

  get url(): string {
    return `postgres://${this.user}@127.0.0.1:${this.port}/${this.database}`;
  }

  static async start(opts: PostgresOptions = {}): Promise<PostgresEngine> {
    const runDir = RunDir.create('postgres');
    const owner = unprivilegedUser(['postgres', 'nobody']);
    if (!owner) throw new EngineError('postgres: running as root and no unprivileged user (postgres/nobody) exists to run it as');
    const data = join(runDir.path, 'data');
    const sockets = runDir.sub('sockets');
    runDir.chownTo(owner.uid, owner.gid);
    try {
      execFileSync(join(debian.postgresBin, 'initdb'), ['-D', data, '-U', 'meridian', '--auth=trust', '-E', 'UTF8', '--no-sync'], {
        uid: owner.uid,
        gid: owner.gid,
        stdio: 'pipe',
        env: { ...process.env, LC_ALL: 'C.UTF-8' },
      });
    } catch (err) {
      const e = err as { stderr?: Buffer; message: string };
      throw new EngineError(`postgres: initdb failed: ${e.stderr?.toString() ?? e.message}\n  (is the Debian package postgresql installed? run npm run setup)`);
    }
    const port = await freePort();
    const database = opts.database ?? 'meridian';
    const engine = new PostgresEngine(runDir, PostgresEngine.daemon(runDir, data, sockets, port, owner), port, database);
    await engine.waitReady();
    const admin = new pg.Client({ host: '127.0.0.1', port, user: 'meridian', database: 'postgres' });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${database.replace(/"/g, '')}"`);
    await admin.end();
    return engine;
  }

  private static daemon(runDir: RunDir, data: string, sockets: string, port: number, owner: { uid: number; gid: number }): Daemon {
    // fsync is off (a test database is thrown away; the OS cache survives a process kill), but commits still
    // write WAL synchronously so a SIGKILLed Postgres keeps every committed row, as crash tests require.
    return new Daemon(
      {
        name: 'postgres',
        command: join(debian.postgresBin, 'postgres'),
        args: ['-D', data, '-p', String(port), '-k', sockets, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off',
          '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
        uid: owner.uid,
        gid: owner.gid,
      },
      runDir,
    ).start();
  }

  private async waitReady(): Promise<void> {
    await this.daemon.waitReady(async () => {
      const c = new pg.Client({ host: '127.0.0.1', port: this.port, user: 'meridian', database: 'postgres', connectionTimeoutMillis: 1000 });
      await c.connect();
      await c.end();
      return true;
    }, 30_000);
  }

  /** Restarts the server on the same port and data (crash-safety tests); `hard` kills it with SIGKILL first. */
  async restart(hard = false): Promise<void> {
    // Every backend is a process-group leader of its own (Postgres calls setsid in each child), so a SIGKILL to
    // the postmaster's group leaves them to notice its death by themselves, and a new postmaster refuses to start
    // while one still holds the shared memory ("pre-existing shared memory block is still in use"). A hard
    // restart kills them with the postmaster, as a machine crash would, and waits until they are gone.
    if (hard) {
      const backends = this.daemon.pid ? childPids(this.daemon.pid) : [];
      await this.daemon.kill();
      for (const pid of backends) signalGroup(pid, 'SIGKILL');
      const deadline = Date.now() + 30_000;
      while (backends.some(alive) && Date.now() < deadline) await sleep(50);
    }
    this.daemon = await this.daemon.restart(false); // the old process is gone: this only starts it again
    await this.waitReady();
  }

  client(): pg.Client {
    return new pg.Client({ connectionString: this.url });
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
    this.runDir.remove();
  }
}

/** Direct children of `pid`, from /proc. */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // the ppid is the 2nd field after the parenthesised command name, which may itself contain spaces
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
