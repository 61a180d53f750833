// `npm run check:gpu`: runs the native NVML addon and the agent's collector against the real NVML of the
// machine it runs on, and cross-checks what they read with nvidia-smi. CI machines have no GPU (the suite uses
// the fake NVML); this is the check to run on a GPU host before trusting a new driver or addon build.
//
//   npm run check:gpu -- [--out DIR] [--load-cmd "python3 -c '...'"] [--seconds 16]
//
// Exits 1 when NVML cannot be opened, when the addon and nvidia-smi disagree on inventory, when a full
// sample reports an error, or when GPU utilisation never rises while --load-cmd runs.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { openNvml, readRdmaPorts } from '@meridian/native';
import type { GpuInventoryItem } from '@meridian/native';
import { openNvmlGpuSource } from '@meridian/edge-agent/telemetry/native-sources';
import { TelemetryCollector } from '@meridian/edge-agent/telemetry/collector';
import { compareInventory, parseSmiInventory, percentile } from './smi.ts';

const seconds = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 600) throw new InvalidArgumentError('expected whole seconds, 1..600');
  return n;
};

const opts = new Command('check:gpu')
  .option('--out <dir>', 'where report.json and metrics.txt go', '.meridian/gpu-check')
  .option('--load-cmd <cmd>', 'a shell command that keeps the GPU busy while samples are taken')
  .option('--seconds <n>', 'samples taken once a second for this long', seconds, 16)
  .option('--child-unref-stop', 'internal: open NVML, watch events, unref(), stop() and exit')
  .parse()
  .opts<{ out: string; loadCmd?: string; seconds: number; childUnrefStop?: boolean }>();

if (opts.childUnrefStop) {
  // Nothing else holds the event loop here: the process must still exit 0 (an addon bug once aborted it).
  const n = openNvml();
  if (!n.available) process.exit(3);
  const w = n.watchEvents(() => {});
  w.unref();
  await w.stop();
  n.close();
  process.exit(0);
}

const failures: string[] = [];
const report: Record<string, unknown> = { startedAt: new Date().toISOString() };
mkdirSync(opts.out, { recursive: true });

const nvml = openNvml();
if (!nvml.available) {
  console.error(`NVML unavailable: ${nvml.reason}`);
  process.exit(1);
}
Object.assign(report, { driverVersion: nvml.driverVersion, nvmlVersion: nvml.nvmlVersion, libraryPath: nvml.libraryPath });
console.log(`NVML ${nvml.nvmlVersion}, driver ${nvml.driverVersion} (${nvml.libraryPath})`);

const inventory: GpuInventoryItem[] = await nvml.inventory();
report.inventory = inventory;
for (const g of inventory) console.log(`GPU ${g.index} ${g.name} ${g.uuid} ${g.pciBusId} ${g.memoryTotalBytes === null ? '?' : (g.memoryTotalBytes / 2 ** 30).toFixed(1)} GiB ${g.health}`);

const smi = spawnSync('nvidia-smi', ['--query-gpu=index,uuid,name,pci.bus_id,memory.total,driver_version', '--format=csv,noheader,nounits'], { encoding: 'utf8' });
if (smi.status === 0) {
  const mismatches = compareInventory(inventory, nvml.driverVersion, parseSmiInventory(smi.stdout));
  report.nvidiaSmiMismatches = mismatches;
  failures.push(...mismatches.map((m) => `nvidia-smi disagrees: ${m}`));
  console.log(mismatches.length === 0 ? 'inventory matches nvidia-smi' : `inventory mismatches: ${mismatches.join('; ')}`);
} else {
  console.log('nvidia-smi not found: inventory not cross-checked');
}

const events: unknown[] = [];
const watcher = nvml.watchEvents((ev) => events.push(ev));
report.eventRegistration = watcher.registration;

const first = await nvml.readGpus();
report.firstSample = first;
for (const s of first) {
  const supported = Object.values(s.metrics).filter((v) => v !== null).length;
  console.log(`GPU ${s.index}: ${supported}/${Object.keys(s.metrics).length} metrics; unsupported ${s.unsupported.join(', ') || 'none'}`);
  for (const [k, e] of Object.entries(s.errors)) failures.push(`GPU ${s.index} ${k}: ${e}`);
}

