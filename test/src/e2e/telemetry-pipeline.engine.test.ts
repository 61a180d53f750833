// End to end on real engines: agent WAL + forwarder → hub receiver (Fastify plugin on a real socket) →
// real Prometheus (remote-write receiver), counted with PromQL.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import snappy from 'snappy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Forwarder } from '@meridian/edge-agent/telemetry/forwarder';
import { encodeWriteRequest, encodeWriteRequestProto, REMOTE_WRITE_HEADERS } from '@meridian/protocol/telemetry/remote-write';
import { Wal } from '@meridian/edge-agent/telemetry/wal';
import { PrometheusEngine } from '../harness/prometheus.ts';
import { freePort } from '../harness/ports.ts';
import { startReceiver } from '../doubles/telemetry-receiver.ts';
import type { RunningReceiver } from '../doubles/telemetry-receiver.ts';

const TOKENS = { 'token-eu': { clusterId: 'eu-a', region: 'eu-west' } };
const CHILD = fileURLToPath(new URL('../doubles/forwarder-child.ts', import.meta.url));
/** outage length in this test; the soak benchmark (npm run bench:telemetry) keeps the full 60 s */
const OUTAGE_MS = 10_000;

let prom: PrometheusEngine;
const dirs: string[] = [];
const receivers: RunningReceiver[] = [];

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'telemetry-e2e-'));
  dirs.push(d);
  return d;
}

async function receiver(port?: number): Promise<RunningReceiver> {
  const r = await startReceiver({ ...(port === undefined ? {} : { port }), tokens: TOKENS, ingest: { prometheus: { url: prom.remoteWriteUrl, minBackoffMs: 100, maxBackoffMs: 1000 } } });
  receivers.push(r);
  return r;
}

async function countInProm(run: string, metric: string): Promise<number> {
  const r = await prom.query(`sum(count_over_time(${metric}{run="${run}"}[1h]))`);
  return r.length ? Number(r[0]!.value[1]) : 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  prom = await PrometheusEngine.start();
});

