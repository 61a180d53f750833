// The hub's power-approval endpoint on a real hub (Postgres + Temporal): who may ask, what is validated,
// when capacity is refused (power budget, paused power-ups, nodes the hub drained), and the events it keeps.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresEngine } from '../harness/postgres.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { ADMIN_TOKEN, Api, FAST } from './helpers.ts';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';

type Decision = { action: string; approved: string[]; denied: { node: string; reason: string }[] };
type Err = { code: string; message: string; details: { path: string; message: string }[] };
type PowerEvent = { node: string; action: string; granted: boolean; reason: string; requestedBy: string };

let pg: PostgresEngine;
let temporal: TemporalEngine;
let hub: Hub;
let admin: Api;
let hpc: Api; // the cluster's own credential
let other: Api; // another cluster's credential

beforeAll(async () => {
  [pg, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
  hub = await startHub({ databaseUrl: pg.url, temporalAddress: temporal.address, ...FAST, runScheduler: false });
  admin = new Api(hub.url, ADMIN_TOKEN);
  const a = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'hpc', region: 'on-prem', kind: 'slurm' });
  const b = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'other', region: 'on-prem', kind: 'slurm' });
  expect([a.status, b.status]).toEqual([201, 201]);
  hpc = admin.as(a.body.credential);
  other = admin.as(b.body.credential);
});

afterAll(async () => {
  await hub?.stop();
  await Promise.all([pg?.stop(), temporal?.stop()]);
});

const power = (api: Api, body: unknown, cluster = 'hpc') => api.post<Decision & Err>(`/api/v1/clusters/${cluster}/power`, body);
const setPolicy = (body: unknown, api = admin) => api.req<{ policy: { maxPoweredNodes: number | null; allowResume: boolean } } & Err>('PUT', '/api/v1/clusters/hpc/power/policy', body);

