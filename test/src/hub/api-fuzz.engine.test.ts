// Broken input: requests generated from the hub's own OpenAPI document (fast-check) never get a 5xx, and a
// refused request never leaves a row behind.
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresEngine } from '../harness/postgres.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import { ADMIN_TOKEN, Api, FAST, helloJob } from './helpers.ts';
import { fuzzBody, fuzzParam } from './json-schema-arb.ts';

type Param = { name: string; in: 'path' | 'query'; required: boolean; schema: Record<string, unknown> };
type Operation = { parameters: Param[]; requestBody?: { content: Record<string, { schema: Record<string, unknown> }> } };

// Tables only requests write (job_events and the outbox also change in the background as workflows run).
const COUNTS = `SELECT (SELECT count(*) FROM jobs) AS jobs, (SELECT count(*) FROM projects) AS projects,
  (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM api_tokens) AS tokens, (SELECT count(*) FROM clusters) AS clusters,
  (SELECT count(*) FROM agent_streams) AS streams, (SELECT count(*) FROM project_members) AS members,
  (SELECT count(*) FROM audit_log) AS audit`;

describe('API under property-based broken input', () => {
  let pgEngine: PostgresEngine;
  let temporal: TemporalEngine;
  let hub: Hub;
  let db: pg.Pool;
  let doc: { paths: Record<string, Record<string, Operation>> };
  let member: Api;

  beforeAll(async () => {
    [pgEngine, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
    hub = await startHub({ databaseUrl: pgEngine.url, temporalAddress: temporal.address, ...FAST, logLevel: 'fatal' });
    db = new pg.Pool({ connectionString: pgEngine.url, max: 2 });
    const admin = new Api(hub.url, ADMIN_TOKEN);
    await admin.post('/api/v1/projects', { name: 'ml' });
    await admin.post('/api/v1/users', { name: 'mia', projects: { ml: 'member' } });
    member = admin.as((await admin.post<{ token: string }>('/api/v1/users/mia/tokens', {})).body.token);
    await member.post('/api/v1/jobs', helloJob('seed'));
    doc = (await admin.get<typeof doc>('/api/v1/openapi.json')).body;
  });
  afterAll(async () => {
    await db?.end();
    await hub?.stop();
    await Promise.all([pgEngine?.stop(), temporal?.stop()]);
  });

  it('never answers 5xx and never half-stores a refused request', async () => {
    const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(() => !path.endsWith('/events/stream'))
        .map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
    );
    expect(ops.length).toBeGreaterThan(15);
    const request = fc.constantFrom(...ops).chain(({ path, method, op }) => {
      const pathParams = op.parameters.filter((p) => p.in === 'path');
      const queryParams = op.parameters.filter((p) => p.in === 'query');
      const body = op.requestBody?.content['application/json']?.schema;
      return fc.record({
        path: fc.constant(path),
        method: fc.constant(method),
        pathValues: fc.tuple(...pathParams.map((p) => fuzzParam(p.schema).map((v) => [p.name, v] as const))),
        query: fc.subarray(queryParams).chain((qs) => fc.tuple(...qs.map((p) => fuzzParam(p.schema).map((v) => [p.name, v] as const)))),
        body: body ? fc.oneof({ weight: 9, arbitrary: fuzzBody(body).map((b) => JSON.stringify(b)) }, { weight: 1, arbitrary: fc.string({ maxLength: 40 }) }) : fc.constant(undefined),
        who: fc.constantFrom('admin', 'member', 'member', 'none'),
      });
    });
    let requests = 0;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        let url = r.path;
        for (const [name, v] of r.pathValues) url = url.replace(`{${name}}`, encodeURIComponent(v));
        const q = new URLSearchParams(r.query.map(([k, v]) => [k, v] as [string, string]));
        if ([...q].length) url += `?${q}`;
        const token = r.who === 'admin' ? ADMIN_TOKEN : r.who === 'member' ? member.token : null;
        const before = (await db.query(COUNTS)).rows[0];
        const res = await new Api(hub.url, token).req(r.method, url, r.body);
        requests++;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect(res.status, `${r.method} ${url} ${r.body ?? ''} → ${JSON.stringify(res.body)}`).toBeLessThan(500);
        if (res.status >= 400) {
          expect(res.body, `${r.method} ${url}`).toMatchObject({ code: expect.any(String), message: expect.any(String), details: expect.any(Array) });
          const after = (await db.query(COUNTS)).rows[0];
          expect(after, `${r.method} ${url} was refused (${res.status}) but changed rows`).toEqual(before);
        }
      }),
      { numRuns: 400, seed: Number(process.env.FUZZ_SEED ?? 4242) },
    );
    expect(requests).toBe(400);
    // Both sides were exercised: refusals and acceptances.
    expect([...statuses.keys()].some((s) => s >= 200 && s < 300)).toBe(true);
    expect([...statuses.keys()].some((s) => s === 400)).toBe(true);
    // Every job that exists is whole: it has its submit event.
    const orphans = await db.query(`SELECT count(*)::int AS n FROM jobs j WHERE NOT EXISTS (SELECT 1 FROM job_events e WHERE e.job_id = j.id AND e.type = 'submitted')`);
    expect(orphans.rows[0].n).toBe(0);
  }, 600_000);
});
