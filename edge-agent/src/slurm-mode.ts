// The `edge-agent` process in Slurm mode (`--kind slurm`): the SlurmAgent of ./slurm/ (the Slurm driver wired
// to hub-link) over a slurm-bridge transport chosen on the command line, with the same health and metrics surface as
// Kubernetes mode. main.ts owns flags, the HTTP server and signals; this file owns the Slurm wiring.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import client from 'prom-client';
import { SLURM_AGENT_VERSION, SlurmAgent } from './slurm/agent.ts';
import { SlurmDriver } from './slurm/driver.ts';
import type { ContainerRuntime } from './slurm/translate.ts';
import { LocalTransport } from '@meridian/slurm-bridge/transports/local';
import { RestTransport } from '@meridian/slurm-bridge/transports/rest';
import { SshTransport } from '@meridian/slurm-bridge/transports/ssh';
import type { SlurmTransport } from '@meridian/slurm-bridge/types';

export { SLURM_AGENT_VERSION };

export interface SlurmModeOptions {
  slurmTransport: 'local' | 'rest' | 'ssh';
  slurmConf?: string;
  /** Where sbatch, squeue, scontrol, ... are (absolute; default /usr/bin); on the login node for ssh. */
  slurmBinDir?: string;
  slurmrestdUrl?: string;
  slurmrestdUser: string;
  slurmJwt?: string;
  slurmJwtFile?: string;
  sshHost?: string;
  sshPort: number;
  sshUser?: string;
  sshKeyFile?: string;
  sshHostKey?: string;
  slurmWorkdir: string;
  slurmRuntime: ContainerRuntime;
  slurmPollInterval: number;
  /** The job-ID library (slurm-bridge/shim/sbatch-jobid.c built), absolute, on the host sbatch runs on. */
  slurmJobidLib?: string;
  slurmRunAs?: 'agent' | 'submitter';
  slurmUserMap?: Record<string, string>;
  slurmMinUid?: number;
  slurmShardsPerGpu?: number;
}

export interface SlurmModeInput {
  hubUrl: string;
  clusterId: string;
  credential: string;
  journal?: string;
  registry: client.Registry;
  log: Logger;
}

export type SlurmHealth = { ok: boolean; hub: string; slurm: 'up' | 'down' | 'unknown'; slurmError?: string; unackedEvents: number };

/** Builds the transport the flags describe; errors name the missing or wrong flag. */
export function slurmTransport(o: SlurmModeOptions): SlurmTransport {
  try {
    return buildTransport(o);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (msg.startsWith('sbatchJobIdLib')) throw new Error(`--slurm-jobid-lib (MERIDIAN_SLURM_JOBID_LIB): ${msg.replace(/^sbatchJobIdLib /, '')}`);
    throw new Error(msg.startsWith('slurmBinDir') ? `--slurm-bin-dir (MERIDIAN_SLURM_BIN_DIR): ${msg.replace(/^slurmBinDir /, '')}` : msg);
  }
}

function buildTransport(o: SlurmModeOptions): SlurmTransport {
  // The commands' whole environment: a system PATH plus SLURM_CONF; their paths: --slurm-bin-dir.
  const env = o.slurmConf ? { SLURM_CONF: o.slurmConf } : undefined;
  const paths = { ...(o.slurmBinDir ? { slurmBinDir: o.slurmBinDir } : {}), ...(o.slurmJobidLib ? { sbatchJobIdLib: o.slurmJobidLib } : {}) };
  const local = (): SlurmTransport => new LocalTransport({ ...(env ? { env } : {}), ...paths });
  switch (o.slurmTransport) {
    case 'local':
      return local();
    case 'rest': {
      if (!o.slurmrestdUrl) throw new Error('--slurm-transport rest needs --slurmrestd-url (or SLURMRESTD_URL)');
      const fixed = o.slurmJwt;
      const file = o.slurmJwtFile;
      if (!fixed && !file) throw new Error('--slurm-transport rest needs --slurm-jwt-file or --slurm-jwt (SLURM_JWT)');
      // Tokens expire: a file is re-read on every request so an external refresher can rotate it.
      const token = file ? () => readFileSync(file, 'utf8').trim() : fixed!;
      // slurmrestd v0.0.38 has no node updates: those go through the CLI on this host.
      return new RestTransport({ url: o.slurmrestdUrl, userName: o.slurmrestdUser, token, fallback: local() });
    }
    case 'ssh': {
      if (!o.sshHost || !o.sshUser || !o.sshKeyFile) throw new Error('--slurm-transport ssh needs --ssh-host, --ssh-user and --ssh-key-file');
      return new SshTransport({
        host: o.sshHost,
        port: o.sshPort,
        username: o.sshUser,
        privateKey: readFileSync(o.sshKeyFile),
        ...(env ? { env } : {}),
        ...paths,
        ...(o.sshHostKey ? { hostKeySha256: o.sshHostKey } : {}),
      });
    }
  }
}

