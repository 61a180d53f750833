// The hub's one error path, without a database: how each kind of failure is answered, and in which order a
// route checks the caller, the path and the body.
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Principal } from '../store/repos/users.ts';
import { findBadString } from './bad-bytes.ts';
import type { ApiContext } from './context.ts';
import { noDatabaseContext } from './testing/no-database-context.ts';
import { installErrorHandler, toApiError, transient } from './errors.ts';
import { Routes } from './route.ts';
import { buildServer } from './server.ts';

const shape = { code: expect.any(String), message: expect.any(String), details: expect.any(Array) };

describe('toApiError', () => {
  it('maps the values Postgres refuses to 400 and a duplicate to 409', () => {
    for (const code of ['22P05', '22021', '22P02', '22003', '22001', '23503', '54000']) expect(toApiError(Object.assign(new Error('x'), { code }))?.status, code).toBe(400);
    expect(toApiError(Object.assign(new Error('dup'), { code: '23505' }))).toMatchObject({ status: 409, code: 'conflict' });
  });

  it('leaves the hub’s own failures to the caller, and knows which are worth a retry', () => {
    const down = Object.assign(new Error('terminating connection'), { code: '57P01' });
    expect(toApiError(down)).toBeNull();
    expect(transient(down)).toBe(true);
    expect(transient(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(transient(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(transient(Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14, details: 'No connection established' }))).toBe(true);
    expect(transient(new TypeError('x is undefined'))).toBe(false);
  });

  it('reads the status from `status` as well as `statusCode`', () => {
    expect(toApiError(Object.assign(new Error('who?'), { status: 401, code: 'unauthenticated' }))).toMatchObject({ status: 401, code: 'unauthenticated' });
    expect(toApiError(Object.assign(new Error('big'), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' }))).toMatchObject({ status: 413, code: 'too_large' });
  });
});

describe('findBadString', () => {
  it('names the field that holds a NUL or a lone surrogate, keys included', () => {
    expect(findBadString({ workload: { script: 'echo \u0000' } }, '')).toMatchObject({ path: 'workload.script', message: expect.stringContaining('NUL') });
    expect(findBadString({ labels: { ok: 'x', team: 'a\uD800b' } }, '')).toMatchObject({ path: 'labels.team', message: expect.stringContaining('surrogate') });
    expect(findBadString({ prices: { 'A100\u0000': { onDemand: 1 } } }, '')?.path).toBe('prices."A100\\u0000"');
    expect(findBadString({ tasks: [{ a: 'ok' }, { a: '\uDC00' }] }, '')?.path).toBe('tasks[1].a');
    expect(findBadString({ workload: { command: ['echo', '\u0000'] } }, '')?.path).toBe('workload.command[1]');
    expect(findBadString({ annotations: { 'slurm.meridian.dev/x y': '\u0000' } }, '')?.path).toBe('annotations.slurm.meridian.dev/x y');
    expect(findBadString({ name: '\u0000' }, 'query')?.path).toBe('query.name');
    expect(findBadString('\u0000', '')?.path).toBe('(body)');
  });

  it('accepts valid text: emoji (surrogate pairs), other control characters', () => {
    expect(findBadString({ a: 'GPU 🚀', b: 'tab\tline\n', c: ['x', { d: 'é' }] }, '')).toBeNull();
  });

  it('walks a deeply nested body without overflowing the stack', () => {
    let deep: unknown = 'end\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const path = findBadString(deep, '')!.path;
    expect(path.startsWith('…') && path.endsWith('[0][0]') && path.length <= 501).toBe(true);
  });
});

describe('routes: order of checks and error shapes', () => {
  let app: FastifyInstance;
  const admin = { id: '1', name: 'root', isAdmin: true, roles: {} } as unknown as Principal;
  const viewer = { id: '2', name: 'val', isAdmin: false, roles: { ml: 'viewer' } } as unknown as Principal;

  beforeAll(async () => {
    app = Fastify();
    installErrorHandler(app);
    app.decorateRequest('principal', undefined);
    app.addHook('onRequest', async (req) => {
      req.principal = req.headers.authorization === 'Bearer admin' ? admin : req.headers.authorization === 'Bearer viewer' ? viewer : undefined;
    });
    const routes = new Routes(app);
    const Body = z.object({ n: z.number().int(), label: z.string().optional() }).strict();
    routes.add({ method: 'PUT', url: '/x/:id', tag: 't', summary: 's', params: z.object({ id: z.string().max(8) }), body: Body, access: 'admin', handler: async ({ body }) => body });
    routes.add({ method: 'POST', url: '/small', tag: 't', summary: 's', bodyLimit: 16, body: z.object({ a: z.string() }), handler: async ({ body }) => body });
    routes.add({ method: 'PUT', url: '/patch/:id', tag: 't', summary: 's', params: z.object({ id: z.string() }), body: z.object({ a: z.boolean().optional() }).strict(), handler: async ({ body }) => body });
    routes.add({ method: 'GET', url: '/boom', tag: 't', summary: 's', auth: false, handler: async () => Promise.reject(new Error('bug')) });
    routes.add({ method: 'GET', url: '/pg', tag: 't', summary: 's', auth: false, handler: async () => Promise.reject(Object.assign(new Error('invalid byte sequence'), { code: '22021' })) });
    routes.add({ method: 'POST', url: '/n/:op(^a$|^b$)', tag: 't', summary: 's', auth: false, params: z.object({ op: z.enum(['a', 'b']) }), handler: async ({ params }) => params });
    routes.add({ method: 'GET', url: '/n/events', tag: 't', summary: 's', auth: false, handler: async () => ({ items: [] }) });
    await app.ready();
  });
  afterAll(() => app.close());

  const put = (url: string, token: string | null, payload?: string) =>
    app.inject({ method: 'PUT', url, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(payload !== undefined ? { payload } : {}) });

  it('401 comes before anything about the path or the body', async () => {
    const r = await put('/x/way-too-long-id', null, '{not json');
    expect(r.statusCode).toBe(401);
    expect(r.json()).toMatchObject({ ...shape, code: 'unauthenticated' });
    expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it('checks the caller before the body: a viewer with a broken body gets 403, not 400', async () => {
    expect((await put('/x/a', 'viewer', '{not json')).statusCode).toBe(403);
    expect((await put('/x/a', 'viewer', '{"n": "x"}')).statusCode).toBe(403);
    const bad = await put('/x/a', 'admin', '{"n": "x"}');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().details[0].path).toBe('n');
  });

  it('refuses a missing body where one is required, even when every field is optional', async () => {
    const r = await put('/patch/a', 'admin');
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ ...shape, details: [{ path: '(body)' }] });
    expect((await put('/patch/a', 'admin', '{}')).statusCode).toBe(200);
  });

  it('answers NUL and lone surrogates with 400 naming the field (body, query and path)', async () => {
    const nul = await put('/x/a', 'admin', JSON.stringify({ n: 1, label: 'a\u0000b' }));
    expect(nul.statusCode).toBe(400);
    expect(nul.json().details).toEqual([{ path: 'label', message: expect.stringContaining('NUL') }]);
    const sur = await put('/x/a', 'admin', '{"n": 1, "label": "\\ud800"}');
    expect(sur.json().details[0]).toMatchObject({ path: 'label', message: expect.stringContaining('surrogate') });
    const inPath = await put('/x/%00', 'admin', '{"n": 1}');
    expect(inPath.statusCode).toBe(400);
    expect(inPath.json().details[0].path).toBe('path.id');
  });

  it('answers bad JSON, wrong media type and unknown routes and methods in the standard shape', async () => {
    const json = await put('/x/a', 'admin', '{"n": ');
    expect(json.statusCode).toBe(400);
    expect(json.json()).toMatchObject({ code: 'invalid', details: [{ path: '(body)' }] });
    const media = await app.inject({ method: 'PUT', url: '/x/a', headers: { authorization: 'Bearer admin', 'content-type': 'text/csv' }, payload: 'a,b' });
    expect(media.statusCode).toBe(415);
    expect(media.json()).toMatchObject({ ...shape, code: 'unsupported_media_type' });
    const big = await app.inject({ method: 'POST', url: '/small', headers: { authorization: 'Bearer admin', 'content-type': 'application/json' }, payload: JSON.stringify({ a: 'x'.repeat(64) }) });
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({ ...shape, code: 'too_large', details: [{ path: '(body)' }] });
    const none = await app.inject({ method: 'GET', url: '/nope' });
    expect(none.statusCode).toBe(404);
    expect(none.json()).toMatchObject({ ...shape, code: 'not_found' });
    const method = await app.inject({ method: 'DELETE', url: '/x/a' });
    expect(method.statusCode).toBe(405);
    expect(method.headers.allow).toBe('PUT');
    expect(method.json()).toMatchObject({ ...shape, code: 'method_not_allowed' });
    // a path parameter with its own pattern: a sibling path under another method is 405 with that method
    expect((await app.inject({ method: 'POST', url: '/n/a' })).statusCode).toBe(200);
    const unknownOp = await app.inject({ method: 'POST', url: '/n/explode' });
    expect(unknownOp.statusCode).toBe(400);
    expect(unknownOp.json().details).toEqual([{ path: 'path.op', message: '"explode" is not one of: a, b' }]);
    const sibling = await app.inject({ method: 'POST', url: '/n/events' });
    expect([sibling.statusCode, sibling.headers.allow]).toEqual([405, 'GET, HEAD']);
    const unknownMethod = await app.inject({ method: 'QUERY' as 'GET', url: '/n/events', headers: { 'content-type': 'application/json' }, payload: '{' });
    expect([unknownMethod.statusCode, unknownMethod.headers.allow]).toEqual([405, 'GET, HEAD']);
  });

  it('answers a store refusal of a value as 400, and the hub’s own bug as 500 without its text', async () => {
    expect((await app.inject({ method: 'GET', url: '/pg' })).statusCode).toBe(400);
    const bug = await app.inject({ method: 'GET', url: '/boom' });
    expect(bug.statusCode).toBe(500);
    expect(bug.json()).toMatchObject({ ...shape, code: 'internal' });
    expect(bug.body).not.toContain('bug');
  });
});

describe('the hub server', () => {
  const ctx: ApiContext = noDatabaseContext();

  it('answers an over-long path segment with 414 and a broken URL with 400, in the standard shape', async () => {
    const app = await buildServer(ctx, ctx.log);
    const long = await app.inject({ method: 'GET', url: `/api/v1/jobs/${'9'.repeat(600)}` });
    expect(long.statusCode).toBe(414);
    expect(long.json()).toMatchObject({ ...shape, code: 'uri_too_long', details: [{ path: '(url)' }] });
    const bad = await app.inject({ method: 'GET', url: '/api/v1/jobs/%E0%A4%A' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ ...shape, details: [{ path: '(url)' }] });
    await app.close();
  });

  it('declares every common status on every operation, with the error schema', async () => {
    const app = await buildServer(ctx, ctx.log);
    const doc = (await app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json() as { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }>; requestBody?: { required: boolean } }>> };
    const submit = doc.paths['/api/v1/jobs']!.post!;
    expect(Object.keys(submit.responses)).toEqual(expect.arrayContaining(['201', '400', '401', '403', '404', '413', '415', '429', '503']));
    expect(submit.responses['400']!.content!['application/json']!.schema).toEqual({ $ref: '#/components/schemas/Error' });
    expect(Object.keys(doc.paths['/api/v1/jobs/{id}']!.get!.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403', '404', '414', '503']));
    expect(Object.keys(doc.paths['/api/v1/jobs/{id}/events/stream']!.get!.responses['200']!.content!)).toEqual(['text/event-stream']);
    expect(doc.paths['/api/v1/clusters/{id}/power/policy']!.put!.requestBody!.required).toBe(true);
    // the document says what the hub refuses everywhere: no NUL in any string or record key
    const project = JSON.stringify(doc.paths['/api/v1/projects']!.post!.requestBody);
    expect(project).toContain('"pattern":"^[^\\\\u0000]*$"');
    const schema = JSON.parse(project).content['application/json'].schema;
    expect(schema.properties.priceOverrides.propertyNames.pattern).toBe('^[^\\u0000]*$');
    await app.close();
  });
});
