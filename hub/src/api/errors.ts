// One error shape for every API answer: {code, message, details: [{path, message}]}.
import type { FastifyError, FastifyInstance } from 'fastify';
import type { FieldError } from '@meridian/protocol/job-spec';
import { pgCode } from '../store/db.ts';

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

export function installErrorHandler(app: FastifyInstance): void {
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ code: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}`, details: [] });
  });
  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    if (err instanceof ApiError) {
      void reply.code(err.status).headers(err.headers).send({ code: err.code, message: err.message, details: err.details });
      return;
    }
    const code = pgCode(err);
    if (code === '23505') return void reply.code(409).send({ code: 'conflict', message: 'already exists', details: [] });
    if (code === '22P02' || code === '22003' || code === '23503' || code === '22021' || code === '54000')
      return void reply.code(400).send({ code: 'invalid', message: 'a value is out of range or malformed', details: [] });
    const status = (err as FastifyError).statusCode;
    if (status && status >= 400 && status < 500) {
      const name = (err as FastifyError).code ?? 'invalid';
      const c = status === 413 ? 'too_large' : status === 415 ? 'unsupported_media_type' : 'invalid';
      const details = name === 'FST_ERR_CTP_INVALID_JSON_BODY' || (err as Error).name === 'SyntaxError' ? [{ path: '(body)', message: 'the body is not valid JSON' }] : [];
      return void reply.code(status).send({ code: c, message: err.message, details });
    }
    req.log.error({ err }, 'request failed');
    void reply.code(503).send({ code: 'unavailable', message: 'the hub could not complete the request; retry shortly', details: [] });
  });
}
