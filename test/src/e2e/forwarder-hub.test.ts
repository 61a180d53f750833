// The agent forwarder against the real receiver (Fastify on a socket): the hub's own 429 + Retry-After for a
// cluster over its sample rate is honoured, and every sample arrives exactly once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Forwarder } from '@meridian/edge-agent/telemetry/forwarder';
import { encodeWriteRequestProto } from '@meridian/protocol/telemetry/remote-write';
import { Wal } from '@meridian/edge-agent/telemetry/wal';
import { startReceiver } from '../doubles/telemetry-receiver.ts';
import type { RunningReceiver } from '../doubles/telemetry-receiver.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('forwarder → receiver', () => {
  it('a rate-limited cluster gets 429 + Retry-After, the forwarder waits that long, and nothing is lost or doubled', async () => {
    const rx: RunningReceiver = await startReceiver({
      tokens: { t: { clusterId: 'slow', region: 'r' } },
      ingest: { prometheus: null, limits: { samplesPerSecond: 300, burstSamples: 300 } },
    });
    cleanups.push(() => rx.close());
    const dir = mkdtempSync(join(tmpdir(), 'fwd-hub-'));
    const wal = Wal.open({ dir, fsync: 'never' });
    cleanups.push(() => {
      wal.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const t0 = Date.now() - 60_000;
    for (let k = 0; k < 10; k++) {
      const series = Array.from({ length: 100 }, (_, i) => ({
        labels: [
          { name: '__name__', value: 'm' },
          { name: 'i', value: String(i) },
        ],
        samples: [{ value: k, timestamp: t0 + k * 1000 }],
      }));
      wal.append(encodeWriteRequestProto({ timeseries: series }), 100);
    }
    const fwd = new Forwarder({ wal, url: rx.writeUrl, token: 't', maxBatchSamples: 200, minBackoffMs: 50 });
    cleanups.push(() => fwd.stop());
    const start = Date.now();
    fwd.start();
    await fwd.drain(30_000);
    const s = fwd.stats;
    expect(s.sentSamples).toBe(1000);
    expect(s.retries).toBeGreaterThan(0);
    // every wait was the hub's Retry-After (whole seconds), not the 50 ms backoff
    expect(s.retryDelays.every((d) => d >= 1000 && d % 1000 === 0)).toBe(true);
    // 1000 samples at 300/s with a 300 burst cannot finish in under ~2 s
    expect(Date.now() - start).toBeGreaterThanOrEqual(1900);
    expect(rx.ingest.stats()).toMatchObject({ acceptedSamples: 1000, duplicateSamples: 0 });
    expect(rx.ingest.stats().rejectedRequests.rate_limited).toBe(s.retries);
  }, 40_000);
});
