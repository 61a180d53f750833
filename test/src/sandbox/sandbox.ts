// The local federation: every engine from the harness, the hub, and (as they land) the agents.
// Engines that do not depend on each other start in parallel; the 2-core machines this runs on
// make the Kubernetes control planes the long pole.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon, EngineError } from '../harness/daemon.ts';
import { goBinary, repoRoot } from '../harness/engines.ts';
import { KubeCluster } from '../harness/kube/cluster.ts';
import { httpGet } from '../harness/kube/probe.ts';
import { freePort } from '../harness/ports.ts';
import { PostgresEngine } from '../harness/postgres.ts';
import { PrometheusEngine } from '../harness/prometheus.ts';
import { RunDir } from '../harness/rundir.ts';
import { SlurmCluster } from '../harness/slurm.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { buildAddonIfStale, buildFakeNvml } from '@meridian/native/fixtures';
import { CollectorProcess } from '../e2e/collector-process.ts';
import { KubeAgentProcess } from '../e2e/kubernetes-agents.ts';
import { SlurmAgentProcess } from '../e2e/slurm-agents.ts';
import { kubeRegions, links, SHARDS_PER_GPU, slurmAccounts, slurmSite, slurmSiteConfig } from './topology.ts';
import { buildJobIdLib } from '../harness/sbatch-jobid.ts';
import { ensureCommandsBundle } from '@meridian/slurm-bridge/build-commands';

/** The Slurm-compatible login-node commands MERIDIAN_BIN carries (slurm-bridge/bin). */
const LOGIN_COMMANDS = ['sbatch', 'squeue', 'scancel', 'sinfo', 'sacct', 'scontrol', 'sacctmgr'] as const;

export interface SandboxFacts {
  MERIDIAN_URL: string;
  MERIDIAN_TOKEN: string;
  MERIDIAN_BIN: string;
  DATABASE_URL: string;
  TEMPORAL_ADDRESS: string;
  PROMETHEUS_URL: string;
  /** The hub's scrape token: GET /metrics needs `Authorization: Bearer` it (the sandbox's Prometheus sends it). */
  MERIDIAN_METRICS_TOKEN: string;
  SLURM_CONF: string;
  SLURMRESTD_URL: string;
  [kubeconfig: `KUBECONFIG_${string}`]: string;
}

export const stateDir = join(repoRoot, '.meridian');
export const envFile = join(stateDir, 'sandbox.env');

type Log = (msg: string) => void;

export class Sandbox {
  postgres?: PostgresEngine;
  temporal?: TemporalEngine;
  prometheus?: PrometheusEngine;
  slurm?: SlurmCluster;
  readonly regions = new Map<string, KubeCluster>();
  private hub?: Daemon;
  private hubDir?: RunDir;
  /** Kubernetes edge agents, one per region (startAgents). */
  readonly kubeAgents = new Map<string, KubeAgentProcess>();
  private agentDir?: RunDir;
  /** The Slurm edge agent for slurmSite (startSlurmAgent). */
  slurmAgent?: SlurmAgentProcess;
  private slurmAgentDir?: RunDir;
  /** Cluster credentials the hub issued at registration, by cluster id. */
  private readonly credentials = new Map<string, string>();
  /** One GPU collector per GPU node of every cluster (startCollectors). */
  readonly collectors: CollectorProcess[] = [];

  constructor(private readonly log: Log = (m) => console.log(m)) {}

  async start(): Promise<SandboxFacts> {
    const t0 = Date.now();
    const step = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
      const s = Date.now();
      const v = await fn();
      this.log(`  ✓ ${what} (${((Date.now() - s) / 1000).toFixed(1)} s)`);
      return v;
    };
    this.log('starting engines ...');
    // The hub's port and scrape token are chosen first, so Prometheus scrapes the hub from its start.
    const hubPort = await freePort();
    const metricsToken = randomBytes(24).toString('hex');
    // Postgres, Temporal, Prometheus and Slurm are light; start them while the first control plane boots.
    const light = Promise.all([
      step('postgres', async () => (this.postgres = await PostgresEngine.start({ database: 'meridian' }))),
      step('temporal', async () => (this.temporal = await TemporalEngine.start())),
      step('prometheus', async () => (this.prometheus = await PrometheusEngine.start({ hub: { target: `127.0.0.1:${hubPort}`, token: metricsToken } }))),
      step(`slurm cluster ${slurmSite.clusterId} (${slurmSite.nodes.length} GPU nodes)`, async () => (this.slurm = await SlurmCluster.start({ clusterName: slurmSite.clusterId, nodes: slurmSite.nodes, extraConfig: slurmSiteConfig, accounting: { accounts: slurmAccounts } }))),
    ]);
    // Kubernetes regions one after another: two control planes booting at once on 2 cores is slower than in turn.
    for (const r of kubeRegions) {
      await step(`kubernetes region ${r.region} (${r.nodes.length} × ${r.nodes[0]?.gpus} ${r.nodes[0]?.gpuModel}${r.realNode ? ' + a real node' : ''})`, async () => {
        this.regions.set(r.clusterId, await KubeCluster.start({ name: r.clusterId, nodes: r.nodes, realNode: r.realNode }));
      });
    }
    await light;
    const token = `mrd_${randomBytes(24).toString('hex')}`;
    const hubUrl = await step('hub', () => this.startHub(token, hubPort, metricsToken));
    await Promise.all([
      step(`edge agents for ${kubeRegions.map((r) => r.clusterId).join(', ')}`, () => this.startAgents(hubUrl, token)),
      step(`slurm edge agent for ${slurmSite.clusterId}`, () => this.startSlurmAgent(hubUrl, token)),
    ]);
    await step('GPU collectors, one per GPU node (fake NVML)', () => this.startCollectors(hubUrl));
    const bin = await this.writeBinDir();
    const facts: SandboxFacts = {
      MERIDIAN_URL: hubUrl,
      MERIDIAN_TOKEN: token,
      MERIDIAN_BIN: bin,
      DATABASE_URL: this.postgres!.url,
      TEMPORAL_ADDRESS: this.temporal!.address,
      PROMETHEUS_URL: this.prometheus!.url,
      MERIDIAN_METRICS_TOKEN: metricsToken,
      SLURM_CONF: this.slurm!.confPath,
      SLURMRESTD_URL: this.slurm!.restUrl,
    };
    for (const [id, cluster] of this.regions) facts[`KUBECONFIG_${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] = cluster.kubeconfigPath;
    this.writeEnvFile(facts);
    this.log(`all up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return facts;
  }

