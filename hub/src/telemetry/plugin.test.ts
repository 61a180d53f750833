// The receiver in a real Fastify instance (inject: no socket, same routing, hooks and parsers).
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import snappy from 'snappy';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeWriteRequest, REMOTE_WRITE_HEADERS } from '@meridian/protocol/telemetry/remote-write';
import type { TimeSeries } from '@meridian/protocol/telemetry/remote-write';
import { TelemetryIngest } from './ingest.ts';
import { staticTokenAuthenticator, telemetryPlugin, TELEMETRY_WRITE_PATH } from './plugin.ts';
import type { TelemetryIngestOptions } from './ingest.ts';

const NOW = 1_763_800_000_000;
const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

async function setup(opts: TelemetryIngestOptions = {}) {
  const ingest = new TelemetryIngest({ now: () => NOW, ...opts });
  const app = Fastify();
  await app.register(telemetryPlugin, {
    ingest,
    authenticate: staticTokenAuthenticator({ 'tok-a': { clusterId: 'cluster-a', region: 'eu-west' }, 'tok-b': { clusterId: 'cluster-b', region: 'us-east' } }),
    authorizeQuery: (req) => req.headers['x-reader'] === 'yes',
  });
  await app.ready();
  apps.push(app);
  return { app, ingest };
}

const gpuSeries = (name: string, value: number, t: number, extra: Record<string, string> = {}): TimeSeries => ({
  labels: Object.entries({ __name__: name, Hostname: 'node-1', UUID: 'GPU-aaaa', gpu: '0', modelName: 'NVIDIA H100', ...extra })
    .map(([n, v]) => ({ name: n, value: v }))
    .sort((a, b) => (a.name < b.name ? -1 : 1)),
  samples: [{ value, timestamp: t }],
});

function post(app: FastifyInstance, body: Buffer | string, headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url: TELEMETRY_WRITE_PATH, headers: { ...REMOTE_WRITE_HEADERS, authorization: 'Bearer tok-a', ...headers }, payload: body });
}