/** The running Slurm agent with health and Prometheus metrics; `start()` resolves once Slurm answered. */
export class SlurmModeAgent {
  readonly agent: SlurmAgent;
  readonly driver: SlurmDriver;
  private slurmUp: boolean | undefined;
  private slurmError: string | undefined;
  private nodes = 0;
  private pinger: NodeJS.Timeout | undefined;

  constructor(private readonly o: SlurmModeOptions & SlurmModeInput) {
    this.driver = new SlurmDriver({
      transport: slurmTransport(o),
      clusterName: o.clusterId,
      workDir: o.slurmWorkdir,
      runtime: o.slurmRuntime,
      pollIntervalMs: o.slurmPollInterval,
      runAs: o.slurmRunAs ?? 'agent',
      ...(o.slurmUserMap ? { userMap: o.slurmUserMap } : {}),
      ...(o.slurmMinUid !== undefined ? { minUid: o.slurmMinUid } : {}),
      ...(o.slurmShardsPerGpu ? { shardsPerGpu: o.slurmShardsPerGpu } : {}),
      log: o.log,
    });
    this.agent = new SlurmAgent({ hubUrl: o.hubUrl, credential: o.credential, clusterId: o.clusterId, driver: this.driver, ...(o.journal ? { journalFile: o.journal } : {}) });
    this.driver.onEvent((e) => {
      if (e.type === 'inventory.snapshot') this.nodes = e.nodes.length;
      else if (e.type === 'inventory.delta') this.nodes += e.upserts.length - e.deletes.length;
    });
    this.metrics(o.registry);
  }

  private metrics(registry: client.Registry): void {
    const gauge = (name: string, help: string, value: () => number) =>
      new client.Gauge({ name, help, registers: [registry], collect() { this.set(value()); } });
    gauge('meridian_agent_hub_connected', '1 while the hub link is ready', () => (this.agent.link.status === 'ready' ? 1 : 0));
    gauge('meridian_agent_slurm_up', '1 while the last Slurm ping succeeded', () => (this.slurmUp ? 1 : 0));
    gauge('meridian_agent_nodes', 'nodes in the last inventory sent', () => Math.max(0, this.nodes));
    gauge('meridian_agent_journal_unacked_events', 'events not yet acknowledged by the hub', () => this.agent.link.journal.state.unacked.length);
  }

  health(): SlurmHealth {
    return {
      ok: this.slurmUp === true,
      hub: this.agent.link.status,
      slurm: this.slurmUp === undefined ? 'unknown' : this.slurmUp ? 'up' : 'down',
      ...(this.slurmError && !this.slurmUp ? { slurmError: this.slurmError } : {}),
      unackedEvents: this.agent.link.journal.state.unacked.length,
    };
  }

  private async ping(): Promise<void> {
    try {
      await this.driver.transport.ping();
      if (this.slurmUp === false) this.o.log.info('slurm reachable again');
      this.slurmUp = true;
      this.slurmError = undefined;
    } catch (err) {
      if (this.slurmUp !== false) this.o.log.warn({ err }, 'slurm unreachable');
      this.slurmUp = false;
      this.slurmError = err instanceof Error ? err.message : String(err);
    }
  }

  async start(): Promise<void> {
    await this.ping();
    const tick = (): void => {
      this.pinger = setTimeout(() => void this.ping().then(() => this.pinger && tick()), 5000);
    };
    tick();
    this.agent.start();
  }

  async stop(): Promise<void> {
    if (this.pinger) clearTimeout(this.pinger);
    this.pinger = undefined;
    await this.agent.stop();
  }
}
