// One error shape for every API answer: {code, message, details: [{path, message}]}. Every refusal of the hub —
// its routes, Fastify's own (bad JSON, body too large, URL too long, unknown route or method), Postgres'
// refusals of a value, and the optional plugins — goes through toApiError, so a client sees one contract.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FieldError } from '@meridian/protocol/job-spec';
import { pgCode } from '../store/db.ts';
import { badBytes } from './bad-bytes.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: FieldError[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string, details: FieldError[] = []): ApiError => new ApiError(400, 'invalid', message, details);
export const notFound = (what: string): ApiError => new ApiError(404, 'not_found', `${what} not found`);
export const forbidden = (message: string): ApiError => new ApiError(403, 'forbidden', message);
export const conflict = (message: string, details: FieldError[] = []): ApiError => new ApiError(409, 'conflict', message, details);
export const unauthenticated = (message: string): ApiError => new ApiError(401, 'unauthenticated', message, [], { 'www-authenticate': 'Bearer realm="meridian"' });

/** Postgres refusals of a value the client sent (SQLSTATE → what to tell the client). */
const PG_CLIENT_ERRORS: Record<string, string> = {
  '22P02': 'a value is malformed',
  '22003': 'a number is out of range',
  '22001': 'a text value is too long',
  '22021': 'a text value holds bytes that are not valid UTF-8 or a NUL (\\u0000) character',
  '22P05': 'a text value holds a NUL (\\u0000) character or an escape Postgres cannot store',
  '23503': 'a value refers to something that does not exist',
  '23514': 'a value breaks a rule of the store',
  '54000': 'a value is too large to store',
};
/** Postgres and network states where a retry can succeed (the store is down, busy or restarting). */
const PG_TRANSIENT = /^(08|53|57P0|40001|40P01)/;

const CODE_OF_STATUS: Record<number, string> = {
  400: 'invalid',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'timeout',
  409: 'conflict',
  413: 'too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  431: 'headers_too_large',
};

/** Details Fastify's parser errors deserve (it names no field; the body as a whole is the field). */
function fastifyDetails(err: FastifyError): FieldError[] {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return [{ path: '(body)', message: 'the body is not valid JSON' }];
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return [{ path: '(body)', message: 'Content-Type is application/json but the body is empty; send a JSON body or no Content-Type' }];
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return [{ path: 'headers.content-type', message: 'send application/json (POST /api/v1/jobs also takes application/yaml)' }];
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return [{ path: '(body)', message: 'the body is larger than this route accepts' }];
    case 'FST_ERR_MAX_PARAM_LENGTH':
    case 'FST_ERR_BAD_URL':
      return [{ path: '(url)', message: err.code === 'FST_ERR_BAD_URL' ? 'the URL is not validly percent-encoded' : 'a path segment is longer than any name the API accepts' }];
    default:
      return (err as Error).name === 'SyntaxError' ? [{ path: '(body)', message: 'the body is not valid JSON' }] : [];
  }
}

/**
 * The client-facing error for anything thrown while handling a request, or null when it is the hub's own
 * failure (the caller logs it and answers 500, or 503 when a retry can succeed).
 */
export function toApiError(err: unknown): ApiError | null {
  if (err instanceof ApiError) return err;
  if (!err || typeof err !== 'object') return null;
  const code = pgCode(err);
  if (code === '23505') return conflict('already exists');
  // a state the store refuses a change in (migration 008: a job for a project archived meanwhile)
  if (code === '55000') return conflict((err as Error).message);
  if (code && PG_CLIENT_ERRORS[code]) return badRequest(PG_CLIENT_ERRORS[code]!, [{ path: '(body)', message: PG_CLIENT_ERRORS[code]! }]);
  const e = err as Partial<FastifyError> & { status?: number; details?: FieldError[]; headers?: Record<string, string> };
  const status = e.statusCode ?? e.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const c = typeof e.code === 'string' && /^[a-z_]+$/.test(e.code) ? e.code : (CODE_OF_STATUS[status] ?? 'invalid');
    const details = Array.isArray(e.details) ? e.details : fastifyDetails(e as FastifyError);
    return new ApiError(status, c, e.message || 'invalid request', details, e.headers ?? {});
  }
  return null;
}

/** Whether an unexpected error is one where retrying later can help (the store is unreachable or busy). */
export function transient(err: unknown): boolean {
  const code = pgCode(err) ?? '';
  if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN)$/.test(code) || (/^[0-9A-Z]{5}$/.test(code) && PG_TRANSIENT.test(code))) return true;
  // gRPC (Temporal) UNAVAILABLE / DEADLINE_EXCEEDED, and the pool's own connection failures (they carry no code)
  if ((code === '14' || code === '4') && typeof (err as { details?: unknown }).details === 'string') return true;
  return err instanceof Error && /timeout exceeded when trying to connect|Connection terminated|not queryable/i.test(err.message);
}

