// The forwarder against a real HTTP server (node:http) that answers what a hub would: 204, 429/503 with
// Retry-After, 5xx without, 400, 413.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Forwarder, parseRetryAfter } from './forwarder.ts';
import { decodeWriteRequest, encodeWriteRequestProto } from '@meridian/protocol/telemetry/remote-write';
import { Wal } from './wal.ts';

interface Hit {
  at: number;
  samples: number;
  headers: IncomingMessage['headers'];
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(answer: (hit: Hit, n: number, res: ServerResponse) => void): Promise<{ url: string; hits: Hit[] }> {
  const hits: Hit[] = [];
  const srv: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const samples = decodeWriteRequest(body).timeseries.reduce((n, t) => n + t.samples.length, 0);
      const hit = { at: Date.now(), samples, headers: req.headers };
      hits.push(hit);
      answer(hit, hits.length, res);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => srv.close(() => r())));
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/api/v1/telemetry/write`, hits };
}

function wal(): Wal {
  const dir = mkdtempSync(join(tmpdir(), 'fwd-test-'));
  const w = Wal.open({ dir, fsync: 'never' });
  cleanups.push(() => {
    w.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return w;
}

function appendSamples(w: Wal, n: number, t0 = 1_763_800_000_000): void {
  const series = Array.from({ length: n }, (_, i) => ({ labels: [{ name: '__name__', value: 'm' }, { name: 'i', value: String(i) }], samples: [{ value: i, timestamp: t0 }] }));
  w.append(encodeWriteRequestProto({ timeseries: series }), n);
}

function forwarder(w: Wal, url: string, extra: Partial<ConstructorParameters<typeof Forwarder>[0]> = {}): Forwarder {
  const f = new Forwarder({ wal: w, url, token: 'secret', agentId: 'test-agent', minBackoffMs: 50, maxBackoffMs: 400, random: () => 1, ...extra });
  cleanups.push(() => f.stop());
  return f;
}

const end = (res: ServerResponse, status: number, headers: Record<string, string> = {}, body = '') => {
  res.writeHead(status, headers);
  res.end(body);
};

describe('Forwarder', () => {
  it('sends remote-write with auth and batch headers, and acks the WAL', async () => {
    const { url, hits } = await server((_h, _n, res) => end(res, 204));
    const w = wal();
    appendSamples(w, 5);
    appendSamples(w, 7);
    const f = forwarder(w, url);
    f.start();
    await f.drain(5000);
    expect(hits).toHaveLength(1);
    expect(hits[0]!.samples).toBe(12);
    expect(hits[0]!.headers).toMatchObject({
      authorization: 'Bearer secret',
      'content-encoding': 'snappy',
      'content-type': 'application/x-protobuf',
      'x-prometheus-remote-write-version': '0.1.0',
      'x-meridian-batch': 'test-agent:0-1',
    });
    expect(f.stats).toMatchObject({ sentSamples: 12, sentRecords: 2, retries: 0 });
    expect(w.pendingBytes).toBe(0);
  });

  it('splits by maxBatchSamples and keeps order', async () => {
    const { url, hits } = await server((_h, _n, res) => end(res, 200));
    const w = wal();
    for (let i = 0; i < 5; i++) appendSamples(w, 4, 1_763_800_000_000 + i);
    const f = forwarder(w, url, { maxBatchSamples: 8 });
    f.start();
    await f.drain(5000);
    expect(hits.map((h) => h.samples)).toEqual([8, 8, 4]);
    expect(hits.map((h) => h.headers['x-meridian-batch'])).toEqual(['test-agent:0-1', 'test-agent:2-3', 'test-agent:4-4']);
  });

  it('honours Retry-After (seconds) on 429 and on 503, then delivers', async () => {
    const { url, hits } = await server((_h, n, res) => {
      if (n === 1) return end(res, 429, { 'retry-after': '1' }, 'slow down');
      if (n === 2) return end(res, 503, { 'retry-after': '1' });
      return end(res, 204);
    });
    const w = wal();
    appendSamples(w, 3);
    const f = forwarder(w, url);
    f.start();
    await f.drain(10_000);
    expect(hits).toHaveLength(3);
    expect(hits[1]!.at - hits[0]!.at).toBeGreaterThanOrEqual(950);
    expect(hits[2]!.at - hits[1]!.at).toBeGreaterThanOrEqual(950);
    expect(f.stats.retryDelays).toEqual([1000, 1000]);
    expect(f.stats.sentSamples).toBe(3);
  });

  it('honours Retry-After as an HTTP date', async () => {
    let retryAt = 0;
    const { url, hits } = await server((_h, n, res) => {
      if (n === 1) {
        retryAt = Date.now() + 2000;
        return end(res, 429, { 'retry-after': new Date(retryAt).toUTCString() });
      }
      return end(res, 204);
    });
    const w = wal();
    appendSamples(w, 1);
    const f = forwarder(w, url);
    f.start();
    await f.drain(10_000);
    // HTTP dates have 1 s resolution
    expect(hits[1]!.at).toBeGreaterThanOrEqual(retryAt - 1000);
  });

  it('backs off exponentially on 5xx without Retry-After and on connection errors', async () => {
    const { url, hits } = await server((_h, n, res) => (n <= 3 ? end(res, 500, {}, 'boom') : end(res, 204)));
    const w = wal();
    appendSamples(w, 2);
    const f = forwarder(w, url);
    f.start();
    await f.drain(10_000);
    expect(f.stats.retryDelays).toEqual([50, 100, 200]);
    expect(hits[3]!.at - hits[2]!.at).toBeGreaterThanOrEqual(190);
    const w2 = wal();
    appendSamples(w2, 1);
    const dead = forwarder(w2, 'http://127.0.0.1:1/api/v1/telemetry/write');
    dead.start();
    await new Promise((r) => setTimeout(r, 400));
    await dead.stop();
    expect(dead.stats.retries).toBeGreaterThanOrEqual(2);
    expect(dead.stats.lastError).toMatch(/fetch failed|ECONNREFUSED/);
    expect(w2.pendingBytes).toBeGreaterThan(0); // nothing lost
  });

  it('drops a batch the hub refuses with 400 (never retried), and carries on', async () => {
    const { url, hits } = await server((_h, n, res) => (n === 1 ? end(res, 400, {}, '{"message":"labels are not sorted"}') : end(res, 204)));
    const w = wal();
    appendSamples(w, 2);
    const f = forwarder(w, url, { maxBatchSamples: 2 });
    f.start();
    await f.drain(5000);
    appendSamples(w, 3);
    await f.drain(5000);
    expect(hits.map((h) => h.samples)).toEqual([2, 3]);
    expect(f.stats).toMatchObject({ droppedSamples: 2, sentSamples: 3, retries: 0 });
  });

  it('stops on 401 and 403 (a revoked credential is final) and keeps the records for the next start', async () => {
    for (const status of [401, 403]) {
      const { url, hits } = await server((_h, _n, res) => end(res, status));
      const w = wal();
      appendSamples(w, 2);
      const f = forwarder(w, url);
      const fatal = new Promise<{ status: number }>((resolve) => f.once('fatal', resolve));
      f.start();
      expect((await fatal).status).toBe(status);
      appendSamples(w, 1);
      await new Promise((r) => setTimeout(r, 100));
      expect(hits).toHaveLength(1); // no retry loop
      expect(f.stats).toMatchObject({ sentSamples: 0, droppedSamples: 0, retries: 0, lastStatus: status });
      expect(w.pendingBytes).toBeGreaterThan(0);
      await f.stop();
    }
  });

  it('splits a batch on 413', async () => {
    const { url, hits } = await server((h, _n, res) => (h.samples > 4 ? end(res, 413) : end(res, 204)));
    const w = wal();
    for (let i = 0; i < 4; i++) appendSamples(w, 2, 1_763_800_000_000 + i);
    const f = forwarder(w, url);
    f.start();
    await f.drain(5000);
    expect(hits.map((h) => h.samples)).toEqual([8, 4, 4]);
    expect(f.stats.sentSamples).toBe(8);
  });

  it('parses Retry-After', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('1.5')).toBe(1500);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter('soon')).toBeNull();
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000);
  });
});
