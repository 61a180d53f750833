// The OpenAPI document and request validation, without a database (routes reject before touching it).
import { describe, expect, it } from 'vitest';
import type { ApiContext } from './context.ts';
import { noDatabaseContext } from './testing/no-database-context.ts';
import { buildServer } from './server.ts';

const ctx: ApiContext = noDatabaseContext();

describe('REST API surface', () => {
  it('serves an OpenAPI 3.1 document generated from the zod schemas', async () => {
    const app = await buildServer(ctx, ctx.log);
    const r = await app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    expect(r.statusCode).toBe(200);
    const doc = r.json() as { openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown>; required?: string[] } }> } }>> };
    expect(doc.openapi).toBe('3.1.0');
    const submit = doc.paths['/api/v1/jobs']!.post!;
    const schema = submit.requestBody!.content['application/json']!.schema;
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['name', 'project', 'tier', 'tasks', 'resources', 'workload']));
    expect(schema.required).toEqual(expect.arrayContaining(['name', 'workload']));
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/jobs/{id}', '/api/v1/jobs/{id}/cancel', '/api/v1/jobs/{id}/why', '/api/v1/jobs/{id}/logs', '/api/v1/jobs/{id}/events/stream', '/api/v1/projects', '/api/v1/users', '/api/v1/clusters', '/api/v1/nodes']),
    );
    await app.close();
  });

  it('answers 401 without a token and 404 in the error shape for unknown routes', async () => {
    const app = await buildServer(ctx, ctx.log);
    const r = await app.inject({ method: 'GET', url: '/api/v1/jobs' });
    expect(r.statusCode).toBe(401);
    expect(r.json()).toMatchObject({ code: 'unauthenticated', details: [] });
    const nf = await app.inject({ method: 'GET', url: '/api/v1/nope' });
    expect(nf.statusCode).toBe(404);
    expect(nf.json()).toMatchObject({ code: 'not_found' });
    await app.close();
  });
});
