// npm run bench:telemetry — telemetry pipeline throughput and agent footprint.
//
//  1. codec:       remote-write decode, hand-written vs protobufjs (one core)
//  2. hub core:    TelemetryIngest (decode, validate, dedup, tenant labels, hot state + health) in-process
//  3. hub HTTP:    the receiver in its own process behind a real socket, forwarding every sample to a
//                  remote-write sink; samples per CPU-second of that process (from /proc)
//  4. agent fwd:   encode → WAL append → read → snappy → POST, to a sink in another process
//  5. agent 1 s:   one agent process at a 1 s scrape of 8 GPUs (fake NVML through the addon) + 8 IB ports,
//                  forwarding to the hub of (3): CPU % and RSS
//  6. soak:        3 agents → hub → real Prometheus, hub stopped for 60 s; samples sent vs found by PromQL
// Options: --quick (shorter phases, 10 s outage), --no-soak. Prints a table, then one JSON line.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import { TelemetryCollector } from '@meridian/edge-agent/telemetry/collector';
import { Forwarder } from '@meridian/edge-agent/telemetry/forwarder';
import { TelemetryPipeline } from '@meridian/edge-agent/telemetry/pipeline';
import { compressProto, decodeWriteRequest, decodeWriteRequestReference, encodeWriteRequestProto, REMOTE_WRITE_HEADERS } from '@meridian/protocol/telemetry/remote-write';
import type { TimeSeries } from '@meridian/protocol/telemetry/remote-write';
import { syntheticNode } from '@meridian/edge-agent/telemetry/testing/fixtures';
import { Wal } from '@meridian/edge-agent/telemetry/wal';
import { PrometheusEngine } from '../src/harness/prometheus.ts';
import { TelemetryIngest } from '@meridian/hub/telemetry/ingest';
import { startReceiver } from '../src/doubles/telemetry-receiver.ts';

const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const SOAK = !args.has('--no-soak');
const OUTAGE_S = QUICK ? 10 : 60;
const here = fileURLToPath(new URL('.', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'bench-telemetry-'));
const children: ChildProcess[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const started = performance.now();
const log = (s: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${s}\n`);

process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

/** CPU seconds (user + system) a process has used, from /proc. */
function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100 on Linux)
}

function spawnTsx(script: string, argv: string[], env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; lines: AsyncIterableIterator<string>; out: () => string } {
  const child = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', script, ...argv], { stdio: ['ignore', 'pipe', 'inherit'], env });
  children.push(child);
  let buf = '';
  let all = '';
  const queue: string[] = [];
  let waiting: ((v: IteratorResult<string>) => void) | null = null;
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    all += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (waiting) {
        waiting({ value: line, done: false });
        waiting = null;
      } else queue.push(line);
    }
  });
  child.on('exit', () => waiting?.({ value: undefined, done: true }));
  const lines: AsyncIterableIterator<string> = {
    next: () => (queue.length ? Promise.resolve({ value: queue.shift()!, done: false }) : new Promise((r) => (waiting = r))),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return { child, lines, out: () => all };
}

/** A remote-write sink in another process: answers 204, counts nothing (its CPU is not the hub's). */
async function startSinkProcess(): Promise<{ url: string; child: ChildProcess }> {
  const code = `const s=require('node:http').createServer((q,r)=>{q.on('data',()=>{});q.on('end',()=>{r.statusCode=204;r.end()})});s.keepAliveTimeout=60000;s.listen(0,'127.0.0.1',()=>console.log(s.address().port))`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const port = await new Promise<number>((r) => child.stdout!.once('data', (d: Buffer) => r(Number(d.toString().trim()))));
  return { url: `http://127.0.0.1:${port}/api/v1/write`, child };
}

/** One collected scrape of a synthetic 8-GPU / 8-port node: the series every later scrape repeats. */
async function nodeTemplate(host: string): Promise<TimeSeries[]> {
  const node = syntheticNode(8, 8);
  const c = new TelemetryCollector({ gpus: node.gpus, rdma: node.rdma, hostname: host, cluster: 'bench', region: 'local', expectedGpus: 8, registry: new Registry() });
  return (await c.collect()).series;
}

/** The template's series at time t (same values: the receiver's cost does not depend on them, and health stays green). */
function scrapeAt(template: TimeSeries[], t: number): TimeSeries[] {
  return template.map((s) => ({ labels: s.labels, samples: [{ value: s.samples[0]!.value, timestamp: t }] }));
}

/** Remote-write requests shaped like real agent traffic: `scrapesPerRequest` 1 s scrapes of one 8-GPU node each. */
async function agentBodies(nodes: number, rounds: number, scrapesPerRequest: number): Promise<{ bodies: Buffer[]; samples: number; perScrape: number }> {
  const bodies: Buffer[] = [];
  let samples = 0;
  let perScrape = 0;
  const t0 = Date.now() - rounds * scrapesPerRequest * 1000 - 60_000;
  for (let n = 0; n < nodes; n++) {
    const template = await nodeTemplate(`node-${n}`);
    perScrape = template.length;
    let t = t0;
    for (let r = 0; r < rounds; r++) {
      const protos: Buffer[] = [];
      for (let s = 0; s < scrapesPerRequest; s++) {
        t += 1000;
        protos.push(encodeWriteRequestProto({ timeseries: scrapeAt(template, t) }));
        samples += template.length;
      }
      bodies[r * nodes + n] = compressProto(Buffer.concat(protos));
    }
  }
  return { bodies, samples, perScrape };
}

interface Row {
  what: string;
  value: string;
  note: string;
}
const rows: Row[] = [];
const result: Record<string, unknown> = { machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '?', node: process.version }, quick: QUICK };

