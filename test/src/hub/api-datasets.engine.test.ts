// The dataset registry on a real hub (Postgres + Temporal): registering with a home cluster or region, listing
// where a dataset is cached, admin-only writes, and broken input answered with the field and the fix.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresEngine } from '../harness/postgres.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { ADMIN_TOKEN, Api, FAST } from './helpers.ts';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';

type Err = { code: string; message: string; details: { path: string; message: string }[] };
type Dataset = { name: string; sizeBytes: number; homeRegion: string; homeCluster: string | null; caches: { clusterId: string; state: string; percent: number }[] };

let pg: PostgresEngine;
let temporal: TemporalEngine;
let hub: Hub;
let admin: Api;
let user: Api;

beforeAll(async () => {
  [pg, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
  hub = await startHub({ databaseUrl: pg.url, temporalAddress: temporal.address, ...FAST, runScheduler: false });
  admin = new Api(hub.url, ADMIN_TOKEN);
  for (const [id, region] of [['east', 'us-east'], ['west', 'us-west']] as const)
    expect((await admin.post('/api/v1/clusters', { id, region, kind: 'kubernetes' })).status).toBe(201);
  expect((await admin.post('/api/v1/users', { name: 'ada' })).status).toBe(201);
  const t = await admin.post<{ token: string }>('/api/v1/users/ada/tokens', { name: 'cli' });
  expect(t.status).toBe(201);
  user = admin.as(t.body.token);
});

afterAll(async () => {
  await hub?.stop();
  await Promise.all([pg?.stop(), temporal?.stop()]);
});

describe('/api/v1/datasets', () => {
  it('registers a dataset at its home cluster (cached there), updates it, lists and gets it', async () => {
    const r = await admin.post<Dataset>('/api/v1/datasets', { name: 'imagenet-1k', sizeBytes: 150e9, homeCluster: 'east' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ name: 'imagenet-1k', sizeBytes: 150e9, homeRegion: 'us-east', homeCluster: 'east', caches: [{ clusterId: 'east', state: 'cached', percent: 100 }] });
    const again = await admin.post<Dataset>('/api/v1/datasets', { name: 'imagenet-1k', sizeBytes: 151e9, homeCluster: 'east' });
    expect(again.status).toBe(200);
    expect(again.body.sizeBytes).toBe(151e9);
    expect((await admin.post('/api/v1/datasets', { name: 'laion.shard-7', sizeBytes: 1000, homeRegion: 'eu-central' })).status).toBe(201);

    const list = await user.get<{ items: Dataset[]; nextCursor: string | null }>('/api/v1/datasets');
    expect(list.status).toBe(200);
    expect(list.body.items.map((d) => d.name)).toEqual(['imagenet-1k', 'laion.shard-7']);
    const page = await user.get<{ items: Dataset[]; nextCursor: string | null }>('/api/v1/datasets?limit=1');
    expect(page.body.nextCursor).toBe('imagenet-1k');
    expect((await user.get<{ items: Dataset[] }>('/api/v1/datasets?after=imagenet-1k')).body.items.map((d) => d.name)).toEqual(['laion.shard-7']);
    expect((await user.get<{ items: Dataset[] }>('/api/v1/datasets?cluster=east')).body.items.map((d) => d.name)).toEqual(['imagenet-1k']);
    const one = await user.get<Dataset>('/api/v1/datasets/laion.shard-7');
    expect(one.body).toMatchObject({ homeRegion: 'eu-central', homeCluster: null, caches: [] });
    expect((await user.get('/api/v1/datasets/nope')).status).toBe(404);
  });

  it('records and forgets a cache copy (admin only)', async () => {
    const put = await admin.req<Dataset>('PUT', '/api/v1/datasets/laion.shard-7/caches/west', { state: 'cached' });
    expect(put.status).toBe(200);
    expect(put.body.caches).toEqual([expect.objectContaining({ clusterId: 'west', state: 'cached' })]);
    expect((await user.get<{ items: Dataset[] }>('/api/v1/datasets?cluster=west')).body.items.map((d) => d.name)).toEqual(['laion.shard-7']);
    expect((await user.req('PUT', '/api/v1/datasets/laion.shard-7/caches/east', { state: 'cached' })).status).toBe(403);
    expect((await admin.req('PUT', '/api/v1/datasets/laion.shard-7/caches/mars', { state: 'cached' })).status).toBe(404);
    expect((await admin.req('DELETE', '/api/v1/datasets/laion.shard-7/caches/west')).status).toBe(200);
    expect((await admin.req('DELETE', '/api/v1/datasets/laion.shard-7/caches/west')).status).toBe(404);
    expect((await user.get<Dataset>('/api/v1/datasets/laion.shard-7')).body.caches).toEqual([]);
  });

  it('only admins register datasets', async () => {
    const r = await user.post<Err>('/api/v1/datasets', { name: 'mine', sizeBytes: 1, homeRegion: 'us-east' });
    expect(r.status).toBe(403);
  });

  it('rejects broken input with the field and the fix', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ sizeBytes: 1, homeRegion: 'r' }, 'name', /name/],
      [{ name: '-bad-', sizeBytes: 1, homeRegion: 'r' }, 'name', /starting and ending with a letter or digit/],
      [{ name: 'a/b', sizeBytes: 1, homeRegion: 'r' }, 'name', /letters, digits/],
      [{ name: 'ok', sizeBytes: '10GB', homeRegion: 'r' }, 'sizeBytes', /size in bytes/],
      [{ name: 'ok', sizeBytes: -1, homeRegion: 'r' }, 'sizeBytes', /≥ 0/],
      [{ name: 'ok', sizeBytes: 1.5, homeRegion: 'r' }, 'sizeBytes', /whole number/],
      [{ name: 'ok', sizeBytes: 1 }, 'homeRegion', /give homeRegion .* or homeCluster/],
      [{ name: 'ok', sizeBytes: 1, homeCluster: 'mars' }, 'homeCluster', /no cluster mars/],
      [{ name: 'ok', sizeBytes: 1, homeCluster: 'east', homeRegion: 'us-west' }, 'homeRegion', /region us-east, not us-west/],
      [{ name: 'ok', sizeBytes: 1, homeRegion: 'r', cachedIn: ['east'] }, '(root)', /cachedIn/],
    ];
    for (const [body, path, msg] of cases) {
      const r = await admin.post<Err>('/api/v1/datasets', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      const d = r.body.details.find((x) => x.path === path);
      expect(d, `${JSON.stringify(body)} → ${JSON.stringify(r.body.details)}`).toBeDefined();
      expect(d!.message).toMatch(msg);
    }
    const state = await admin.req<Err>('PUT', '/api/v1/datasets/imagenet-1k/caches/west', { state: 'prewarming' });
    expect(state.status).toBe(400);
    expect(state.body.details[0]).toMatchObject({ path: 'state', message: expect.stringMatching(/must be 'cached'/) });
    expect((await admin.get<Err>('/api/v1/datasets?limit=0')).body.details[0]?.path).toBe('query.limit');
    expect((await admin.get('/api/v1/datasets/imagenet-1k')).status).toBe(200);
    expect((await admin.get<Dataset>('/api/v1/datasets/imagenet-1k')).body.caches.map((c) => c.clusterId)).toEqual(['east']);
  });
});
