// The OpenAPI 3.1 document, generated from the same zod schemas the routes validate with.
import { z } from 'zod';
import { bodyOptional } from './route.ts';
import type { AnyRoute } from './route.ts';

type Json = Record<string, unknown>;

/** No stored string may hold a NUL (errors.ts refuses it in every request); the document says so. */
const NO_NUL = '^[^\\u0000]*$';

/** Adds the no-NUL rule to every string and every record key of a request schema, in place. */
function withoutNul(s: unknown): void {
  if (!s || typeof s !== 'object') return;
  if (Array.isArray(s)) return s.forEach(withoutNul);
  const o = s as Json;
  const types = [o.type].flat();
  if (types.includes('string') && o.enum === undefined && o.const === undefined) {
    if (o.pattern === undefined) o.pattern = NO_NUL;
    else if (!String(o.pattern).startsWith('^[^\\u0000]')) o.allOf = [...((o.allOf as unknown[]) ?? []), { pattern: NO_NUL }];
  }
  if (types.includes('object') && o.additionalProperties !== false && o.propertyNames === undefined) o.propertyNames = { pattern: NO_NUL };
  for (const [k, v] of Object.entries(o)) if (k !== 'allOf' || !types.includes('string')) withoutNul(v);
}

function schemaOf(s: z.ZodType): Json {
  const out = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Json;
  delete out.$schema;
  withoutNul(out);
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

/** One Server-Sent Event (the schema each event of a text/event-stream answer follows); data is JSON text. */
const SSE_EVENT = {
  type: 'object',
  required: ['data'],
  properties: { event: { type: 'string' }, id: { type: 'string' }, data: { type: 'string', contentMediaType: 'application/json' }, retry: { type: 'integer' } },
};

const errorContent = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };

/**
 * Every status a route can answer. Route-specific ones come from its `responses`; the ones any route of its
 * kind can give are added here, so no route can forget them: 400 (a malformed query, URL or bytes the store
 * cannot keep), 404 (the resource, or a project the caller cannot see), 503 (the store unreachable); with a
 * token 401 and 403; with path parameters 414 (a segment longer than any name); with a body 413 and 415.
 */
function responsesOf(r: AnyRoute): Record<string, Json> {
  const responses: Record<string, Json> = {};
  const declared = r.responses ?? {};
  const okCodes = Object.keys(declared).filter((c) => c.startsWith('2'));
  const produces = r.produces ?? 'application/json';
  const okSchema = produces === 'application/json' ? { type: 'object' } : produces === 'text/event-stream' ? SSE_EVENT : { type: 'string' };
  for (const code of okCodes.length ? okCodes : ['200']) responses[code] = { description: declared[Number(code)] ?? 'OK', content: { [produces]: { schema: okSchema } } };
  for (const [code, description] of Object.entries(declared)) if (!code.startsWith('2')) responses[code] = { description, content: errorContent };
  const common: Record<number, string> = { 400: 'invalid request (details name the fields)', 404: 'not found, or not visible to the caller', 503: 'the store is unreachable; retry after Retry-After seconds' };
  if (r.auth !== false) Object.assign(common, { 401: 'missing, unknown or revoked token', 403: 'the caller may not do this' });
  if (r.params) common[414] = 'a path segment is longer than any name the API accepts';
  if (r.method !== 'GET') Object.assign(common, { 413: 'the body is too large', 415: 'the body is not JSON' });
  for (const [code, description] of Object.entries(common)) responses[code] ??= { description, content: errorContent };
  return responses;
}

export function openApiDocument(routes: AnyRoute[], version: string): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z]+)(\([^/]*\))?/g, '{$1}');
    const responses = responsesOf(r);
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
        required: !bodyOptional(r.body),
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
