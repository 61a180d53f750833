// The Kubernetes edge agent: the driver wired to the hub through hub-link (dial out, resume, seq/ack),
// with Prometheus metrics. When the cluster's apiserver has been unreachable for `apiserverLostAfterMs`,
// the agent stops talking to the hub (the hub then declares the cluster lost after its own timeout and
// requeues its jobs elsewhere) and reconnects once the apiserver is back.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import client from 'prom-client';
import type { AgentEvent, Command } from '@meridian/protocol/agent-protocol';
import { FileJournal, HubLink, MemoryJournal } from '../hub-link/index.ts';
import type { CommandOutcome, Journal } from '../hub-link/index.ts';
import { KubernetesDriver } from './driver.ts';
import type { DriverOptions } from './driver.ts';

export const AGENT_VERSION = 'meridian-edge-agent-kubernetes/0.1.0';

export interface AgentOptions extends Omit<DriverOptions, 'emit'> {
  hubUrl: string;
  credential: string;
  clusterId: string;
  /** Journal file (unacked events, applied command seq); memory when absent. */
  journalFile?: string;
  backoff?: { minMs: number; maxMs: number };
  /** Disconnect from the hub after the apiserver has been unreachable this long (0 = never). */
  apiserverLostAfterMs?: number;
  registry?: client.Registry;
}

export class KubernetesAgent {
  readonly driver: KubernetesDriver;
  readonly journal: Journal;
  readonly registry: client.Registry;
  link: HubLink;
  private linkPaused = false;
  private watchdog: NodeJS.Timeout | null = null;
  private firstInventoryMs: number | null = null;
  private readonly startedAt = Date.now();
  private readonly log: Pick<Logger, 'info' | 'warn' | 'debug' | 'error'> | undefined;

  constructor(private readonly o: AgentOptions) {
    this.log = o.log;
    this.journal = o.journalFile ? new FileJournal(o.journalFile) : new MemoryJournal();
    this.driver = new KubernetesDriver({ ...o, emit: (e) => this.emit(e) });
    this.link = this.newLink();
    this.registry = o.registry ?? new client.Registry();
    this.metrics();
  }

  static fromKubeconfig(path: string | undefined, o: Omit<AgentOptions, 'kubeConfig'>): KubernetesAgent {
    const kc = new k8s.KubeConfig();
    if (path) kc.loadFromFile(path);
    else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    else kc.loadFromDefault();
    return new KubernetesAgent({ ...o, kubeConfig: kc });
  }

  private newLink(): HubLink {
    const link = new HubLink({
      hubUrl: this.o.hubUrl,
      credential: this.o.credential,
      clusterId: this.o.clusterId,
      kind: 'kubernetes',
      agentVersion: AGENT_VERSION,
      journal: this.journal,
      onCommand: (cmd: Command) => this.driver.handle(cmd) as Promise<CommandOutcome | void>,
      ...(this.o.log ? { log: this.o.log } : {}),
      ...(this.o.backoff ? { backoff: this.o.backoff } : {}),
    });
    // Jobs held (suspended) from before a restart are released once the hub has replayed what it had
    // queued for us: a cancel in that backlog wins.
    link.events.once('ready', () => setTimeout(() => void this.driver.start().then(() => this.driver.releaseHeld()), 1000));
    return link;
  }

  private emit(e: AgentEvent): void {
    this.link.emit(e);
  }

  get hubConnected(): boolean {
    return this.link.status === 'ready';
  }

  /** Healthy when the apiserver is reachable and the hub link is up (or still being established). */
  health(): { ok: boolean; hub: string; kubeApi: 'up' | 'down'; apiError?: string; unackedEvents: number } {
    const kubeApi = this.driver.apiDownMs > 0 ? 'down' : 'up';
    return {
      ok: kubeApi === 'up' && !this.linkPaused,
      hub: this.linkPaused ? 'paused (apiserver unreachable)' : this.link.status,
      kubeApi,
      ...(this.driver.apiError && kubeApi === 'down' ? { apiError: this.driver.apiError } : {}),
      unackedEvents: this.journal.state.unacked.length,
    };
  }