// ---------------------------------------------------------------------------------------------- 1. codec
{
  log('1/6 codec');
  const { bodies, samples } = await agentBodies(1, 20, 10);
  const perBody = samples / bodies.length;
  const measure = (fn: (b: Buffer) => unknown) => {
    for (let i = 0; i < 30; i++) fn(bodies[i % bodies.length]!);
    const c0 = process.cpuUsage();
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < (QUICK ? 1000 : 3000)) fn(bodies[n++ % bodies.length]!);
    const c = process.cpuUsage(c0);
    return (n * perBody) / ((c.user + c.system) / 1e6);
  };
  const fast = measure((b) => decodeWriteRequest(b));
  const ref = measure((b) => decodeWriteRequestReference(b));
  rows.push({ what: 'remote-write decode (hand-written)', value: `${fmt(fast)} samples/s/core`, note: `protobufjs: ${fmt(ref)} (${(fast / ref).toFixed(1)}×)` });
  result.codec = { decodeSamplesPerCpuSecond: Math.round(fast), protobufjsSamplesPerCpuSecond: Math.round(ref) };
}

// ---------------------------------------------------------------------------------------------- 2. hub core
{
  log('2/6 hub core ingest');
  const rounds = QUICK ? 8 : 20;
  const { bodies, samples } = await agentBodies(20, rounds, 10);
  const ingest = new TelemetryIngest({ prometheus: null, limits: null });
  const tenant = { clusterId: 'bench', region: 'local' };
  // warm-up on a separate tenant, so the measured pass sees only new samples
  for (let i = 0; i < 20; i++) await ingest.ingestBody(bodies[i]!, { clusterId: 'warm', region: 'local' });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let accepted = 0;
  for (const b of bodies) {
    const r = await ingest.ingestBody(b, tenant);
    if (r.status !== 204) throw new Error(`ingest refused: ${JSON.stringify(r)}`);
    accepted += r.accepted;
  }
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const cpuS = (c.user + c.system) / 1e6;
  if (accepted !== samples) throw new Error(`accepted ${accepted} of ${samples}`);
  rows.push({ what: 'hub ingest core (in-process)', value: `${fmt(samples / cpuS)} samples/s/core`, note: `${fmt(samples)} samples, ${bodies.length} requests, ${wall.toFixed(2)} s; no forwarding` });
  result.hubCore = { samples, requests: bodies.length, samplesPerCpuSecond: Math.round(samples / cpuS), hotEntities: ingest.hot.size, gpusHealthy: ingest.hot.gpus().every((g) => g.health.status === 'healthy') };
}