  private async startHub(token: string, port: number, metricsToken: string): Promise<string> {
    this.hubDir = RunDir.create('hub');
    this.hub = new Daemon(
      {
        name: 'hub',
        command: process.execPath,
        args: [join(repoRoot, 'hub/dist/main.js')],
        cwd: repoRoot,
        env: {
          ...process.env,
          HOST: '127.0.0.1',
          PORT: String(port),
          DATABASE_URL: this.postgres!.url,
          TEMPORAL_ADDRESS: this.temporal!.address,
          PROMETHEUS_URL: this.prometheus!.url,
          PROMETHEUS_REMOTE_WRITE_URL: this.prometheus!.remoteWriteUrl,
          MERIDIAN_BOOTSTRAP_TOKEN: token,
          MERIDIAN_METRICS_TOKEN: metricsToken,
          // a fresh database each start, so a fresh key
          MERIDIAN_SECRETS_KEY: randomBytes(32).toString('base64'),
        },
      },
      this.hubDir,
    ).start();
    const url = `http://127.0.0.1:${port}`;
    await this.hub.waitReady(async () => (await httpGet(`${url}/healthz`)).status === 200, 90_000, 250);
    return url;
  }

  // ---- startAgents: Kubernetes edge agents (issue 5) ----
  /**
   * Registers each Kubernetes region of the topology at the hub (POST /api/v1/clusters returns the cluster
   * credential, once) and starts one `edge-agent` process per region with that credential, its kubeconfig
   * and a journal, supervised like the other engines.
   */
  private async startAgents(hubUrl: string, token: string): Promise<void> {
    this.agentDir = RunDir.create('edge-agents');
    for (const r of kubeRegions) {
      const credential = await this.registerCluster(hubUrl, token, { id: r.clusterId, region: r.region, kind: 'kubernetes', prices: r.prices });
      const agent = new KubeAgentProcess({ hubUrl, clusterId: r.clusterId, credential, kubeconfigPath: this.regions.get(r.clusterId)!.kubeconfigPath, runDir: this.agentDir });
      this.kubeAgents.set(r.clusterId, agent);
    }
    await Promise.all([...this.kubeAgents.values()].map((a) => a.start()));
  }

