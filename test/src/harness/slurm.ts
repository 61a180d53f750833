// A real Slurm 22.05 cluster on one host (Debian packages): munged + slurmctld + one slurmd per
// simulated node (fake GPUs are character devices listed in gres.conf) + slurmrestd with JWT.
// Recipe: ../shared/research/slurm.md. Every file lives in the run dir; SLURM_CONF points at it.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Daemon, EngineError, sleep } from './daemon.ts';
import { debian } from './engines.ts';
import { freePort } from './ports.ts';
import { RunDir } from './rundir.ts';
import { lookupUser } from './users.ts';
import { SlurmAccounting, type AccountingOptions } from './slurmdbd.ts';
import { connect } from 'node:net';

export interface SlurmNodeSpec {
  name: string;
  cpus?: number;
  memoryMiB?: number;
  gpus?: number;
  /** GRES type, e.g. "a100" → gres gpu:a100:N. */
  gpuType?: string;
  features?: string[];
  /** gres/shard on the node (GPU shares, spread evenly over its GPUs), e.g. 10 per GPU. */
  shards?: number;
  /**
   * An elastic node: declared `State=CLOUD` and its slurmd is not started with the cluster; slurmctld's
   * ResumeProgram (from `extraConfig`) is expected to start it with `slurmd -b -N <name> -f <conf>` (`-b`:
   * report a fresh boot, which slurmctld requires of a node it powered up; see docs/slurm.md).
   */
  cloud?: boolean;
}

export interface SlurmOptions {
  clusterName?: string;
  nodes?: SlurmNodeSpec[];
  /** Extra slurm.conf lines (e.g. power-saving settings). */
  extraConfig?: string[];
  restd?: boolean;
  /** Real accounting: MariaDB + slurmdbd (slurmdbd.ts), with these accounts, users and QOS. */
  accounting?: AccountingOptions;
}

const DEFAULT_NODES: SlurmNodeSpec[] = [
  { name: 'gpu-0', cpus: 8, memoryMiB: 16000, gpus: 4, gpuType: 'a100' },
  { name: 'gpu-1', cpus: 8, memoryMiB: 16000, gpus: 4, gpuType: 'a100' },
];

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

export class SlurmCluster {
  private readonly daemons = new Map<string, Daemon>();
  private readonly slurmdSpecs = new Map<string, ConstructorParameters<typeof Daemon>[0]>();
  restPort = 0;
  private accounting?: SlurmAccounting;

  private constructor(
    readonly clusterName: string,
    private readonly runDir: RunDir,
    readonly confPath: string,
    readonly nodes: SlurmNodeSpec[],
    readonly ctldPort: number,
    readonly mungeSocket: string,
  ) {}

  /** Environment for running Slurm's own CLI against this cluster. */
  get env(): NodeJS.ProcessEnv {
    return { ...process.env, SLURM_CONF: this.confPath };
  }

  get restUrl(): string {
    return `http://127.0.0.1:${this.restPort}`;
  }

  get dir(): string {
    return this.runDir.path;
  }

