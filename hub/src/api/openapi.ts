// The OpenAPI 3.1 document, generated from the same zod schemas the routes validate with.
import { z } from 'zod';
import type { AnyRoute } from './route.ts';

type Json = Record<string, unknown>;

function schemaOf(s: z.ZodType): Json {
  const out = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Json;
  delete out.$schema;
  return out;
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): Json[] {
  if (!schema) return [];
  const js = schemaOf(schema) as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (js.required ?? []).includes(name),
    schema: s,
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
  }));
}

const ERROR = {
  type: 'object',
  required: ['code', 'message', 'details'],
  properties: {
    code: { type: 'string' },
    message: { type: 'string' },
    details: { type: 'array', items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } } },
  },
};

export function openApiDocument(routes: AnyRoute[], version: string): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const responses: Record<string, Json> = {};
    const okCode = Object.keys(r.responses ?? {}).find((c) => c.startsWith('2')) ?? '200';
    const produces = r.produces ?? 'application/json';
    responses[okCode] = { description: r.responses?.[Number(okCode)] ?? 'OK', content: { [produces]: { schema: produces === 'application/json' ? { type: 'object' } : { type: 'string' } } } };
    for (const [code, description] of Object.entries(r.responses ?? {}))
      if (!code.startsWith('2')) responses[code] = { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    if (r.auth !== false) responses['401'] ??= { description: 'missing or unknown token', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    if (r.params || r.query || r.body) responses['400'] ??= { description: 'invalid request (details name the fields)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    const op: Json = {
      operationId: `${r.method.toLowerCase()}${path.replace(/\/api\/v1/, '').replace(/[{}]/g, '').replace(/[/-]([a-z])/g, (_m, c: string) => c.toUpperCase())}`,
      summary: r.summary,
      tags: [r.tag],
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      responses,
      ...(r.auth === false ? { security: [] } : {}),
    };
    if (r.body)
      op.requestBody = {
        required: true,
        content: { 'application/json': { schema: schemaOf(r.body) }, ...(r.url === '/api/v1/jobs' ? { 'application/yaml': { schema: schemaOf(r.body) } } : {}) },
      };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Meridian hub API', version, description: 'One queue for every GPU. Errors are {code, message, details:[{path, message}]}.' },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas: { Error: ERROR } },
    paths,
  };
}