describe('telemetry receiver', () => {
  it('accepts remote-write, adds tenant labels and keeps hot state', async () => {
    const { app, ingest } = await setup({ resolveProject: (j) => (j.jobId === 'job-7' ? 'proj-x' : undefined) });
    const res = await post(app, encodeWriteRequest({ timeseries: [gpuSeries('DCGM_FI_DEV_GPU_UTIL', 88, NOW, { cluster: 'spoofed', meridian_job_id: 'job-7' })] }));
    expect(res.statusCode).toBe(204);
    const g = ingest.hot.gpu('GPU-aaaa');
    expect(g).toMatchObject({ cluster: 'cluster-a', region: 'eu-west', hostname: 'node-1', metrics: { DCGM_FI_DEV_GPU_UTIL: 88 }, job: { meridian_job_id: 'job-7', project: 'proj-x' } });
    expect(ingest.stats().acceptedSamples).toBe(1);
  });

  it('drops replayed duplicates (per series last timestamp) and answers 204', async () => {
    const { app, ingest } = await setup();
    const body = encodeWriteRequest({ timeseries: [gpuSeries('DCGM_FI_DEV_GPU_UTIL', 1, NOW - 2000), gpuSeries('DCGM_FI_DEV_GPU_UTIL', 2, NOW - 1000)] });
    expect((await post(app, body)).statusCode).toBe(204);
    expect((await post(app, body)).statusCode).toBe(204);
    expect(ingest.stats()).toMatchObject({ acceptedSamples: 2, duplicateSamples: 2 });
    // the same series from another cluster is a different series
    expect((await post(app, body, { authorization: 'Bearer tok-b' })).statusCode).toBe(204);
    expect(ingest.stats().acceptedSamples).toBe(4);
  });

  describe('refuses broken input with a clear 4xx and stores nothing', () => {
    const cases: [string, () => Buffer | string, Record<string, string>, number, RegExp][] = [
      ['missing auth', () => encodeWriteRequest({ timeseries: [gpuSeries('up', 1, NOW)] }), { authorization: '' }, 401, /Authorization: Bearer/],
      ['unknown token', () => encodeWriteRequest({ timeseries: [gpuSeries('up', 1, NOW)] }), { authorization: 'Bearer nope' }, 401, /unknown, rotated or revoked cluster credential/],
      ['bad snappy', () => Buffer.from('definitely not snappy'), {}, 400, /snappy/],
      ['bad protobuf', () => snappy.compressSync(Buffer.from('plain text is not a WriteRequest')), {}, 400, /not a remote-write 1.0 WriteRequest/],
      [
        'unsorted labels',
        () => encodeWriteRequest({ timeseries: [{ labels: [{ name: '__name__', value: 'up' }, { name: 'z', value: '1' }, { name: 'a', value: '1' }], samples: [{ value: 1, timestamp: NOW }] }] }),
        {},
        400,
        /labels are not sorted by name/,
      ],
      ['missing __name__', () => encodeWriteRequest({ timeseries: [{ labels: [{ name: 'a', value: '1' }], samples: [{ value: 1, timestamp: NOW }] }] }), {}, 400, /no __name__/],
      ['not snappy-encoded', () => encodeWriteRequest({ timeseries: [gpuSeries('up', 1, NOW)] }), { 'content-encoding': 'gzip' }, 415, /snappy/],
      ['wrong content type', () => 'x', { 'content-type': 'application/json' }, 415, /application\/x-protobuf/],
      ['remote-write 2.0', () => 'x', { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request' }, 415, /2\.0 is not supported/],
      ['empty body', () => Buffer.alloc(0), {}, 400, /empty body/],
    ];
    for (const [name, body, headers, status, message] of cases) {
      it(name, async () => {
        const { app, ingest } = await setup();
        const res = await post(app, body(), headers);
        expect(res.statusCode).toBe(status);
        const json = res.json<{ code: string; message: string; details: unknown[] }>();
        expect(json.message).toMatch(message);
        expect(ingest.hot.size).toBe(0);
        expect(ingest.series.size).toBe(0);
        expect(ingest.stats().acceptedSamples).toBe(0);
        if (status === 401) expect(res.headers['www-authenticate']).toMatch(/Bearer/);
      });
    }
  });

  it('names the offending field', async () => {
    const { app } = await setup();
    const res = await post(app, encodeWriteRequest({ timeseries: [gpuSeries('up', 1, NOW), { labels: [{ name: '__name__', value: 'up' }, { name: 'bad-label', value: '1' }], samples: [] }] }));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'invalid_series', details: [{ path: 'timeseries[1].labels.bad-label' }] });
  });

  it('refuses a body that decompresses past the limit with 413', async () => {
    const { app } = await setup({ maxUncompressedBytes: 100 });
    const res = await post(app, encodeWriteRequest({ timeseries: Array.from({ length: 10 }, (_, i) => gpuSeries('up', i, NOW + i)) }));
    expect(res.statusCode).toBe(413);
  });

  it('enforces the per-cluster sample rate with 429 + Retry-After, without touching state', async () => {
    const { app, ingest } = await setup({ limits: (c) => (c === 'cluster-a' ? { samplesPerSecond: 10, burstSamples: 10 } : null) });
    const many = (t0: number) => encodeWriteRequest({ timeseries: Array.from({ length: 20 }, (_, i) => gpuSeries('up', i, t0, { gpu: String(i) })) });
    expect((await post(app, many(NOW - 5000))).statusCode).toBe(204); // 20 > burst: allowed once, into debt
    const res = await post(app, many(NOW - 4000));
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json().message).toMatch(/over its telemetry limit of 10 samples\/s/);
    expect(ingest.stats().acceptedSamples).toBe(20);
    // the refused samples were not remembered: once the limit allows, the same body is accepted, not "duplicate"
    expect((await post(app, many(NOW - 4000), { authorization: 'Bearer tok-b' })).statusCode).toBe(204); // other tenant unaffected
  });

  it('health: XID 79 makes the GPU unhealthy with drain_reboot; the query API shows it', async () => {
    const changes: string[] = [];
    const { app, ingest } = await setup({ hotState: { onHealthChange: (c) => changes.push(`${c.uuid}:${c.current.action}`) } });
    await post(app, encodeWriteRequest({ timeseries: [gpuSeries('meridian_gpu_health', 0, NOW - 2000)] }));
    await post(app, encodeWriteRequest({ timeseries: [gpuSeries('meridian_gpu_xid_errors_total', 1, NOW - 1000, { xid: '79' })] }));
    expect(changes).toEqual(['GPU-aaaa:drain_reboot']);
    expect(ingest.hot.gpu('GPU-aaaa')?.health).toMatchObject({ status: 'unhealthy', action: 'drain_reboot' });
    const denied = await app.inject({ method: 'GET', url: '/api/v1/telemetry/health' });
    expect(denied.statusCode).toBe(403);
    const res = await app.inject({ method: 'GET', url: '/api/v1/telemetry/health?cluster=cluster-a', headers: { 'x-reader': 'yes' } });
    expect(res.json().items).toEqual([expect.objectContaining({ kind: 'gpu', uuid: 'GPU-aaaa', health: expect.objectContaining({ action: 'drain_reboot' }) })]);
    const one = await app.inject({ method: 'GET', url: '/api/v1/telemetry/gpus/GPU-aaaa', headers: { 'x-reader': 'yes' } });
    expect(one.json()).toMatchObject({ uuid: 'GPU-aaaa', xidCounts: { 79: 1 } });
    expect((await app.inject({ method: 'GET', url: '/api/v1/telemetry/gpus/nope', headers: { 'x-reader': 'yes' } })).statusCode).toBe(404);
    // remediation clears the event after reset: healthy again
    ingest.hot.clearEvents(ingest.hot.gpu('GPU-aaaa')!.key, NOW);
    expect(ingest.hot.gpu('GPU-aaaa')?.health.status).toBe('healthy');
    expect(changes).toEqual(['GPU-aaaa:drain_reboot', 'GPU-aaaa:none']);
  });

  it('XID 13 only informs the job', async () => {
    const { app, ingest } = await setup();
    await post(app, encodeWriteRequest({ timeseries: [gpuSeries('meridian_gpu_xid_errors_total', 1, NOW, { xid: '13' })] }));
    expect(ingest.hot.gpu('GPU-aaaa')?.health).toMatchObject({ status: 'healthy', action: 'inform_job' });
  });

  it('query routes are absent without authorizeQuery', async () => {
    const ingest = new TelemetryIngest();
    const app = Fastify();
    await app.register(telemetryPlugin, { ingest, authenticate: () => null });
    apps.push(app);
    expect((await app.inject({ method: 'GET', url: '/api/v1/telemetry/gpus' })).statusCode).toBe(404);
  });
});