describe('POST /api/v1/clusters/{id}/power', () => {
  it('needs the cluster credential (or an admin) and refuses other clusters’ credentials', async () => {
    const none = await power(admin.as(null), { action: 'resume', nodes: ['n1'] });
    expect(none.status).toBe(401);
    expect(none.body.message).toMatch(/credential of cluster hpc/);
    expect((await power(admin.as('mrc_not-a-real-credential'), { action: 'resume', nodes: ['n1'] })).status).toBe(401);
    const wrong = await power(other, { action: 'resume', nodes: ['n1'] });
    expect(wrong.status).toBe(403);
    expect(wrong.body.message).toBe('this credential belongs to cluster other, not hpc');
    expect((await power(admin, { action: 'suspend', nodes: ['n1'] }, 'nope')).status).toBe(404);
    // who may call is settled before the body is read: a broken body does not turn a refusal into a 400
    expect((await power(admin.as(null), { action: 'boot' })).status).toBe(401);
    expect((await power(other, { action: 'boot' })).status).toBe(403);
  });

  it('rejects broken requests with the field and the fix', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ action: 'boot', nodes: ['n1'] }, 'action', /'resume'.*'suspend'/],
      [{ nodes: ['n1'] }, 'action', /'resume'/],
      [{ action: 'resume', nodes: [] }, 'nodes', /at least one node/],
      [{ action: 'resume', nodes: 'n[1-2]' }, 'nodes', /list of node names.*hostlists/],
      [{ action: 'resume', nodes: ['n 1'] }, 'nodes[0]', /node name/],
      [{ action: 'resume', nodes: ['n1'], force: true }, '(root)', /unknown field.*"force"/],
    ];
    for (const [body, path, message] of cases) {
      const r = await power(hpc, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.details, JSON.stringify(body)).toContainEqual({ path, message: expect.stringMatching(message) });
    }
    const notJson = await hpc.req<Err>('POST', '/api/v1/clusters/hpc/power', '{"action":', { 'content-type': 'application/json' });
    expect(notJson.status).toBe(400);
  });

  it('grants up to maxPoweredNodes, counts suspends back, and refuses past the budget', async () => {
    expect((await setPolicy({ maxPoweredNodes: 2 })).body.policy).toEqual({ maxPoweredNodes: 2, allowResume: true });
    expect((await power(hpc, { action: 'resume', nodes: ['n1', 'n2', 'n3'] })).body).toMatchObject({
      approved: ['n1', 'n2'],
      denied: [{ node: 'n3', reason: expect.stringMatching(/power budget: 2 of maxPoweredNodes=2/) }],
    });
    expect((await admin.get<{ powered: string[] }>('/api/v1/clusters/hpc/power')).body.powered).toEqual(['n1', 'n2']);
    expect((await power(hpc, { action: 'suspend', nodes: ['n1'] })).body).toEqual({ action: 'suspend', approved: ['n1'], denied: [] });
    expect((await power(hpc, { action: 'resume', nodes: ['n3'] })).body.approved).toEqual(['n3']);
    await power(hpc, { action: 'suspend', nodes: ['n2', 'n3'] });
    expect((await admin.get<{ powered: string[] }>('/api/v1/clusters/hpc/power')).body.powered).toEqual([]);
  });

  it('refuses nodes the hub drained until they are uncordoned, and every power-up while paused', async () => {
    expect((await admin.post('/api/v1/clusters/hpc/nodes/n4/drain', { reason: 'meridian: xid 79' })).status).toBe(202);
    const d = await power(hpc, { action: 'resume', nodes: ['n4', 'n5'] });
    expect(d.body.approved).toEqual(['n5']);
    expect(d.body.denied).toEqual([{ node: 'n4', reason: expect.stringMatching(/hub has drained n4 \(meridian: xid 79\).*uncordon/) }]);
    expect((await admin.post('/api/v1/clusters/hpc/nodes/n4/uncordon', { reason: 'fixed' })).status).toBe(202);
    expect((await power(hpc, { action: 'resume', nodes: ['n4'] })).body.approved).toEqual(['n4']);
    await power(hpc, { action: 'suspend', nodes: ['n4', 'n5'] });

    expect((await setPolicy({ allowResume: false })).body.policy).toEqual({ maxPoweredNodes: 2, allowResume: false });
    const paused = await power(hpc, { action: 'resume', nodes: ['n6'] });
    expect(paused.body.denied[0]?.reason).toMatch(/paused.*allowResume=false/);
    expect((await power(hpc, { action: 'suspend', nodes: ['n6'] })).body.approved).toEqual(['n6']);
    expect((await setPolicy({ allowResume: true, maxPoweredNodes: null })).body.policy).toEqual({ maxPoweredNodes: null, allowResume: true });
  });

  it('frees the slot of a node the inventory reports powered off well after the grant (a failed power-up)', async () => {
    expect((await setPolicy({ maxPoweredNodes: 1 })).status).toBe(200);
    expect((await power(hpc, { action: 'resume', nodes: ['n7'] })).body.approved).toEqual(['n7']);
    expect((await power(hpc, { action: 'resume', nodes: ['n8'] })).body.approved).toEqual([]);
    // what the agent's inventory writes: n7 powered off. Just after the grant (an inventory taken before the
    // power-up) it must not free the slot; a minute later (Slurm gave up on it at ResumeTimeout) it does.
    const db = pg.client();
    await db.connect();
    try {
      const info = JSON.stringify({ name: 'n7', labels: { 'slurm.meridian.dev/power': 'off' } });
      await db.query(`INSERT INTO nodes (cluster_id, name, info, updated_at) VALUES ('hpc', 'n7', $1, now())`, [info]);
      expect((await power(hpc, { action: 'resume', nodes: ['n8'] })).body.approved).toEqual([]);
      await db.query(`UPDATE nodes SET updated_at = now() + interval '61 seconds' WHERE cluster_id = 'hpc' AND name = 'n7'`);
      expect((await admin.get<{ powered: string[] }>('/api/v1/clusters/hpc/power')).body.powered).toEqual([]);
      expect((await power(hpc, { action: 'resume', nodes: ['n8'] })).body.approved).toEqual(['n8']);
      await db.query(`DELETE FROM nodes WHERE cluster_id = 'hpc' AND name = 'n7'`);
    } finally {
      await db.end();
    }
    await power(hpc, { action: 'suspend', nodes: ['n7', 'n8'] });
    expect((await setPolicy({ maxPoweredNodes: null })).status).toBe(200);
  });

  it('records every answer as a power event, readable per node', async () => {
    const all = (await admin.get<{ items: PowerEvent[] }>('/api/v1/clusters/hpc/power/events?limit=1000')).body.items;
    expect(all.filter((e) => e.node === 'n3').map((e) => [e.action, e.granted])).toEqual([['resume', false], ['resume', true], ['suspend', true]]);
    const n4 = (await admin.get<{ items: PowerEvent[] }>('/api/v1/clusters/hpc/power/events?node=n4')).body.items;
    expect(n4.map((e) => [e.action, e.granted, e.requestedBy])).toEqual([['resume', false, 'cluster:hpc'], ['resume', true, 'cluster:hpc'], ['suspend', true, 'cluster:hpc']]);
    expect(n4[0]!.reason).toMatch(/drained/);
    expect((await admin.get<Err>('/api/v1/clusters/hpc/power/events?node=a%20b')).status).toBe(400);
  });

  it('validates the policy and keeps it admin-only', async () => {
    for (const [body, path] of [[{ maxPoweredNodes: -1 }, 'maxPoweredNodes'], [{ maxPoweredNodes: 1.5 }, 'maxPoweredNodes'], [{ allowResume: 'yes' }, 'allowResume'], [{ max: 1 }, '(root)']] as const) {
      const r = await setPolicy(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.details.map((x) => x.path)).toContain(path);
    }
    expect((await setPolicy({ maxPoweredNodes: 1 }, hpc)).status).toBe(401);
    const noBody = await admin.req<Err>('PUT', '/api/v1/clusters/hpc/power/policy');
    expect(noBody.status).toBe(400);
    expect(noBody.body.details).toContainEqual({ path: '(body)', message: expect.stringMatching(/JSON/) });
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await admin.get<{ paths: Record<string, Record<string, unknown>> }>('/api/v1/openapi.json')).body;
    expect(Object.keys(doc.paths['/api/v1/clusters/{id}/power'] ?? {}).sort()).toEqual(['get', 'post']);
    expect(doc.paths['/api/v1/clusters/{id}/power/policy']).toHaveProperty('put');
    expect(doc.paths['/api/v1/clusters/{id}/power/events']).toHaveProperty('get');
  });
});
