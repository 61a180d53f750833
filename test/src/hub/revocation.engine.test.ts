// Revocation on real Postgres and Temporal, with agents speaking the real protocol through edge-agent's HubLink:
// a revoked token's open event stream ends within seconds (on this hub and on another hub of the same store, and
// by the re-check timer when no NOTIFY arrives); a rotated cluster credential ends the agent's session, which
// the agent takes as fatal, and nothing sent on the old session is applied; /metrics needs its scrape token and
// names no project unless told to; projects and clusters are archived only once they have no live work.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import { PostgresEngine } from '../harness/postgres.ts';
import { PrometheusEngine } from '../harness/prometheus.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { TestAgent, fakeNodes } from '../doubles/test-agent.ts';
import { ADMIN_TOKEN, Api, FAST, helloJob, TEST_METRICS_TOKEN, waitFor } from './helpers.ts';

type Job = { id: string; state: string };
type Stream = { text: () => string; ended: Promise<number> };

/** Opens a job's event stream and collects it; `ended` resolves with the time the hub closed it. */
async function openStream(url: string, token: string): Promise<Stream> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const ended = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return Date.now();
      buf += dec.decode(value, { stream: true });
    }
  })();
  await waitFor('the stream to start', async () => buf.includes('keep-alive'), 10_000, 50);
  return { text: () => buf, ended };
}