  static async start(opts: SlurmOptions = {}): Promise<SlurmCluster> {
    const clusterName = opts.clusterName ?? 'meridian';
    const nodes = opts.nodes ?? DEFAULT_NODES;
    const runDir = RunDir.create(`slurm-${clusterName}`);
    const etc = runDir.sub('etc');
    const state = runDir.sub('state');
    const spool = runDir.sub('spool');
    const logs = runDir.sub('log');
    const dev = runDir.sub('dev');
    const mungeDir = runDir.sub('munge');
    const host = hostname();
    const ctldPort = await freePort();
    const accounting = opts.accounting ? await SlurmAccounting.reserve() : undefined;
    const nodePorts = await Promise.all(nodes.map(() => freePort()));
    // SlurmdSpoolDir=spool/%n: a slurmd looks for its step sockets there before it creates the directory
    // ("Domain socket directory ...: No such file"), so each node's, cloud nodes' included, exists up front.
    for (const n of nodes) mkdirSync(join(spool, n.name), { recursive: true });

    // Fake GPUs: character devices (same major/minor as /dev/null) that slurmd can stat and bind.
    for (const n of nodes) {
      for (let i = 0; i < (n.gpus ?? 0); i++) {
        const path = join(dev, `${n.name}-nvidia${i}`);
        const r = spawnSync('mknod', [path, 'c', '1', '3']);
        if (r.status !== 0) throw new EngineError(`slurm: mknod ${path} failed (needs root or CAP_MKNOD): ${r.stderr}`);
      }
    }

    const mungeKey = join(mungeDir, 'munge.key');
    const mungeSocket = join(mungeDir, 'munge.socket');
    execFileSync(debian.mungeKey, ['--create', '--keyfile', mungeKey, '--force']);
    const jwtKey = join(etc, 'jwt.key');
    writeFileSync(jwtKey, randomBytes(32), { mode: 0o600 });

    const nodeLines = nodes.map((n, i) => {
      const gres = n.gpus ? ` Gres=gpu${n.gpuType ? `:${n.gpuType}` : ''}:${n.gpus}${n.shards ? `,shard:${n.shards}` : ''}` : '';
      const feat = n.features?.length ? ` Feature=${n.features.join(',')}` : '';
      return `NodeName=${n.name} NodeHostname=${host} NodeAddr=127.0.0.1 Port=${nodePorts[i]} CPUs=${n.cpus ?? 4} RealMemory=${n.memoryMiB ?? 8000}${gres}${feat} State=${n.cloud ? 'CLOUD' : 'UNKNOWN'}`;
    });
    const confPath = join(etc, 'slurm.conf');
    writeFileSync(
      confPath,
      [
        `ClusterName=${clusterName}`,
        `SlurmctldHost=${host}(127.0.0.1)`,
        `SlurmctldPort=${ctldPort}`,
        'SlurmUser=root',
        'AuthType=auth/munge',
        `AuthInfo=socket=${mungeSocket}`,
        'AuthAltTypes=auth/jwt',
        `AuthAltParameters=jwt_key=${jwtKey}`,
        `StateSaveLocation=${state}`,
        `SlurmdSpoolDir=${spool}/%n`,
        `SlurmctldPidFile=${join(runDir.path, 'slurmctld.pid')}`,
        `SlurmdPidFile=${join(runDir.path, 'slurmd-%n.pid')}`,
        `SlurmctldLogFile=${join(logs, 'slurmctld.log')}`,
        `SlurmdLogFile=${join(logs, 'slurmd-%n.log')}`,
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'MpiDefault=none',
        'SelectType=select/cons_tres',
        'SelectTypeParameters=CR_Core_Memory',
        'DefMemPerCPU=100',
        nodes.some((n) => n.shards) ? 'GresTypes=gpu,shard' : 'GresTypes=gpu',
        'JobAcctGatherType=jobacct_gather/none',
        ...(accounting?.confLines(mungeSocket) ?? ['AccountingStorageType=accounting_storage/none']),
        'ReturnToService=2',
        'SlurmdParameters=config_overrides', // simulated nodes are bigger than this host
        'MailProg=/bin/true',
        'SchedulerParameters=defer_batch', // fewer scheduler passes on 2-core machines
        'SchedulerType=sched/backfill',
        'MinJobAge=300',
        'KillWait=5',
        'SlurmctldTimeout=30',
        'SlurmdTimeout=30',
        'InactiveLimit=0',
        ...nodeLines,
        'PartitionName=gpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
        ...(opts.extraConfig ?? []),
        '',
      ].join('\n'),
    );
    const gresLines = ['AutoDetect=off'];
    for (const n of nodes) {
      if (!n.gpus) continue;
      const files = n.gpus === 1 ? join(dev, `${n.name}-nvidia0`) : join(dev, `${n.name}-nvidia[0-${n.gpus - 1}]`);
      gresLines.push(`NodeName=${n.name} Name=gpu${n.gpuType ? ` Type=${n.gpuType}` : ''} File=${files}`);
      if (n.shards) gresLines.push(`NodeName=${n.name} Name=shard Count=${n.shards}`);
    }
    writeFileSync(join(etc, 'gres.conf'), `${gresLines.join('\n')}\n`);
    // Slurm on cgroup v2 without systemd: do not ask systemd for a scope.
    writeFileSync(join(etc, 'cgroup.conf'), 'CgroupPlugin=autodetect\nIgnoreSystemd=yes\n');

    // slurmrestd drops to an unprivileged user before reading slurm.conf.
    chmodSync(runDir.path, 0o755);
    chmodSync(etc, 0o755);
    const cluster = new SlurmCluster(clusterName, runDir, confPath, nodes, ctldPort, mungeSocket);
    try {
      const munged = new Daemon(
        {
          name: 'munged',
          command: debian.munged,
          args: ['--foreground', '--force', `--key-file=${mungeKey}`, `--socket=${mungeSocket}`,
            `--pid-file=${join(mungeDir, 'munged.pid')}`, `--log-file=${join(logs, 'munged.log')}`, `--seed-file=${join(mungeDir, 'seed')}`],
        },
        runDir,
      ).start();
      cluster.daemons.set('munged', munged);
      await munged.waitReady(async () => spawnSync('test', ['-S', mungeSocket]).status === 0, 20_000);

      const env = { ...process.env, SLURM_CONF: confPath };
      if (accounting) {
        cluster.accounting = accounting;
        await accounting.start(runDir, etc, mungeSocket, env);
        accounting.setup(clusterName, env, opts.accounting!);
      }
      const ctld = new Daemon({ name: 'slurmctld', command: debian.slurmctld, args: ['-D', '-i', '-f', confPath], env }, runDir).start();
      cluster.daemons.set('slurmctld', ctld);
      await ctld.waitReady(async () => tcpOpen(ctldPort), 30_000);

      for (const [i, n] of nodes.entries()) {
        const spec = { name: `slurmd-${n.name}`, command: debian.slurmd, args: ['-D', '-N', n.name, '-f', confPath], env };
        cluster.slurmdSpecs.set(n.name, spec);
        if (n.cloud) continue; // powered up on demand by the ResumeProgram
        cluster.daemons.set(spec.name, new Daemon(spec, runDir).start());
        await cluster.daemons.get(spec.name)!.waitReady(async () => tcpOpen(nodePorts[i]!), 30_000);
      }
      await cluster.waitForNodes('idle', nodes.filter((n) => !n.cloud).map((n) => n.name));
      if (opts.restd !== false) await cluster.startRestd();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** slurmrestd refuses to run as root; it runs as `nobody` and authenticates callers by JWT. */
  private async startRestd(): Promise<void> {
    const nobody = lookupUser('nobody');
    this.restPort = await freePort();
    const args = ['-f', this.confPath, '-a', 'rest_auth/jwt', '-s', 'openapi/v0.0.38'];
    if (process.getuid?.() === 0 && nobody) args.push('-u', String(nobody.uid), '-g', String(nobody.gid));
    args.push(`127.0.0.1:${this.restPort}`);
    const restd = new Daemon({ name: 'slurmrestd', command: debian.slurmrestd, args, env: { ...process.env, SLURM_CONF: this.confPath, SLURM_JWT: 'daemon' } }, this.runDir).start();
    this.daemons.set('slurmrestd', restd);
    await restd.waitReady(async () => tcpOpen(this.restPort), 20_000);
  }

  /** Runs one of Slurm's own commands (sbatch, squeue, scontrol, ...) against this cluster. */
  run(command: string, args: string[], input?: string): { code: number; stdout: string; stderr: string } {
    const r = spawnSync(command, args, { env: this.env, input, encoding: 'utf8', cwd: this.runDir.path });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** A JWT for slurmrestd, issued by slurmctld (`scontrol token`). */
  token(user = 'root', lifespanSec = 3600): string {
    const r = this.run('scontrol', ['token', `username=${user}`, `lifespan=${lifespanSec}`]);
    const m = /SLURM_JWT=(\S+)/.exec(r.stdout);
    if (!m) throw new EngineError(`slurm: scontrol token failed: ${r.stderr || r.stdout}`);
    return m[1]!;
  }

  async waitForNodes(state: string, names: string[], timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const r = this.run('sinfo', ['-h', '-N', '-o', '%N %t']);
      last = r.stdout + r.stderr;
      const states = new Map(r.stdout.trim().split('\n').filter(Boolean).map((l) => l.split(/\s+/) as [string, string]));
      if (names.every((n) => states.get(n)?.replace(/[*~#!%$@^-]$/, '') === state)) return;
      await sleep(250);
    }
    throw new EngineError(`slurm: nodes ${names.join(',')} not ${state} after ${timeoutMs} ms; sinfo said:\n${last}\n--- slurmctld log ---\n${this.daemons.get('slurmctld')?.logTail(30)}`);
  }

  /** Starts or stops one node's slurmd (elastic-node tests). */
  async startNode(name: string): Promise<void> {
    const spec = this.slurmdSpecs.get(name);
    if (!spec) throw new Error(`unknown slurm node ${name}`);
    this.daemons.set(spec.name, new Daemon(spec, this.runDir).start());
  }

  async stopNode(name: string): Promise<void> {
    await this.daemons.get(`slurmd-${name}`)?.stop();
  }

  logTail(daemon: string, lines = 40): string {
    return this.daemons.get(daemon)?.logTail(lines) ?? '(not running)';
  }

  /** Makes a directory writable for job output when jobs run as another user. */
  chown(path: string, uid: number, gid: number): void {
    chownSync(path, uid, gid);
  }

  /** Where a node's slurmd writes its pid (SlurmdPidFile), e.g. for a power-save program that stops it. */
  slurmdPidFile(name: string): string {
    return join(this.runDir.path, `slurmd-${name}.pid`);
  }

  /** Stops slurmds started outside the harness (by a ResumeProgram) for cloud nodes. */
  private killCloudSlurmds(): void {
    for (const n of this.nodes) {
      if (!n.cloud) continue;
      try {
        const pid = Number(readFileSync(this.slurmdPidFile(n.name), 'utf8').trim());
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch {
        // not running
      }
    }
  }

  async stop(): Promise<void> {
    this.killCloudSlurmds();
    const order = ['slurmrestd', ...[...this.daemons.keys()].filter((k) => k.startsWith('slurmd-')), 'slurmctld', 'munged'];
    for (const name of order) {
      if (name === 'munged') await this.accounting?.stop(); // slurmdbd and MariaDB after slurmctld, before munge
      await this.daemons.get(name)?.stop();
    }
    this.daemons.clear();
    this.runDir.remove();
  }
}
