// Fastify plugin: the remote-write receiver and the hot-state query API.
//
//   POST /api/v1/telemetry/write            remote-write 1.0 (snappy protobuf), bearer-authenticated per cluster
//   GET  /api/v1/telemetry/gpus             latest values + health per GPU (?cluster=&hostname=)
//   GET  /api/v1/telemetry/gpus/:uuid       one GPU (?cluster=)
//   GET  /api/v1/telemetry/nics             RDMA ports (?cluster=&hostname=)
//   GET  /api/v1/telemetry/health           everything not healthy (?cluster=)
//   GET  /api/v1/telemetry/stats            receiver counters
// Query routes exist only when `authorizeQuery` is given (the hub decides who may read).
//
// Errors use the hub's shape {code, message, details: [{path, message}]}.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TelemetryIngest } from './ingest.ts';
import type { Tenant } from './tenant.ts';

export type Authenticate = (req: FastifyRequest) => Tenant | null | Promise<Tenant | null>;

export interface TelemetryPluginOptions {
  ingest: TelemetryIngest;
  /** who is writing: the cluster and region its credential belongs to, or null (→ 401) */
  authenticate: Authenticate;
  /** who may read hot state; without it the query routes are not registered */
  authorizeQuery?: (req: FastifyRequest) => boolean | Promise<boolean>;
  /** largest compressed body accepted (default 16 MiB) */
  bodyLimitBytes?: number;
}

export const TELEMETRY_WRITE_PATH = '/api/v1/telemetry/write';

/** The bearer token of a request, or null. */
export function bearerToken(req: FastifyRequest): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m ? m[1]! : null;
}

/** An Authenticate over a fixed token → tenant table (constant-time comparison), for tests and small setups. */
export function staticTokenAuthenticator(tokens: Record<string, Tenant>): Authenticate {
  const table = Object.entries(tokens).map(([t, tenant]) => ({ digest: createHash('sha256').update(t).digest(), tenant }));
  return (req) => {
    const token = bearerToken(req);
    if (token === null) return null;
    const d = createHash('sha256').update(token).digest();
    let found: Tenant | null = null;
    for (const row of table) if (timingSafeEqual(row.digest, d)) found = row.tenant;
    return found;
  };
}

function send(reply: FastifyReply, status: number, code: string, message: string, details: { path: string; message: string }[] = []): FastifyReply {
  return reply.code(status).type('application/json').send({ code, message, details });
}

const tenantKey = Symbol('meridianTelemetryTenant');
type WithTenant = FastifyRequest & { [tenantKey]?: Tenant };