describe('revocation, scrape token, archive', () => {
  let pg: PostgresEngine;
  let temporal: TemporalEngine;
  let hub: Hub;
  let hub2: Hub;
  let admin: Api;
  const agents: TestAgent[] = [];
  const credentials = new Map<string, string>();

  const addCluster = async (id: string): Promise<void> => {
    const r = await admin.post<{ credential: string }>('/api/v1/clusters', { id, region: `${id}-region`, kind: 'kubernetes', prices: { A100: { onDemand: 2 } } });
    expect(r.status).toBe(201);
    credentials.set(id, r.body.credential);
  };
  const agent = async (id: string, o: Partial<ConstructorParameters<typeof TestAgent>[0]> = {}): Promise<TestAgent> => {
    const a = new TestAgent({ hubUrl: hub.url, credential: credentials.get(id)!, clusterId: id, hold: () => true, ...o });
    agents.push(a);
    await a.start();
    return a;
  };
  const userToken = async (name: string, projects: Record<string, string>): Promise<{ id: string; token: string }> => {
    expect((await admin.post('/api/v1/users', { name, projects })).status).toBe(201);
    const t = await admin.post<{ id: string; token: string }>(`/api/v1/users/${name}/tokens`, { name: 'test' });
    expect(t.status).toBe(201);
    return t.body;
  };
  const runningJob = async (name: string, project: string, cluster: string): Promise<string> => {
    const id = await admin.submitJob(helloJob(name, { project, placement: { clusters: [cluster] } }));
    await admin.untilJobState(id, 'Running', { ms: 60_000 });
    return id;
  };
  const audit = async (): Promise<{ action: string; target: string }[]> => (await admin.get<{ items: { action: string; target: string }[] }>('/api/v1/audit?limit=500')).body.items;

  beforeAll(async () => {
    [pg, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
    hub = await startHub({ databaseUrl: pg.url, temporalAddress: temporal.address, ...FAST });
    // a second hub on the same store (no scheduler, no worker): revocations reach it through NOTIFY; it labels by project
    hub2 = await startHub({ databaseUrl: pg.url, temporalAddress: temporal.address, ...FAST, runScheduler: false, runWorker: false, metricsProjectLabels: true });
    admin = new Api(hub.url, ADMIN_TOKEN);
    for (const p of ['ml', 'alpha']) expect((await admin.post('/api/v1/projects', { name: p })).status).toBe(201);
    for (const c of ['east', 'west', 'south', 'north']) await addCluster(c);
    await agent('east');
  }, 240_000);
  afterAll(async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    await hub2?.stop();
    await hub?.stop();
    await Promise.all([pg?.stop(), temporal?.stop()]);
  });

  it('a revoked token ends the event streams it opened, on every hub, within 5 s', async () => {
    const alice = await userToken('alice', { ml: 'viewer' });
    const id = await runningJob('streamed', 'ml', 'east');
    const here = await openStream(`${hub.url}/api/v1/jobs/${id}/events/stream`, alice.token);
    const there = await openStream(`${hub2.url}/api/v1/jobs/${id}/events/stream`, alice.token);
    const t0 = Date.now();
    expect((await admin.req('DELETE', `/api/v1/users/alice/tokens/${alice.id}`)).status).toBe(200);
    const [a, b] = await Promise.all([here.ended, there.ended]);
    expect(a - t0).toBeLessThan(5000);
    expect(b - t0).toBeLessThan(5000);
    for (const s of [here, there]) expect(s.text()).toMatch(/event: revoked\ndata: \{"code":"unauthenticated","message":"credential revoked/);
    // and the token itself is refused from now on
    expect((await admin.as(alice.token).get(`/api/v1/jobs/${id}`)).status).toBe(401);
  });

  it('without the NOTIFY (missed while the listener reconnected), the re-check timer ends the stream', async () => {
    const carol = await userToken('carol', { ml: 'member' });
    const id = await runningJob('streamed-2', 'ml', 'east');
    const s = await openStream(`${hub.url}/api/v1/jobs/${id}/events/stream`, carol.token);
    const c = pg.client();
    await c.connect();
    const t0 = Date.now();
    // expiry is a revocation too, and it sends no notification
    await c.query(`UPDATE api_tokens SET expires_at = now() WHERE id = $1`, [carol.id]);
    await c.end();
    expect((await s.ended) - t0).toBeLessThan(5000);
    expect(s.text()).toContain('event: revoked');
  });

  it('a rotated cluster credential ends the agent session within 5 s; the agent takes it as fatal, and a reconnect with it gets 401, also fatal', async () => {
    const west = await agent('west');
    const revoked = new Promise<{ at: number; line: string }>((r) => west.link.events.once('revoked', (line: string) => r({ at: Date.now(), line })));
    const t0 = Date.now();
    const rot = await admin.post<{ credential: string }>('/api/v1/clusters/west/credential');
    expect(rot.status).toBe(200);
    const { at, line } = await revoked;
    expect(at - t0).toBeLessThan(5000);
    expect(line).toMatch(/^credential revoked: west; get a new credential with `meridian cluster credential west`/);
    expect(west.link.status).toBe('revoked');
    await waitFor('the hub to drop the session', async () => !hub.gateway.connected('west'), 5000, 50);
    await new Promise((r) => setTimeout(r, 1500)); // the link must not reconnect on its own
    expect(west.link.status).toBe('revoked');
    expect(hub.gateway.connected('west')).toBe(false);

    // an agent restarted with the old credential: 401 at the upgrade, fatal at once (no retry loop)
    const stale = new TestAgent({ hubUrl: hub.url, credential: credentials.get('west')!, clusterId: 'west' });
    agents.push(stale);
    const staleRevoked = new Promise<number>((r) => stale.link.events.once('revoked', () => r(Date.now())));
    const t1 = Date.now();
    stale.link.start();
    expect((await staleRevoked) - t1).toBeLessThan(5000);
    expect(stale.link.status).toBe('revoked');

    // the new credential works
    const fresh = await agent('west', { credential: rot.body.credential });
    expect(fresh.link.status).toBe('ready');
  });

  it('an event sent on a session after its credential was rotated is neither acked nor applied', async () => {
    const south = await agent('south');
    const revoked = new Promise<void>((r) => south.link.events.once('revoked', () => r()));
    const c = pg.client();
    await c.connect();
    // rotate in the store without the NOTIFY, so the event below arrives on a session that is still open
    await c.query(`UPDATE clusters SET credential_hash = 'rotated-by-the-test' WHERE id = 'south'`);
    await c.end();
    const late = fakeNodes(1, 8, 'A100', 'south-late');
    const seq = south.link.emit({ type: 'inventory.snapshot', nodes: late });
    await revoked;
    expect(south.link.journal.state.unacked.map((e) => e.seq)).toContain(seq);
    const nodes = (await admin.get<{ items: { name: string }[] }>('/api/v1/nodes?cluster=south')).body.items.map((n) => n.name);
    expect(nodes).toContain('south-0');
    expect(nodes).not.toContain('south-late-0');
  });

  it('/metrics answers 401 without the scrape token, and names projects only when the operator turns it on', async () => {
    const none = await fetch(`${hub.url}/metrics`);
    expect(none.status).toBe(401);
    const body = (await none.json()) as { code: string; message: string; details: unknown[] };
    expect(body).toEqual({ code: 'unauthenticated', message: expect.stringContaining('scrape token'), details: [] });
    // neither a wrong token nor a user's API token will do
    expect((await fetch(`${hub.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(`${hub.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(401);
    const scrape = { headers: { authorization: `Bearer ${TEST_METRICS_TOKEN}` } };
    const ok = await fetch(`${hub.url}/metrics`, scrape);
    expect(ok.status).toBe(200);
    const text = await ok.text();
    expect(text).toMatch(/meridian_jobs\{state="Running",tier="batch"\} [1-9]/);
    expect(text).not.toMatch(/project=|"ml"|"alpha"/);
    const labelled = await (await fetch(`${hub2.url}/metrics`, scrape)).text();
    expect(labelled).toMatch(/meridian_jobs\{state="Running",tier="batch",project="ml"\} [1-9]/);

    // Prometheus as the harness and the sandbox configure it scrapes the hub with the token
    const prom = await PrometheusEngine.start({ hub: { target: new URL(hub.url).host, token: TEST_METRICS_TOKEN }, scrapeInterval: '1s' });
    try {
      const up = await waitFor('Prometheus to scrape the hub', async () => {
        const r = await prom.query('up{job="meridian-hub"}');
        return r.length ? r : null;
      }, 30_000, 250);
      expect(up[0]!.value[1]).toBe('1');
      expect((await prom.query('meridian_jobs{state="Running"}')).length).toBeGreaterThan(0);
    } finally {
      await prom.stop();
    }
  });

  it('a project is archived only without live jobs; then it takes no jobs and its members lose access, admins still read its history', async () => {
    const bob = await userToken('bob', { alpha: 'member' });
    const id = await runningJob('in-alpha', 'alpha', 'east');
    const refused = await admin.req<{ code: string; message: string; details: { path: string; message: string }[] }>('DELETE', '/api/v1/projects/alpha');
    expect(refused.status).toBe(409);
    expect(refused.body.message).toContain('1 live job');
    expect(refused.body.details[0]!.path).toBe('jobs');
    expect((await admin.as(bob.token).req('DELETE', '/api/v1/projects/alpha')).status).toBe(403);

    expect((await admin.post(`/api/v1/jobs/${id}/cancel`)).status).toBeLessThan(300);
    await admin.untilJobState(id, 'Cancelled', { ms: 60_000 });
    const done = await admin.req<{ name: string; archivedAt: string }>('DELETE', '/api/v1/projects/alpha');
    expect(done.status).toBe(200);
    expect(done.body.archivedAt).toBeTruthy();
    expect((await admin.req('DELETE', '/api/v1/projects/alpha')).status).toBe(200); // again: still archived

    const sub = await admin.post<{ code: string; message: string }>('/api/v1/jobs', helloJob('late', { project: 'alpha' }));
    expect(sub.status).toBe(409);
    expect(sub.body.message).toContain('project alpha is archived');
    // bob's only membership was alpha's: he may submit nowhere now
    expect((await admin.as(bob.token).post('/api/v1/jobs', helloJob('late', { project: 'alpha' }))).status).toBe(403);
    expect((await admin.as(bob.token).get('/api/v1/projects/alpha')).status).toBe(404);
    expect((await admin.as(bob.token).get(`/api/v1/jobs/${id}`)).status).toBe(404);
    expect((await admin.get<Job>(`/api/v1/jobs/${id}`)).body.state).toBe('Cancelled');
    const log = await audit();
    // the archive is audited, once (the refusal and the repeat changed nothing)
    expect(log.filter((e) => e.target === 'alpha' && e.action.startsWith('project.archive'))).toEqual([expect.objectContaining({ action: 'project.archive' })]);
  });

  it('a cluster is archived only once drained; archiving ends its agent session and nothing is placed on it again', async () => {
    const north = await agent('north');
    const id = await runningJob('on-north', 'ml', 'north');
    const first = await admin.req<{ message: string; details: { path: string; message: string }[] }>('DELETE', '/api/v1/clusters/north');
    expect(first.status).toBe(409);
    expect(first.body.details.map((d) => d.path).sort()).toEqual(['jobs', 'nodes']);
    expect(first.body.details.find((d) => d.path === 'nodes')!.message).toContain('north-0, north-1');

    expect((await admin.post(`/api/v1/jobs/${id}/cancel`)).status).toBeLessThan(300);
    await admin.untilJobState(id, 'Cancelled', { ms: 60_000 });
    const second = await admin.req<{ details: { path: string }[] }>('DELETE', '/api/v1/clusters/north');
    expect(second.status).toBe(409);
    expect(second.body.details.map((d) => d.path)).toEqual(['nodes']);

    // drain through the node-ops path: hub → agent command → the agent reports the nodes unschedulable
    for (const node of ['north-0', 'north-1']) expect((await admin.post(`/api/v1/clusters/north/nodes/${node}/drain`, { reason: 'retiring north' })).status).toBe(202);
    await waitFor('the drained nodes to reach the hub', async () => {
      const nodes = (await admin.get<{ items: { info: { unschedulable: boolean } }[] }>('/api/v1/nodes?cluster=north')).body.items;
      return nodes.length === 2 && nodes.every((n) => n.info.unschedulable);
    }, 15_000);

    // a job waiting for north (queued: every node is cordoned) does not hold the archive up, and is never placed there
    const waiting = await admin.submitJob(helloJob('waits-for-north', { placement: { clusters: ['north'] } }));
    const revoked = new Promise<number>((r) => north.link.events.once('revoked', () => r(Date.now())));
    const t0 = Date.now();
    const ok = await admin.req<{ id: string; archivedAt: string }>('DELETE', '/api/v1/clusters/north');
    expect(ok.status).toBe(200);
    expect(ok.body.archivedAt).toBeTruthy();
    expect((await revoked) - t0).toBeLessThan(5000);
    await waitFor('the hub to drop the session', async () => !hub.gateway.connected('north'), 5000, 50);
    const c = (await admin.get<{ archivedAt: string | null }>('/api/v1/clusters/north')).body;
    expect(c.archivedAt).toBeTruthy();
    expect((await admin.post('/api/v1/clusters/north/credential')).status).toBe(404);

    await new Promise((r) => setTimeout(r, 2500)); // several scheduling cycles
    expect((await admin.get<Job>(`/api/v1/jobs/${waiting}`)).body.state).toBe('Queued');
    expect((await admin.post(`/api/v1/jobs/${waiting}/cancel`)).status).toBeLessThan(300);
    // and a new job cannot name it any more
    const only = await admin.post<{ details: { path: string }[] }>('/api/v1/jobs', helloJob('only-north', { placement: { clusters: ['north'] } }));
    expect(only.status).toBe(400);
    expect(only.body.details.map((d) => d.path)).toEqual(['placement.clusters[0]']);

    const log = await audit();
    expect(log.filter((e) => e.target === 'north' && e.action.startsWith('cluster.archive'))).toEqual([expect.objectContaining({ action: 'cluster.archive' })]);
  });
});
