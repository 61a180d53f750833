// Collector-only mode (`edge-agent --kind collector --node-name <node>`): one process per GPU node (a
// DaemonSet on real clusters) that runs only the telemetry pipeline for that node's GPUs — NVML → collector →
// write-ahead buffer → forwarder → the hub's receiver — with every series labelled Hostname=<node>, so the hub
// attributes GPU health to that node of the cluster. No Kubernetes or Slurm driver, no hub link: the
// cluster's own agent keeps inventory and commands; this process only reports what the GPUs say.
import type { Logger } from 'pino';
import type client from 'prom-client';
import { startTelemetry } from './telemetry-mode.ts';
import type { TelemetryHandle, TelemetryModeOptions } from './telemetry-mode.ts';

export const COLLECTOR_VERSION = '0.1.0';

/** A Kubernetes node name (DNS-1123 subdomain) or a Slurm node name: what the hub matches GPU health to. */
const NODE_NAME = /^[A-Za-z0-9]([-A-Za-z0-9._]{0,251}[A-Za-z0-9])?$/;

export function checkNodeName(name: string | undefined): string {
  if (name === undefined || name === '') {
    throw new Error(
      '--kind collector needs --node-name <node> (env MERIDIAN_NODE_NAME): the name of this node in its cluster (Kubernetes: spec.nodeName from the downward API; Slurm: the NodeName)',
    );
  }
  if (!NODE_NAME.test(name)) throw new Error(`--node-name ${JSON.stringify(name)} is not a node name (letters, digits, '-', '.', '_'; starting and ending with a letter or digit)`);
  return name;
}

export interface CollectorOptions extends TelemetryModeOptions {
  hubUrl: string;
  clusterId: string;
  credential: string;
  nodeName: string;
  registry: client.Registry;
  log: Logger;
}

/** The agent handle main.ts serves /healthz for: healthy while the hub accepts what the collector forwards. */
export class CollectorAgent {
  private telemetry: TelemetryHandle | null = null;

  constructor(private readonly o: CollectorOptions) {}

  async start(): Promise<void> {
    this.telemetry = startTelemetry({ ...this.o, telemetry: true });
  }

  health(): { ok: boolean; node: string; nvml: boolean; simulated: boolean; forwarder: unknown } {
    const t = this.telemetry;
    const f = t?.forwarder.stats;
    const stats = t && f ? { scrapes: t.pipeline.stats.scrapes, sentSamples: f.sentSamples, retries: f.retries, lastStatus: f.lastStatus, lastError: f.lastError } : null;
    return {
      // NVML missing is reported, not fatal (meridian_node_nvml_up 0): the process itself is fine
      ok: t !== null,
      node: this.o.nodeName,
      nvml: t?.gpus.available ?? false,
      simulated: t?.gpus.simulated ?? false,
      forwarder: stats,
    };
  }

  async stop(): Promise<void> {
    await this.telemetry?.stop();
    this.telemetry = null;
  }
}
