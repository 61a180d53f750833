// GPU telemetry for the `edge-agent` process (`--telemetry`, either cluster kind): NVML (real, or the fake
// NVML with MERIDIAN_NVML_LIB / --nvml-lib) → TelemetryCollector (series on the agent's /metrics too) →
// write-ahead buffer → Forwarder → the hub's receiver (POST /api/v1/telemetry/write, cluster credential),
// which labels cluster/region and forwards to Prometheus. Series from the fake NVML carry simulated="true".
import { mkdirSync } from 'node:fs';
import { hostname as osHostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type client from 'prom-client';
import { linkRevocations } from './hub-link/index.ts';
import { TelemetryCollector } from './telemetry/collector.ts';
import { Forwarder } from './telemetry/forwarder.ts';
import { openNvmlGpuSource } from './telemetry/native-sources.ts';
import { nodeAllocationSource } from './telemetry/node-allocations.ts';
import type { NvmlGpuSource } from './telemetry/native-sources.ts';
import { TelemetryPipeline } from './telemetry/pipeline.ts';
import { Wal } from './telemetry/wal.ts';

export interface TelemetryModeOptions {
  telemetry: boolean;
  telemetryWal?: string;
  telemetryInterval: number;
  nvmlLib?: string;
  nodeName?: string;
  /** who holds each GPU, for the pod / slurm_job_id labels: kubelet PodResources, Slurm on this node, both, off */
  gpuJobs?: 'pods' | 'slurm' | 'both' | 'off';
}

export interface TelemetryHandle {
  readonly gpus: NvmlGpuSource;
  readonly pipeline: TelemetryPipeline;
  readonly forwarder: Forwarder;
  stop(): Promise<void>;
}

export function startTelemetry(o: TelemetryModeOptions & { hubUrl: string; credential: string; clusterId: string; registry: client.Registry; log: Logger }): TelemetryHandle {
  const gpus = openNvmlGpuSource(o.nvmlLib ? { libraryPath: o.nvmlLib } : {});
  if (!gpus.available) o.log.warn({ reason: gpus.reason }, 'NVML unavailable: telemetry exports meridian_node_nvml_up 0 and no GPUs');
  const dir = o.telemetryWal ?? join(tmpdir(), `meridian-telemetry-${o.clusterId}-${o.nodeName ?? 'agent'}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const wal = Wal.open({ dir });
  const hostname = o.nodeName ?? osHostname();
  const jobs = o.gpuJobs ?? 'pods';
  // No PodResources socket or no Slurm on this node is not an error: the series then just carry no job labels.
  const allocations = jobs === 'off' ? null : nodeAllocationSource({ nodeName: hostname, podResourcesSocket: jobs === 'slurm' ? false : undefined, slurm: jobs === 'slurm' || jobs === 'both', log: o.log });
  const collector = new TelemetryCollector({ gpus, hostname, cluster: o.clusterId, registry: o.registry, ...(allocations ? { allocations } : {}) });
  const forwarder = new Forwarder({
    wal,
    url: `${o.hubUrl.replace(/\/+$/, '')}/api/v1/telemetry/write`,
    token: o.credential,
    agentId: o.clusterId,
    logger: o.log,
  });
  // The receiver refused the credential for good (the forwarder logged why): end the process as the hub link does.
  forwarder.once('fatal', ({ reason }: { reason: string }) => linkRevocations.emit('revoked', { clusterId: o.clusterId, message: `telemetry: ${reason}` }));
  const pipeline = new TelemetryPipeline({ collector, wal, forwarder, intervalMs: o.telemetryInterval });
  pipeline.start();
  o.log.info({ wal: dir, hostname, gpuJobs: jobs, simulated: gpus.simulated, available: gpus.available }, 'telemetry started');
  return {
    gpus,
    pipeline,
    forwarder,
    async stop() {
      await pipeline.stop();
      wal.close();
      allocations?.close();
      await gpus.close();
    },
  };
}