// ---------------------------------------------------------------------------------------------- 3. hub HTTP
const sink = await startSinkProcess();
const hub = spawnTsx(join(here, 'telemetry-hub.ts'), [sink.url, 'forwarded']);
const hubPort = Number((await hub.lines.next()).value?.split(' ')[1]);
const hubWriteUrl = `http://127.0.0.1:${hubPort}/api/v1/telemetry/write`;
{
  log('3/6 hub over HTTP');
  const rounds = QUICK ? 10 : 30;
  const { bodies, samples, perScrape } = await agentBodies(20, rounds, 10);
  const post = (b: Buffer) => fetch(hubWriteUrl, { method: 'POST', headers: { ...REMOTE_WRITE_HEADERS, authorization: 'Bearer bench-token' }, body: b });
  // warm-up: the first round
  const warm = bodies.splice(0, 20);
  for (const b of warm) if ((await post(b)).status !== 204) throw new Error('hub refused warm-up');
  const sent = samples - (samples / rounds);
  const cpu0 = procCpuSeconds(hub.child.pid!);
  const t0 = performance.now();
  let next = 0;
  const concurrency = 4;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        const b = bodies[next++]!;
        const res = await post(b);
        if (res.status !== 204) throw new Error(`hub answered ${res.status}: ${await res.text()}`);
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const cpuS = procCpuSeconds(hub.child.pid!) - cpu0;
  const stats = (await (await fetch(`http://127.0.0.1:${hubPort}/api/v1/telemetry/stats`)).json()) as { ingest: { acceptedSamples: number }; prometheus: { sentSamples: number } };
  rows.push({ what: 'hub receiver over HTTP (own process)', value: `${fmt(sent / cpuS)} samples/s/core`, note: `${fmt(sent / wall)} samples/s wall, ${cpuS.toFixed(2)} CPU-s; ack after forwarding` });
  result.hubHttp = {
    samples: sent,
    requests: bodies.length,
    samplesPerRequest: Math.round(sent / bodies.length),
    seriesPerScrape: perScrape,
    wallSeconds: Math.round(wall * 100) / 100,
    cpuSeconds: Math.round(cpuS * 100) / 100,
    samplesPerSecondWall: Math.round(sent / wall),
    samplesPerCpuSecond: Math.round(sent / cpuS),
    forwardedSamples: stats.prometheus.sentSamples,
    acceptedSamples: stats.ingest.acceptedSamples,
  };
}

// ---------------------------------------------------------------------------------------------- 4. agent forward
{
  log('4/6 agent forward throughput');
  const template = await nodeTemplate('fwd');
  const tBase = Date.now() - 3_600_000;
  const n = QUICK ? 400 : 1500;
  const scrapes: TimeSeries[][] = Array.from({ length: n }, (_, i) => scrapeAt(template, tBase + i * 1000));
  const wal = Wal.open({ dir: join(work, 'fwd-wal'), fsync: 'interval' });
  const fwd = new Forwarder({ wal, url: sink.url, token: 'x', maxBatchSamples: 10_000 });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fwd.start();
  let samples = 0;
  for (let i = 0; i < scrapes.length; i++) {
    const s = scrapes[i]!;
    wal.append(encodeWriteRequestProto({ timeseries: s }), s.length);
    samples += s.length;
    if (i % 50 === 49) await sleep(0); // let the forwarder run, as a real scrape loop would
  }
  await fwd.drain(120_000);
  const wall = (performance.now() - t0) / 1000;
  const cu = process.cpuUsage(c0);
  const cpuS = (cu.user + cu.system) / 1e6;
  await fwd.stop();
  wal.close();
  rows.push({ what: 'agent encode + WAL + forward', value: `${fmt(samples / cpuS)} samples/s/core`, note: `${fmt(samples)} samples in ${wall.toFixed(2)} s, ${fwd.stats.sentRequests} requests` });
  result.agentForward = { samples, requests: fwd.stats.sentRequests, wallSeconds: Math.round(wall * 100) / 100, samplesPerCpuSecond: Math.round(samples / cpuS) };
}

// ---------------------------------------------------------------------------------------------- 5. agent at 1 s
{
  log('5/6 agent at a 1 s scrape (8 GPUs, 8 IB ports)');
  const seconds = QUICK ? 10 : 30;
  const dir = mkdtempSync(join(work, 'agent-'));
  const agent = spawnTsx(join(here, 'telemetry-agent.ts'), [hubWriteUrl, String(seconds), dir]);
  let line: string | undefined;
  for await (const l of agent.lines) if (l.startsWith('{')) {
    line = l;
    break;
  }
  const r = JSON.parse(line ?? '{}') as { source: string; scrapes: number; samplesPerScrape: number; cpuPercent: number; rssMaxMiB: number; forwardedSamples: number; bufferedSamples: number; seconds: number };
  rows.push({ what: 'agent at 1 s scrape: CPU', value: `${r.cpuPercent} % of one core`, note: `${r.samplesPerScrape} samples/scrape, ${r.scrapes} scrapes in ${r.seconds} s; ${r.source}` });
  rows.push({ what: 'agent at 1 s scrape: RSS', value: `${r.rssMaxMiB} MiB max`, note: `${fmt(r.forwardedSamples)} of ${fmt(r.bufferedSamples)} buffered samples forwarded` });
  result.agentScrape = r;
}
hub.child.kill('SIGTERM');
sink.child.kill('SIGTERM');

