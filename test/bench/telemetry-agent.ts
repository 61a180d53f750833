// Benchmark helper: one edge agent's telemetry loop in its own process, at a 1 s scrape of 8 GPUs (fake NVML
// through the real addon, or synthetic readings when the addon cannot be built) and 8 IB ports (sysfs fixture
// read by @meridian/native), buffered in a WAL and forwarded to the hub. Prints one JSON line when done.
//   node --import tsx test/bench/telemetry-agent.ts <hubWriteUrl> <seconds> <workDir>
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { TelemetryCollector } from '@meridian/edge-agent/telemetry/collector';
import type { GpuSource, RdmaSource } from '@meridian/edge-agent/telemetry/collector';
import { Forwarder } from '@meridian/edge-agent/telemetry/forwarder';
import { TelemetryPipeline } from '@meridian/edge-agent/telemetry/pipeline';
import { syntheticNode } from '@meridian/edge-agent/telemetry/testing/fixtures';
import { Wal } from '@meridian/edge-agent/telemetry/wal';

const [url, secondsArg, workDir] = process.argv.slice(2);
if (!url || !secondsArg || !workDir) {
  console.error('usage: telemetry-agent <hubWriteUrl> <seconds> <workDir>');
  process.exit(2);
}
const seconds = Number(secondsArg);

let gpus: GpuSource;
let rdma: RdmaSource;
let source: string;
let close = async () => {};
try {
  const native = await import('@meridian/native/fixtures');
  const { openNvmlGpuSource, sysfsRdmaSource } = await import('@meridian/edge-agent/telemetry/native-sources');
  await native.buildAddonIfStale();
  await native.buildFakeNvml();
  const script = join(workDir, 'gpus.script');
  process.env.MERIDIAN_FAKE_NVML_SCRIPT = script;
  native.writeFakeNvmlScript(script, { gpus: Array.from({ length: 8 }, (_, i) => ({ uuid: `GPU-bench-${i}`, util: 10 * i, nvlinks: 18 })) });
  const root = native.writeMlx5Fixture(
    join(workDir, 'sys'),
    Array.from({ length: 8 }, (_, i) => ({ name: `mlx5_${i}`, boardId: 'MT_0000000838', ports: { 1: { counters: { port_xmit_data: 1000 * i } } } })),
  );
  const g = openNvmlGpuSource({ libraryPath: native.FAKE_NVML_PATH });
  if (!g.available) throw new Error(g.reason ?? 'no NVML');
  gpus = g;
  rdma = sysfsRdmaSource({ root, simulated: true });
  source = 'fake NVML via the native addon + mlx5 sysfs fixture';
  close = () => g.close();
} catch (err) {
  const node = syntheticNode(8, 8);
  gpus = node.gpus;
  rdma = node.rdma;
  source = `synthetic readings (native unavailable: ${(err as Error).message.slice(0, 80)})`;
}

const collector = new TelemetryCollector({ gpus, rdma, hostname: 'bench-node', cluster: 'bench', region: 'local', expectedGpus: 8, registry: new Registry() });
const wal = Wal.open({ dir: join(workDir, 'wal'), fsync: 'interval' });
const forwarder = new Forwarder({ wal, url, token: 'bench-token', agentId: 'bench' });
const pipeline = new TelemetryPipeline({ collector, wal, forwarder, intervalMs: 1000 });
pipeline.start();

// measure after a 3 s warm-up (module loading, JIT)
await new Promise((r) => setTimeout(r, 3000));
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const scrapes0 = pipeline.stats.scrapes;
let rssMax = 0;
const rssTimer = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 250);
await new Promise((r) => setTimeout(r, seconds * 1000));
clearInterval(rssTimer);
const cpu = process.cpuUsage(cpu0);
const wallMs = performance.now() - t0;
const scrapes = pipeline.stats.scrapes - scrapes0;
const samplesPerScrape = collector.last?.samples ?? 0;
await forwarder.drain(30_000).catch(() => undefined);
await pipeline.stop();
wal.close();
await close();
process.stdout.write(
  `${JSON.stringify({
    source,
    seconds: Math.round(wallMs / 100) / 10,
    scrapes,
    samplesPerScrape,
    cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 1000) / 10,
    rssMaxMiB: Math.round((rssMax / 1048576) * 10) / 10,
    forwardedSamples: forwarder.stats.sentSamples,
    bufferedSamples: pipeline.stats.bufferedSamples,
  })}\n`,
);
process.exit(0);