  /** Connects to the hub and starts the informers; resolves after the first snapshot is journaled. */
  async start(): Promise<void> {
    this.link.start();
    await this.driver.start();
    this.firstInventoryMs = Date.now() - this.startedAt;
    const lostAfter = this.o.apiserverLostAfterMs ?? 30_000;
    if (lostAfter > 0) this.watchdog = setInterval(() => void this.checkApiserver(lostAfter), 1000);
  }

  private async checkApiserver(lostAfter: number): Promise<void> {
    const down = this.driver.apiDownMs;
    if (!this.linkPaused && down > lostAfter) {
      this.linkPaused = true;
      this.driver.givingUp = true;
      this.log?.warn({ downMs: down }, 'apiserver unreachable: disconnecting from the hub until it is back');
      await this.link.stop();
    } else if (this.linkPaused && down === 0) {
      this.log?.info('apiserver is back: reconnecting to the hub');
      this.driver.givingUp = false;
      this.link = this.newLink();
      this.linkPaused = false;
      this.link.start();
      this.driver.inventory.sendSnapshot();
    }
  }

  async stop(): Promise<void> {
    if (this.watchdog) clearInterval(this.watchdog);
    await this.driver.stop();
    await this.link.stop();
  }

  private metrics(): void {
    const r = this.registry;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- prom-client's collect() binds `this` to the metric
    const self = this;
    new client.Gauge({ name: 'meridian_agent_hub_connected', help: '1 when the hub link is ready', registers: [r], collect() { this.set(self.hubConnected ? 1 : 0); } });
    new client.Gauge({ name: 'meridian_agent_kube_api_up', help: '1 when the Kubernetes apiserver is reachable', registers: [r], collect() { this.set(self.driver.apiDownMs > 0 ? 0 : 1); } });
    new client.Gauge({ name: 'meridian_agent_nodes', help: 'Nodes in the informer cache', registers: [r], collect() { this.set(self.driver.inventory.nodes.list().length); } });
    new client.Gauge({ name: 'meridian_agent_journal_unacked_events', help: 'Events not yet acked by the hub', registers: [r], collect() { this.set(self.journal.state.unacked.length); } });
    new client.Gauge({ name: 'meridian_agent_first_inventory_seconds', help: 'Start to first full inventory snapshot', registers: [r], collect() { if (self.firstInventoryMs !== null) this.set(self.firstInventoryMs / 1000); } });
    new client.Gauge({
      name: 'meridian_agent_inventory_events',
      help: 'Inventory events emitted, by type',
      labelNames: ['type'],
      registers: [r],
      collect() {
        const s = self.driver.inventory.stats;
        this.set({ type: 'snapshot' }, s.snapshots);
        this.set({ type: 'delta' }, s.deltas);
        this.set({ type: 'node_upsert' }, s.nodeUpserts);
        this.set({ type: 'node_delete' }, s.nodeDeletes);
      },
    });
    new client.Gauge({
      name: 'meridian_agent_commands',
      help: 'Hub commands applied, by kind and result',
      labelNames: ['kind', 'result'],
      registers: [r],
      collect() {
        for (const [k, v] of self.driver.commandCounts) {
          const [kind, result] = k.split('\u0000') as [string, string];
          this.set({ kind, result }, v);
        }
      },
    });
    new client.Gauge({
      name: 'meridian_agent_drift_events',
      help: 'Drift events, by action',
      labelNames: ['action'],
      registers: [r],
      collect() {
        this.set({ action: 'reported' }, self.driver.drift.stats.reported);
        this.set({ action: 'reconciled' }, self.driver.drift.stats.reconciled);
      },
    });
  }
}