const latencies: number[] = [];
for (let i = 0; i < 200; i++) {
  const t = process.hrtime.bigint();
  await nvml.readGpus();
  latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
}
report.fullSampleMs = { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: Math.max(...latencies) };
console.log(`full sample of every GPU: p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms`);

// The event loop must stay free while samples and the event thread run.
let maxLag = 0;
let last = Date.now();
const lagTimer = setInterval(() => {
  const now = Date.now();
  maxLag = Math.max(maxLag, now - last - 10);
  last = now;
}, 10);
const load = opts.loadCmd ? spawn('sh', ['-c', opts.loadCmd], { stdio: 'inherit' }) : null;
const loadExit = load ? new Promise((r) => load.on('exit', r)) : Promise.resolve();
const timeline: Record<string, unknown>[] = [];
const cpuBefore = process.cpuUsage();
const wallBefore = process.hrtime.bigint();
for (let t = 1; t <= opts.seconds; t++) {
  await new Promise((r) => setTimeout(r, 1000));
  for (const s of await nvml.readGpus()) {
    const m = s.metrics;
    const row = { t, gpu: s.index, util: m.gpu_util, memCopyUtil: m.mem_copy_util, powerW: m.power_usage_mw === null ? null : m.power_usage_mw / 1000, tempC: m.gpu_temp, smMHz: m.sm_clock_mhz, fbUsedMiB: m.fb_used_bytes === null ? null : Math.round(m.fb_used_bytes / 2 ** 20), clocks: s.clocksEventReasons.join('|') };
    timeline.push(row);
    console.log(JSON.stringify(row));
  }
}
const cpu = process.cpuUsage(cpuBefore);
const cpuPercent = ((cpu.user + cpu.system) / 1000 / (Number(process.hrtime.bigint() - wallBefore) / 1e6)) * 100;
const rssMiB = process.memoryUsage().rss / 2 ** 20;
await loadExit;
clearInterval(lagTimer);
Object.assign(report, { timeline, maxEventLoopLagMs: maxLag, events, samplingCpuPercent: cpuPercent, rssMiB });
console.log(`largest event-loop lag while sampling: ${maxLag} ms; NVML events seen: ${events.length}`);
console.log(`this process while sampling once a second: ${cpuPercent.toFixed(2)} % of a core, RSS ${rssMiB.toFixed(0)} MiB`);
if (load && !timeline.some((r) => typeof r.util === 'number' && r.util > 50)) failures.push('GPU utilisation never rose above 50% while --load-cmd ran');
await watcher.stop();
nvml.close();

// What the agent serves on /metrics, through the same NVML.
const source = openNvmlGpuSource({});
const collector = new TelemetryCollector({ gpus: source, hostname: 'gpu-check', cluster: 'gpu-check' });
const scrape = await collector.collect();
writeFileSync(join(opts.out, 'metrics.txt'), await collector.registry.metrics());
report.collector = { series: scrape.samples, errors: scrape.errors, simulated: source.simulated };
failures.push(...scrape.errors.map((e) => `collector: ${e}`));
await source.close();
console.log(`collector: ${scrape.samples} series${source.simulated ? ' (simulated)' : ''}, written to ${join(opts.out, 'metrics.txt')}`);

const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, '--child-unref-stop'], { encoding: 'utf8', timeout: 30_000 });
report.unrefStopChild = { status: child.status, signal: child.signal, stderr: child.stderr.slice(-2000) };
if (child.status !== 0) failures.push(`a process that unref()s and stop()s the event watcher exited ${child.status ?? child.signal}: ${child.stderr.slice(-500)}`);
console.log(`watcher unref()+stop() in a bare process: exit ${child.status ?? child.signal}`);

const rdma = await readRdmaPorts({});
report.rdma = rdma;
console.log(`RDMA: ${rdma.available ? `${rdma.ports.length} port(s)` : rdma.reason}`);

report.failures = failures;
writeFileSync(join(opts.out, 'report.json'), JSON.stringify(report, null, 2));
console.log(failures.length === 0 ? 'gpu check passed' : `gpu check FAILED:\n  ${failures.join('\n  ')}`);
process.exit(failures.length === 0 ? 0 : 1);
