// A small route registrar: checks the caller, validates params/query/body with zod (field-named 400s), and
// records every route so the OpenAPI document is generated from the same schemas.
//
// Order of checks, the same on every route: token (401) → path parameters → the route's `access` (403, or
// 404 where tenancy hides the resource) → body parsing and its bytes → query and body validation → handler.
// Who may call is settled before the body is read, so a refusal never depends on what the body held.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { fieldErrors } from '@meridian/protocol/job-spec';
import type { Principal } from '../store/repos/users.ts';
import { requireAdmin } from './auth.ts';
import { badRequest, unauthenticated } from './errors.ts';

/** Who may call: 'admin' (hub administrators), or a check given the caller and the validated path. */
export type Access<P> = 'admin' | ((a: { req: FastifyRequest; principal: Principal | undefined; params: P }) => void | Promise<void>);

export interface RouteDef<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  summary: string;
  tag: string;
  params?: P;
  query?: Q;
  body?: B;
  /** false = no bearer token needed (a route that checks another credential does it in `access`). */
  auth?: boolean;
  /** Checked after the token and the path, before the body is parsed. */
  access?: Access<z.output<P>>;
  /** Route-specific status codes and descriptions for the OpenAPI document (openapi.ts adds the common ones). */
  responses?: Record<number, string>;
  /** Media type of the success response (default JSON). */
  produces?: string;
  bodyLimit?: number;
  handler: (ctx: { req: FastifyRequest; reply: FastifyReply; principal: Principal; params: z.output<P>; query: z.output<Q>; body: z.output<B> }) => Promise<unknown>;
}

export type AnyRoute = RouteDef<z.ZodType, z.ZodType, z.ZodType>;

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, where: 'path' | 'query'): z.output<T> {
  if (!schema) return undefined as z.output<T>;
  const r = schema.safeParse(value ?? {});
  if (!r.success) throw badRequest(`invalid ${where}`, fieldErrors(r.error).map((e) => ({ path: `${where}.${e.path}`, message: e.message })));
  return r.data;
}

/** Whether the body schema accepts no body at all (then the OpenAPI document marks the body optional). */
export function bodyOptional(schema: z.ZodType): boolean {
  return schema.safeParse(undefined).success;
}

function parseBody<T extends z.ZodType>(schema: T | undefined, value: unknown): z.output<T> {
  if (!schema) return undefined as z.output<T>;
  if (value === undefined && !bodyOptional(schema)) throw badRequest('this request needs a JSON body', [{ path: '(body)', message: 'send a JSON object (Content-Type: application/json)' }]);
  const r = schema.safeParse(value);
  if (!r.success) throw badRequest('invalid body', fieldErrors(r.error).map((e) => ({ path: e.path, message: e.message })));
  return r.data;
}

const PARAMS = Symbol('meridianParams');
type WithParams = FastifyRequest & { [PARAMS]?: unknown };

export class Routes {
  readonly all: AnyRoute[] = [];

  constructor(private readonly app: FastifyInstance) {}

  add<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(def: RouteDef<P, Q, B>): void {
    this.all.push(def as unknown as AnyRoute);
    this.app.route({
      method: def.method,
      url: def.url,
      ...(def.bodyLimit ? { bodyLimit: def.bodyLimit } : {}),
      // Before the body is read: the token, the path and who may call.
      preParsing: async (req, _reply, payload) => {
        const principal = req.principal;
        if (def.auth !== false && !principal) throw unauthenticated('send Authorization: Bearer <token> (meridian login)');
        const params = parse(def.params, req.params, 'path');
        (req as WithParams)[PARAMS] = params;
        if (def.access === 'admin') requireAdmin(principal!);
        else if (def.access) await def.access({ req, principal, params });
        return payload;
      },
      handler: async (req, reply) => {
        const params = (req as WithParams)[PARAMS] as z.output<P>;
        const query = parse(def.query, req.query, 'query');
        const body = parseBody(def.body, req.body);
        const out = await def.handler({ req, reply, principal: req.principal!, params, query, body });
        if (reply.sent) return reply;
        return out;
      },
    });
  }
}