  /**
   * Registers a cluster of the topology at the hub with its links to the other regions and returns its agent
   * credential (a re-run against the same hub gets a fresh one: the hub shows a credential only once).
   */
  private async registerCluster(hubUrl: string, token: string, c: { id: string; region: string; kind: 'kubernetes' | 'slurm'; prices: unknown }): Promise<string> {
    const api = async (path: string, body: unknown): Promise<{ status: number; body: { credential?: string; message?: string } }> => {
      const res = await fetch(`${hubUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as { credential?: string; message?: string } };
    };
    const clusterLinks = links.flatMap((l) =>
      l.from === c.region ? [{ region: l.to, bandwidthBytesPerSec: l.bandwidthBytesPerSec, egressUsdPerGB: l.egressUsdPerGB }]
      : l.to === c.region ? [{ region: l.from, bandwidthBytesPerSec: l.bandwidthBytesPerSec, egressUsdPerGB: l.egressUsdPerGB }]
      : [],
    );
    let res = await api('/api/v1/clusters', { ...c, links: clusterLinks });
    if (res.status === 409) res = await api(`/api/v1/clusters/${c.id}/credential`, {});
    if (!res.body.credential) throw new EngineError(`registering cluster ${c.id} at the hub failed: HTTP ${res.status} ${res.body.message ?? ''}`);
    this.credentials.set(c.id, res.body.credential);
    return res.body.credential;
  }

  // ---- startSlurmAgent: the Slurm edge agent ----
  /**
   * Registers the topology's Slurm cluster at the hub (kind "slurm") and starts one `edge-agent --kind slurm`
   * for it: the local Slurm CLI with the sandbox's slurm.conf, a journal, and a world-writable job directory.
   */
  private async startSlurmAgent(hubUrl: string, token: string): Promise<void> {
    this.slurmAgentDir = RunDir.create('edge-agent-slurm');
    const s = slurmSite;
    const credential = await this.registerCluster(hubUrl, token, { id: s.clusterId, region: s.region, kind: 'slurm', prices: s.prices });
    // Jobs keep their Meridian ID in Slurm and GPU shares run as gres/shard (docs/slurm.md).
    const args = ['--slurm-jobid-lib', buildJobIdLib(), '--slurm-shards-per-gpu', String(SHARDS_PER_GPU)];
    this.slurmAgent = new SlurmAgentProcess({ hubUrl, clusterId: s.clusterId, credential, slurmConf: this.slurm!.confPath, runDir: this.slurmAgentDir, args });
    await this.slurmAgent.start();
  }

  // ---- startCollectors: GPU telemetry from every GPU node ----
  /**
   * Runs `edge-agent --kind collector --node-name <node>` (the chart's DaemonSet command) for every GPU node of
   * every cluster, each over the fake NVML scripted with that node's GPUs. Series flow collector → hub receiver
   * (cluster credential) → Prometheus, labelled with the cluster, region, node and simulated="true", and GPU
   * health reaches the hub's remediation loop per node.
   */
  private async startCollectors(hubUrl: string): Promise<void> {
    await buildAddonIfStale();
    await buildFakeNvml();
    const dir = RunDir.create('gpu-collectors');
    const pools = [
      ...kubeRegions.map((r) => ({ clusterId: r.clusterId, nvmlName: r.nvmlName, nodes: r.nodes.map((n) => ({ name: n.name, gpus: n.gpus })) })),
      { clusterId: slurmSite.clusterId, nvmlName: slurmSite.nvmlName, nodes: slurmSite.nodes.map((n) => ({ name: n.name, gpus: n.gpus ?? 0 })) },
    ];
    for (const p of pools) {
      for (const n of p.nodes.filter((node) => node.gpus > 0)) {
        this.collectors.push(new CollectorProcess({ hubUrl, clusterId: p.clusterId, credential: this.credentials.get(p.clusterId)!, node: n.name, gpus: n.gpus, gpuName: p.nvmlName, intervalMs: 5000, runDir: dir }));
      }
    }
    await Promise.all(this.collectors.map((c) => c.start()));
  }

  /**
   * MERIDIAN_BIN: kubectl, the meridian CLI and the login-node commands. The login commands run the prebuilt
   * slurm-bridge bundle, (re)built here when its sources changed so the sandbox never serves stale code.
   */
  private async writeBinDir(): Promise<string> {
    const bin = join(stateDir, 'bin');
    rmSync(bin, { recursive: true, force: true });
    mkdirSync(bin, { recursive: true });
    const links: Record<string, string> = { kubectl: goBinary('kube', 'kubectl') };
    const meridianCli = join(repoRoot, 'hub/bin/meridian.js');
    if (existsSync(meridianCli)) links.meridian = meridianCli;
    await ensureCommandsBundle();
    for (const cmd of LOGIN_COMMANDS) links[cmd] = join(repoRoot, 'slurm-bridge/bin', cmd);
    for (const [name, target] of Object.entries(links)) symlinkSync(target, join(bin, name));
    return bin;
  }

  private writeEnvFile(facts: SandboxFacts): void {
    mkdirSync(stateDir, { recursive: true });
    const lines = Object.entries(facts).map(([k, v]) => `export ${k}=${shellQuote(v)}`);
    writeFileSync(envFile, `# Written by npm start; source it: . .meridian/sandbox.env\n${lines.join('\n')}\n`, { mode: 0o600 });
  }

  async stop(): Promise<void> {
    const errors: unknown[] = [];
    const attempt = async (fn?: () => Promise<void>) => {
      try {
        await fn?.();
      } catch (err) {
        errors.push(err);
      }
    };
    for (const c of this.collectors) await attempt(() => c.stop());
    for (const a of this.kubeAgents.values()) await attempt(() => a.stop());
    this.agentDir?.remove();
    await attempt(this.slurmAgent && (() => this.slurmAgent!.stop()));
    this.slurmAgentDir?.remove();
    await attempt(this.hub && (() => this.hub!.stop()));
    this.hubDir?.remove();
    for (const c of this.regions.values()) await attempt(() => c.stop());
    await attempt(this.slurm && (() => this.slurm!.stop()));
    await attempt(this.prometheus && (() => this.prometheus!.stop()));
    await attempt(this.temporal && (() => this.temporal!.stop()));
    await attempt(this.postgres && (() => this.postgres!.stop()));
    rmSync(envFile, { force: true });
    if (errors.length) throw new EngineError(`sandbox stop: ${errors.map(String).join('; ')}`);
  }
}

function shellQuote(v: string): string {
  return /^[A-Za-z0-9_./:@=-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}
