// A small route registrar: validates params/query/body with zod (field-named 400s), checks auth, and
// records every route so the OpenAPI document is generated from the same schemas.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { fieldErrors } from '@meridian/protocol/job-spec';
import type { Principal } from '../store/repos/users.ts';
import { ApiError, badRequest } from './errors.ts';

export interface RouteDef<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  summary: string;
  tag: string;
  params?: P;
  query?: Q;
  body?: B;
  /** false = no bearer token needed. */
  auth?: boolean;
  /** Status codes and descriptions for the OpenAPI document. */
  responses?: Record<number, string>;
  /** Media type of the success response (default JSON). */
  produces?: string;
  bodyLimit?: number;
  handler: (ctx: { req: FastifyRequest; reply: FastifyReply; principal: Principal; params: z.output<P>; query: z.output<Q>; body: z.output<B> }) => Promise<unknown>;
}

export type AnyRoute = RouteDef<z.ZodType, z.ZodType, z.ZodType>;

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): z.output<T> {
  if (!schema) return undefined as z.output<T>;
  const r = schema.safeParse(value ?? {});
  if (!r.success)
    throw badRequest(
      `invalid ${where}`,
      fieldErrors(r.error).map((e) => ({ path: where === 'body' ? e.path : `${where}.${e.path}`, message: e.message })),
    );
  return r.data;
}

export class Routes {
  readonly all: AnyRoute[] = [];

  constructor(private readonly app: FastifyInstance) {}

  add<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(def: RouteDef<P, Q, B>): void {
    this.all.push(def as unknown as AnyRoute);
    this.app.route({
      method: def.method,
      url: def.url,
      ...(def.bodyLimit ? { bodyLimit: def.bodyLimit } : {}),
      handler: async (req, reply) => {
        const principal = req.principal;
        if (def.auth !== false && !principal) throw new ApiError(401, 'unauthenticated', 'send Authorization: Bearer <token> (meridian login)');
        const params = parse(def.params, req.params, 'path');
        const query = parse(def.query, req.query, 'query');
        const body = parse(def.body, req.body, 'body');
        const out = await def.handler({ req, reply, principal: principal!, params, query, body });
        if (reply.sent) return reply;
        return out;
      },
    });
  }
}
