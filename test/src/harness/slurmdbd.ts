// Slurm accounting for the harness cluster (SlurmCluster.start({ accounting })): MariaDB (Debian's, its own
// data directory, listening on 127.0.0.1 only, no grant tables: a throwaway database) and slurmdbd, so native
// sacct, sacctmgr and -M work and Meridian's commands can be compared with them. The cluster, QOS, accounts
// and users are created with sacctmgr before slurmctld starts.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { Daemon, EngineError } from './daemon.ts';
import { debian } from './engines.ts';
import { freePort } from './ports.ts';
import type { RunDir } from './rundir.ts';

/** One Slurm account: its users and QOS (created if new; `normal` always exists). */
export interface SlurmAccountSpec {
  name: string;
  users: string[];
  qos?: string[];
}

export interface AccountingOptions {
  accounts?: SlurmAccountSpec[];
}

async function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class SlurmAccounting {
  readonly daemons: Daemon[] = [];

  private constructor(readonly dbdPort: number) {}

  /**
   * slurm.conf lines that send accounting to this slurmdbd. Connections to slurmdbd authenticate with the munge
   * socket AccountingStoragePass names (not AuthInfo's; without it, the default socket, which is not the harness's).
   */
  confLines(mungeSocket: string): string[] {
    return ['AccountingStorageType=accounting_storage/slurmdbd', 'AccountingStorageHost=127.0.0.1', `AccountingStoragePort=${this.dbdPort}`, `AccountingStoragePass=${mungeSocket}`];
  }

  /** A port for slurmdbd, chosen before slurm.conf is written. */
  static async reserve(): Promise<SlurmAccounting> {
    return new SlurmAccounting(await freePort());
  }

  /** Starts MariaDB and slurmdbd (slurmdbd.conf next to slurm.conf, where slurmdbd looks for it). */
  async start(runDir: RunDir, etc: string, mungeSocket: string, env: NodeJS.ProcessEnv): Promise<void> {
    const data = runDir.sub('mariadb');
    const logs = runDir.sub('log');
    const install = spawnSync(debian.mariadbInstallDb, ['--no-defaults', `--datadir=${data}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'], { encoding: 'utf8' });
    if (install.status !== 0) throw new EngineError(`slurm accounting: mariadb-install-db failed (is mariadb-server installed? npm run setup): ${install.stderr || install.stdout}`);
    const dbPort = await freePort();
    const db = new Daemon(
      {
        name: 'mariadbd',
        command: debian.mariadbd,
        args: ['--no-defaults', `--datadir=${data}`, `--socket=${join(data, 'mysqld.sock')}`, `--port=${dbPort}`, '--bind-address=127.0.0.1', '--user=root',
          '--skip-grant-tables', `--pid-file=${join(data, 'mariadbd.pid')}`, '--innodb-buffer-pool-size=64M', '--innodb-lock-wait-timeout=900'],
      },
      runDir,
    ).start();
    this.daemons.push(db);
    await db.waitReady(async () => tcpOpen(dbPort), 60_000);
    const conf = join(etc, 'slurmdbd.conf');
    writeFileSync(
      conf,
      [
        'AuthType=auth/munge', `AuthInfo=socket=${mungeSocket}`, 'DbdAddr=127.0.0.1', `DbdHost=${hostname()}`, `DbdPort=${this.dbdPort}`, 'SlurmUser=root',
        `PidFile=${join(runDir.path, 'slurmdbd.pid')}`, `LogFile=${join(logs, 'slurmdbd.log')}`, 'StorageType=accounting_storage/mysql', 'StorageHost=127.0.0.1',
        `StoragePort=${dbPort}`, 'StorageUser=root', 'StorageLoc=slurm_acct_db', '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const dbd = new Daemon({ name: 'slurmdbd', command: debian.slurmdbd, args: ['-D'], env }, runDir).start();
    this.daemons.push(dbd);
    await dbd.waitReady(async () => tcpOpen(this.dbdPort), 60_000);
  }

  /** Registers the cluster, then QOS, accounts and users (sacctmgr -i). */
  setup(cluster: string, env: NodeJS.ProcessEnv, opts: AccountingOptions): void {
    const mgr = (...args: string[]) => {
      try {
        execFileSync(debian.sacctmgr, ['-i', ...args], { env, encoding: 'utf8', stdio: 'pipe' });
      } catch (err) {
        const e = err as { stderr?: string; stdout?: string };
        throw new EngineError(`slurm accounting: sacctmgr ${args.join(' ')} failed: ${e.stderr || e.stdout}`);
      }
    };
    mgr('add', 'cluster', cluster);
    const qos = [...new Set((opts.accounts ?? []).flatMap((a) => a.qos ?? []))].filter((q) => q !== 'normal');
    for (const q of qos) mgr('add', 'qos', q);
    for (const a of opts.accounts ?? []) {
      mgr('add', 'account', a.name, `Cluster=${cluster}`);
      for (const u of a.users) mgr('add', 'user', u, `Account=${a.name}`, `Cluster=${cluster}`, ...(a.qos?.length ? [`QOS=${a.qos.join(',')}`] : []));
    }
  }

  async stop(): Promise<void> {
    for (const d of [...this.daemons].reverse()) await d.stop();
  }
}