// ---------------------------------------------------------------------------------------------- 6. soak
if (SOAK) {
  log(`6/6 soak: 3 agents, hub down for ${OUTAGE_S} s, real Prometheus`);
  const prom = await PrometheusEngine.start();
  try {
    const runId = randomUUID().slice(0, 8);
    const port = await (await import('../src/harness/ports.ts')).freePort();
    const tokens = { 'soak-token': { clusterId: 'soak', region: 'local' } };
    const hubOpts = { port, tokens, ingest: { prometheus: { url: prom.remoteWriteUrl, maxBackoffMs: 2000 } } };
    let rx = await startReceiver(hubOpts);
    const agents = Array.from({ length: 3 }, (_, i) => {
      const node = syntheticNode(8, 8);
      const collector = new TelemetryCollector({ gpus: node.gpus, rdma: node.rdma, hostname: `soak-${runId}-${i}`, cluster: 'soak', registry: new Registry() });
      const wal = Wal.open({ dir: join(work, `soak-wal-${i}`), fsync: 'interval' });
      const forwarder = new Forwarder({ wal, url: rx.writeUrl, token: 'soak-token', maxBackoffMs: 5000 });
      const pipeline = new TelemetryPipeline({ collector, wal, forwarder, intervalMs: 1000 });
      return { node, wal, forwarder, pipeline };
    });
    const tick = setInterval(() => agents.forEach((a) => a.node.tick(Date.now())), 500);
    for (const a of agents) a.pipeline.start();
    await sleep(10_000);
    await rx.close();
    const downAt = Date.now();
    await sleep(OUTAGE_S * 1000);
    const pendingAtRestart = agents.reduce((n, a) => n + a.wal.pendingBytes, 0);
    rx = await startReceiver(hubOpts);
    const outage = (Date.now() - downAt) / 1000;
    await sleep(10_000);
    clearInterval(tick);
    for (const a of agents) await a.pipeline.stop(); // stops scraping and forwarding
    for (const a of agents) {
      a.forwarder.start();
      await a.forwarder.drain(120_000);
      await a.forwarder.stop();
      a.wal.close();
    }
    await rx.ingest.queue!.drain(60_000);
    const sent = agents.reduce((n, a) => n + a.pipeline.stats.bufferedSamples, 0);
    const dropped = agents.reduce((n, a) => n + a.pipeline.stats.droppedSamples, 0);
    // count_over_time drops __name__, so count per metric name and add up
    const sel = `{Hostname=~"soak-${runId}-.*"}`;
    const names = ((await (await fetch(`${prom.url}/api/v1/label/__name__/values?match[]=${encodeURIComponent(sel)}`)).json()) as { data: string[] }).data;
    let found = 0;
    for (const name of names) {
      const q = await prom.query(`sum(count_over_time(${name}${sel}[1h]))`);
      found += q.length ? Number(q[0]!.value[1]) : 0;
    }
    await rx.close();
    rows.push({ what: `soak: hub down ${Math.round(outage)} s, 3 agents`, value: `${fmt(sent)} sent / ${fmt(found)} in Prometheus`, note: `${found === sent ? 'equal' : 'MISMATCH'}; ${fmt(pendingAtRestart)} bytes buffered at restart; ${dropped} dropped` });
    result.soak = { outageSeconds: Math.round(outage), agents: 3, sentSamples: sent, foundInPrometheus: found, equal: found === sent, droppedSamples: dropped, bufferedBytesAtRestart: pendingAtRestart };
  } finally {
    await prom.stop();
  }
}

// ---------------------------------------------------------------------------------------------- report
const w1 = Math.max(...rows.map((r) => r.what.length));
const w2 = Math.max(...rows.map((r) => r.value.length));
console.log(`Telemetry pipeline benchmark (${cpus().length} CPUs, ${cpus()[0]?.model ?? '?'}, Node ${process.version})`);
console.log(`${'measure'.padEnd(w1)}  ${'result'.padEnd(w2)}  notes`);
console.log(`${'-'.repeat(w1)}  ${'-'.repeat(w2)}  -----`);
for (const r of rows) console.log(`${r.what.padEnd(w1)}  ${r.value.padEnd(w2)}  ${r.note}`);
console.log(JSON.stringify(result));
process.exit(0);
