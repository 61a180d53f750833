// The telemetry receiver's answers to wrong credentials, on the real hub: every one is a 401 in the standard
// error shape (never a 503 "retry shortly"), and the agent's forwarder stops on it instead of retrying forever.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Forwarder } from '@meridian/edge-agent/telemetry/forwarder';
import { Wal } from '@meridian/edge-agent/telemetry/wal';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import { compressProto, encodeWriteRequestProto, REMOTE_WRITE_HEADERS } from '@meridian/protocol/telemetry/remote-write';
import { PostgresEngine } from '../harness/postgres.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { ADMIN_TOKEN, Api, FAST } from './helpers.ts';

const sample = () => encodeWriteRequestProto({ timeseries: [{ labels: [{ name: '__name__', value: 'meridian_auth_probe' }], samples: [{ value: 1, timestamp: Date.now() }] }] });

describe('telemetry receiver: wrong credentials', () => {
  let pgEngine: PostgresEngine;
  let temporal: TemporalEngine;
  let hub: Hub;
  let admin: Api;
  let dir: string;

  beforeAll(async () => {
    [pgEngine, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
    hub = await startHub({ databaseUrl: pgEngine.url, temporalAddress: temporal.address, ...FAST, logLevel: 'fatal' });
    admin = new Api(hub.url, ADMIN_TOKEN);
    dir = mkdtempSync(join(tmpdir(), 'telemetry-auth-'));
  }, 120_000);
  afterAll(async () => {
    await hub?.stop();
    await Promise.all([pgEngine?.stop(), temporal?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const write = (token: string | null) =>
    fetch(`${hub.url}/api/v1/telemetry/write`, {
      method: 'POST',
      headers: { ...REMOTE_WRITE_HEADERS, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: compressProto(sample()),
    });
  const refused = async (r: Response, invalidToken: boolean) => {
    expect(r.status).toBe(401);
    expect(await r.json()).toEqual({ code: 'unauthenticated', message: expect.any(String), details: expect.any(Array) });
    expect(r.headers.get('www-authenticate')).toMatch(invalidToken ? /^Bearer .*error="invalid_token"/ : /^Bearer /);
    expect(r.headers.get('retry-after')).toBeNull();
  };

  it('answers 401 to no token, a malformed or unknown token, a revoked user token and a rotated cluster credential', async () => {
    await refused(await write(null), false);
    await refused(await write('not-a-token'), true);
    await refused(await write('mrc_unknown-credential'), true);

    await admin.post('/api/v1/users', { name: 'rita' });
    const t = (await admin.post<{ id: string; token: string }>('/api/v1/users/rita/tokens', {})).body;
    expect((await admin.req('DELETE', `/api/v1/users/rita/tokens/${t.id}`)).status).toBe(200);
    await refused(await write(t.token), true);

    const created = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'auth-east', region: 'us-east', kind: 'kubernetes' });
    expect(created.status).toBe(201);
    const old = created.body.credential;
    expect((await write(old)).status).toBe(204);
    const rotated = (await admin.post<{ credential: string }>('/api/v1/clusters/auth-east/credential')).body.credential;
    await refused(await write(old), true);
    expect((await write(rotated)).status).toBe(204);
  });

  it("the agent's forwarder stops on the 401 with one error line, keeping its samples", async () => {
    const created = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'auth-west', region: 'us-west', kind: 'kubernetes' });
    const old = created.body.credential;
    await admin.post('/api/v1/clusters/auth-west/credential');
    const wal = Wal.open({ dir, fsync: 'never' });
    const errors: string[] = [];
    const f = new Forwarder({
      wal,
      url: `${hub.url}/api/v1/telemetry/write`,
      token: old,
      minBackoffMs: 10,
      logger: { info() {}, warn() {}, error: (_o, msg) => errors.push(msg ?? '') },
    });
    const fatal = new Promise<{ status: number; reason: string }>((resolve) => f.once('fatal', resolve));
    wal.append(sample(), 1);
    f.start();
    const got = await fatal;
    expect(got.status).toBe(401);
    expect(got.reason).toMatch(/unauthenticated/);
    await new Promise((r) => setTimeout(r, 300));
    expect(f.stats).toMatchObject({ sentRequests: 0, retries: 0, lastStatus: 401 });
    expect(errors).toEqual([expect.stringMatching(/refused the telemetry credential/)]);
    expect(wal.pendingBytes).toBeGreaterThan(0);
    await f.stop();
    wal.close();
  });
});