afterAll(async () => {
  for (const r of receivers) await r.close().catch(() => undefined);
  await prom?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('telemetry pipeline on real engines', () => {
  it(`loses nothing across a ${OUTAGE_MS / 1000} s hub outage; replayed duplicates are dropped at the hub`, async () => {
    const port = await freePort();
    let hub = await receiver(port);
    const run = randomUUID();
    const walDir = tmp();
    const backup = tmp();
    const wal = Wal.open({ dir: walDir, fsync: 'never' });
    const fwd = new Forwarder({ wal, url: hub.writeUrl, token: 'token-eu', minBackoffMs: 100, maxBackoffMs: 1000 });
    fwd.start();

    const perBatch = 40;
    let appended = 0;
    let k = 0;
    const t0 = Date.now();
    const produce = async (ms: number) => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        const ts = t0 + k * 100;
        const series = Array.from({ length: perBatch }, (_, i) => ({
          labels: [
            { name: '__name__', value: 'meridian_test_noloss' },
            { name: 'run', value: run },
            { name: 'series', value: String(i) },
          ],
          samples: [{ value: k, timestamp: ts }],
        }));
        wal.append(encodeWriteRequestProto({ timeseries: series }), perBatch);
        appended += perBatch;
        k++;
        await sleep(100);
      }
    };

    await produce(2000);
    await fwd.drain(20_000);
    cpSync(walDir, backup, { recursive: true }); // a copy to replay later
    const beforeOutage = appended;
    await hub.close(); // hub down: the forwarder backs off, the WAL holds everything
    await produce(OUTAGE_MS);
    expect(fwd.stats.retries).toBeGreaterThan(0);
    expect(wal.pendingBytes).toBeGreaterThan(0);
    hub = await receiver(port); // hub back (fresh process state: no dedup memory)
    await produce(2000);
    await fwd.drain(60_000);
    await fwd.stop();
    await hub.ingest.queue!.drain(30_000);

    expect(appended).toBeGreaterThan(beforeOutage * 3);
    expect(fwd.stats.sentSamples).toBe(appended);
    expect(await countInProm(run, 'meridian_test_noloss')).toBe(appended);
    // tenant labels were added by the hub
    const one = await prom.query(`meridian_test_noloss{run="${run}",series="0"}`);
    expect(one[0]?.metric).toMatchObject({ cluster: 'eu-a', region: 'eu-west' });

    // Replay the pre-outage part of the WAL (a copy taken then, as an agent restored from a snapshot would
    // resend): every sample is at or before its series' last timestamp at the hub, so all are dropped.
    const replayWal = Wal.open({ dir: backup, fsync: 'never' });
    const records = replayWal.read({ segment: 0, offset: 0 }, 1e9);
    replayWal.close();
    wal.close();
    const replayed = records.reduce((n, r) => n + r.samples, 0);
    expect(replayed).toBe(beforeOutage);
    const dupBefore = hub.ingest.stats().duplicateSamples;
    const body = snappy.compressSync(Buffer.concat(records.map((r) => r.payload)));
    const res = await fetch(hub.writeUrl, { method: 'POST', headers: { ...REMOTE_WRITE_HEADERS, authorization: 'Bearer token-eu' }, body });
    expect(res.status).toBe(204);
    expect(hub.ingest.stats().duplicateSamples - dupBefore).toBe(replayed);
    await hub.ingest.queue!.drain(10_000);
    expect(await countInProm(run, 'meridian_test_noloss')).toBe(appended);
  });

  it('an agent killed with SIGKILL mid-stream replays its WAL on restart: nothing lost, duplicates dropped', async () => {
    const hub = await receiver();
    const run = randomUUID();
    const walDir = tmp();
    const batches = 120;
    const perBatch = 25;
    const args = [walDir, hub.writeUrl, 'token-eu', run, String(Date.now()), String(batches), String(perBatch), '50'];
    const startChild = () => {
      const child = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (code, signal) => r(signal ? -1 : code)));
      return { child, out: () => out, err: () => err, exited };
    };

    const first = startChild();
    const deadline = Date.now() + 60_000;
    // kill once it has appended a good part and the hub has acknowledged some
    while (!(/appended 4\d/.test(first.out()) && /acked/.test(first.out()))) {
      if (Date.now() > deadline) throw new Error(`child made no progress: ${first.out().slice(-500)} ${first.err().slice(-2000)}`);
      await sleep(20);
    }
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe(-1);
    const appendedBeforeKill = first.out().match(/appended \d+/g)!.length;
    expect(appendedBeforeKill).toBeLessThan(batches);

    const second = startChild();
    const code = await second.exited;
    expect(code, second.err().slice(-2000)).toBe(0);
    expect(second.out()).toMatch(/done \d+/);
    await hub.ingest.queue!.drain(30_000);
    expect(await countInProm(run, 'meridian_test_forwarded')).toBe(batches * perBatch);
    // Whatever the hub saw twice (acknowledged-but-not-checkpointed records) was dropped, not stored twice:
    // Prometheus holds exactly one sample per (series, timestamp).
    const perSeries = await prom.query(`count_over_time(meridian_test_forwarded{run="${run}"}[1h])`);
    expect(perSeries).toHaveLength(perBatch);
    expect(perSeries.every((s) => Number(s.value[1]) === batches)).toBe(true);
  });

  it('broken input gets a clear 4xx from the real server and nothing reaches Prometheus', async () => {
    const hub = await receiver();
    const run = randomUUID();
    const good = (ts: number) => ({ labels: [{ name: '__name__', value: 'meridian_test_broken' }, { name: 'run', value: run }], samples: [{ value: 1, timestamp: ts }] });
    const cases: [string, Record<string, string>, Buffer | string, number, RegExp][] = [
      ['no auth', { ...REMOTE_WRITE_HEADERS }, encodeWriteRequest({ timeseries: [good(Date.now())] }), 401, /Bearer/],
      ['bad snappy', { ...REMOTE_WRITE_HEADERS, authorization: 'Bearer token-eu' }, Buffer.from('garbage!'), 400, /snappy/],
      ['bad protobuf', { ...REMOTE_WRITE_HEADERS, authorization: 'Bearer token-eu' }, snappy.compressSync(Buffer.from('not a protobuf message')), 400, /WriteRequest/],
      [
        'unsorted labels',
        { ...REMOTE_WRITE_HEADERS, authorization: 'Bearer token-eu' },
        encodeWriteRequest({ timeseries: [{ labels: [{ name: 'run', value: run }, { name: '__name__', value: 'meridian_test_broken' }], samples: [{ value: 1, timestamp: Date.now() }] }] }),
        400,
        /not sorted/,
      ],
    ];
    for (const [name, headers, body, status, msg] of cases) {
      const res = await fetch(hub.writeUrl, { method: 'POST', headers, body });
      expect(res.status, name).toBe(status);
      const json = (await res.json()) as { message: string };
      expect(json.message, name).toMatch(msg);
    }
    expect(hub.ingest.stats().acceptedSamples).toBe(0);
    expect(hub.ingest.queue!.stats.sentSamples).toBe(0);
    expect(await prom.query(`meridian_test_broken{run="${run}"}`)).toEqual([]);
  });
});