export function sendApiError(reply: FastifyReply, e: ApiError): FastifyReply {
  return reply.code(e.status).headers(e.headers).type('application/json; charset=utf-8').send({ code: e.code, message: e.message, details: e.details });
}

/** Answers any error in the standard shape: the client's mistakes as 4xx, the hub's own as 500/503 (logged). */
export function replyWithError(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const e = toApiError(err);
  if (e) return sendApiError(reply, e);
  if (transient(err)) {
    req.log.warn({ err }, 'request failed: store unavailable');
    return sendApiError(reply, new ApiError(503, 'unavailable', 'the hub could not reach its store; retry shortly', [], { 'retry-after': '5' }));
  }
  req.log.error({ err }, 'request failed');
  return sendApiError(reply, new ApiError(500, 'internal', `the hub failed to handle this request (request id ${String(req.id)}); the failure is logged`));
}

/** A route path segment as a regular expression: `:name` any segment, `:name(^a$|^b$)` its own pattern. */
function segment(s: string): string {
  const param = /^:[A-Za-z0-9_]+(?:\((.*)\))?$/.exec(s);
  if (param) return param[1] ? `(?:${param[1].replace(/[\^$]/g, '')})` : '[^/]+';
  return s === '*' ? '.*' : s.replace(/[.+?^${}()|[\]\\*]/g, '\\$&');
}

const decoded = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * Installs the error path on the root instance: the error handler (inherited by every plugin that does not
 * set its own), the not-found handler (404, or 405 with Allow when the path exists under other methods) and
 * the check of every JSON value a request carries for bytes the store cannot keep.
 */
export function installErrorHandler(app: FastifyInstance): void {
  const known: { re: RegExp; loose: RegExp; patterned: { index: number; name: string; choices: string }[]; methods: Set<string> }[] = [];
  app.addHook('onRoute', (r) => {
    const segments = r.url.split('/');
    const re = new RegExp(`^${segments.map(segment).join('/')}/?$`);
    let row = known.find((k) => k.re.source === re.source);
    if (!row) {
      // a parameter with its own pattern (the node ops): the path matched loosely names the parameter in a 400
      const patterned = segments.flatMap((seg, index) => {
        const m = /^:([A-Za-z0-9_]+)\((.*)\)$/.exec(seg);
        return m ? [{ index, name: m[1]!, choices: m[2]!.replace(/[\^$]/g, '').split('|').join(', ') }] : [];
      });
      const loose = new RegExp(`^${segments.map((seg) => segment(seg.replace(/\(.*\)$/, ''))).join('/')}/?$`);
      known.push((row = { re, loose, patterned, methods: new Set() }));
    }
    for (const m of [r.method].flat()) row.methods.add(String(m).toUpperCase());
  });
  const routeMiss = (req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const path = req.url.split('?')[0]!;
    const allowed = new Set(known.filter((k) => k.re.test(path)).flatMap((k) => [...k.methods]));
    if (allowed.size) {
      const allow = METHODS.filter((m) => allowed.has(m)).join(', ');
      return sendApiError(reply, new ApiError(405, 'method_not_allowed', `${req.method} is not allowed on ${path}; use ${allow}`, [], { allow }));
    }
    const near = known.find((k) => k.patterned.length && k.methods.has(req.method) && k.loose.test(path));
    if (near) {
      const parts = path.split('/');
      const details = near.patterned.map((p) => ({ path: `path.${p.name}`, message: `"${decoded(parts[p.index] ?? '')}" is not one of: ${p.choices}` }));
      return sendApiError(reply, badRequest('invalid path', details));
    }
    return sendApiError(reply, new ApiError(404, 'not_found', `no route ${req.method} ${path}`));
  };
  app.setNotFoundHandler((req, reply) => void routeMiss(req, reply));
  // A request with no route is answered 404/405 even when Fastify failed earlier on its body (an unknown
  // method with a body, a body on a path that does not exist).
  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => void (req.is404 ? routeMiss(req, reply) : replyWithError(err, req, reply)));
  // After parsing, before any route's validation: NUL and lone surrogates are refused with the field's path
  // (Postgres cannot store them; left alone they would surface as a store failure).
  app.addHook('preValidation', async (req) => {
    const found = badBytes({ body: req.body, query: req.query, path: req.params });
    if (found) throw badRequest('the request holds characters the hub does not store', [found]);
  });
}