export async function telemetryPlugin(app: FastifyInstance, opts: TelemetryPluginOptions): Promise<void> {
  const { ingest } = opts;
  const bodyLimit = opts.bodyLimitBytes ?? 16 * 1024 * 1024;

  // raw bodies for this plugin's routes only (plugins are encapsulated: the rest of the hub keeps its parsers)
  for (const ct of ['application/x-protobuf', 'application/octet-stream']) {
    if (app.hasContentTypeParser(ct)) app.removeContentTypeParser(ct);
    app.addContentTypeParser(ct, { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
  }

  app.post(
    TELEMETRY_WRITE_PATH,
    {
      bodyLimit,
      onRequest: async (req, reply) => {
        let tenant: Tenant | null;
        try {
          tenant = await opts.authenticate(req);
        } catch (err) {
          req.log.warn({ err: (err as Error).message }, 'telemetry auth unavailable');
          void reply.header('retry-after', '5');
          return send(reply, 503, 'unavailable', 'could not check the credential right now; retry');
        }
        if (!tenant) {
          const token = bearerToken(req);
          // RFC 6750: invalid_token tells the agent this credential will never work (rotated or revoked)
          void reply.header('www-authenticate', token === null ? 'Bearer realm="meridian-telemetry"' : 'Bearer realm="meridian-telemetry", error="invalid_token"');
          return send(reply, 401, 'unauthenticated', token === null ? 'send Authorization: Bearer <cluster credential>' : 'unknown, rotated or revoked cluster credential; the agent needs the current one (POST /api/v1/clusters/{id}/credential)');
        }
        (req as WithTenant)[tenantKey] = tenant;
        const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (/proto=io\.prometheus\.write\.v2\.request/i.test(req.headers['content-type'] ?? '')) {
          return send(reply, 415, 'unsupported_media_type', 'remote-write 2.0 is not supported yet; send remote-write 1.0 (Content-Type: application/x-protobuf, X-Prometheus-Remote-Write-Version: 0.1.0)');
        }
        if (ct !== 'application/x-protobuf' && ct !== 'application/octet-stream') {
          return send(reply, 415, 'unsupported_media_type', `Content-Type ${ct || '(none)'} is not remote-write; send application/x-protobuf`, [{ path: 'headers.content-type', message: 'expected application/x-protobuf' }]);
        }
        const enc = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
        if (enc !== 'snappy') {
          return send(reply, 415, 'unsupported_media_type', `Content-Encoding ${enc || '(none)'} is not supported; remote-write bodies are snappy block-compressed (Content-Encoding: snappy)`, [
            { path: 'headers.content-encoding', message: 'expected snappy' },
          ]);
        }
        return undefined;
      },
    },
    async (req, reply) => {
      const tenant = (req as WithTenant)[tenantKey]!;
      const body = req.body;
      if (!Buffer.isBuffer(body) || body.length === 0) return send(reply, 400, 'bad_snappy', 'empty body; send a snappy-compressed WriteRequest', [{ path: 'body', message: 'empty' }]);
      const r = await ingest.ingestBody(body, tenant);
      if (r.status === 204) return reply.code(204).send();
      if (r.status === 429 || r.status === 503) {
        void reply.header('retry-after', String(Math.max(1, Math.ceil(r.retryAfterMs / 1000))));
        return send(reply, r.status, r.error, r.message);
      }
      return send(reply, r.status, r.error, r.message, r.status === 400 && r.field ? [{ path: r.field, message: r.message }] : r.status === 400 ? [{ path: 'body', message: r.message }] : []);
    },
  );

  // Every refusal on these routes in the hub's shape: Fastify's own (body too large, content type), and errors
  // thrown by hooks of the hub around the plugin (its token check carries `status`, Fastify's `statusCode`).
  // Only the hub's own failures are 503 (retry); a refused credential is 401, which agents treat as final.
  app.setErrorHandler((err: Error & { statusCode?: number; status?: number; code?: string; details?: unknown; headers?: Record<string, string> }, req, reply) => {
    const status = err.statusCode ?? err.status ?? 500;
    if (status === 413) return send(reply, 413, 'too_large', `body over ${bodyLimit} bytes; send smaller batches`, [{ path: '(body)', message: 'split the batch' }]);
    if (status === 415) return send(reply, 415, 'unsupported_media_type', err.message);
    if (status >= 400 && status < 500) {
      const code = typeof err.code === 'string' && /^[a-z_]+$/.test(err.code) ? err.code : status === 401 ? 'unauthenticated' : status === 403 ? 'forbidden' : status === 404 ? 'not_found' : 'invalid';
      if (err.headers) void reply.headers(err.headers);
      if (status === 401) void reply.header('www-authenticate', 'Bearer realm="meridian-telemetry", error="invalid_token"');
      const details = Array.isArray(err.details) ? (err.details as { path: string; message: string }[]) : [];
      return send(reply, status, code, err.message, details);
    }
    req.log.error({ err }, 'telemetry request failed');
    void reply.header('retry-after', '5');
    return send(reply, 503, 'unavailable', 'the hub could not take the samples; retry shortly');
  });

  const authorize = opts.authorizeQuery;
  if (!authorize) return;
  const guard = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!(await authorize(req))) return send(reply, 403, 'forbidden', 'not allowed to read telemetry');
    return undefined;
  };
  type Q = { Querystring: { cluster?: string; hostname?: string } };
  const filter = (q: { cluster?: string; hostname?: string }) => ({
    ...(typeof q.cluster === 'string' ? { cluster: q.cluster } : {}),
    ...(typeof q.hostname === 'string' ? { hostname: q.hostname } : {}),
  });
  app.get<Q>('/api/v1/telemetry/gpus', { onRequest: guard }, async (req) => ({ items: ingest.hot.gpus(filter(req.query)) }));
  app.get<Q & { Params: { uuid: string } }>('/api/v1/telemetry/gpus/:uuid', { onRequest: guard }, async (req, reply) => {
    const g = ingest.hot.gpu(req.params.uuid, typeof req.query.cluster === 'string' ? req.query.cluster : undefined);
    return g ?? send(reply, 404, 'not_found', `GPU ${req.params.uuid} not found in telemetry`);
  });
  app.get<Q>('/api/v1/telemetry/nics', { onRequest: guard }, async (req) => ({ items: ingest.hot.nics(filter(req.query)) }));
  app.get<Q>('/api/v1/telemetry/health', { onRequest: guard }, async (req) => ({ items: ingest.hot.unhealthy(filter(req.query)) }));
  app.get('/api/v1/telemetry/stats', { onRequest: guard }, async () => ({ ingest: ingest.stats(), prometheus: ingest.queue?.stats ?? null }));
}
