// Composition of the HTTP server: auth, error shape, REST routes, OpenAPI, health/version/metrics.
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import YAML from 'yaml';
import { installAuth } from './auth.ts';
import type { ApiContext } from './context.ts';
import { installErrorHandler, replyWithError } from './errors.ts';
import { installMetricsRoute } from './metrics-route.ts';
import { openApiDocument } from './openapi.ts';
import { Routes } from './route.ts';
import { archiveRoutes } from './routes/archive.ts';
import { clusterRoutes } from './routes/clusters.ts';
import { datasetRoutes } from './routes/datasets.ts';
import { eventRoutes } from './routes/events.ts';
import { jobLogRoutes } from './routes/job-logs.ts';
import { jobRoutes } from './routes/jobs.ts';
import { powerRoutes } from './routes/power.ts';
import { projectRoutes } from './routes/projects.ts';
import { remediationRoutes } from './routes/remediation.ts';
import { userRoutes } from './routes/users.ts';
import { ping } from '../store/db.ts';

export interface ServerExtras {
  /** Registers optional plugins (e.g. the telemetry receiver) into the app before it listens. */
  plugins?: (app: FastifyInstance) => Promise<void>;
}

export async function buildServer(ctx: ApiContext, log: Logger, extras: ServerExtras = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 4 * 1024 * 1024,
    // Above every name the API accepts (node names reach 253), so only nonsense gets the 414.
    routerOptions: { maxParamLength: 512 },
    // Refusals Fastify makes before routing (bad percent-encoding, 414) in the standard shape too.
    frameworkErrors: (err, req, reply) => void replyWithError(err, req, reply),
  }) as unknown as FastifyInstance;
  app.addContentTypeParser(['application/yaml', 'application/x-yaml', 'text/yaml'], { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, YAML.parse(body as string));
    } catch (err) {
      const e = new Error(`the body is not valid YAML: ${(err as Error).message}`) as Error & { statusCode: number };
      e.statusCode = 400;
      done(e, undefined);
    }
  });
  installErrorHandler(app);
  installAuth(app, ctx.pool);
  const routes = new Routes(app);
  jobRoutes(routes, ctx);
  jobLogRoutes(routes, ctx);
  eventRoutes(routes, ctx);
  projectRoutes(routes, ctx);
  userRoutes(routes, ctx);
  clusterRoutes(routes, ctx);
  powerRoutes(routes, ctx);
  remediationRoutes(routes, ctx);
  datasetRoutes(routes, ctx);
  archiveRoutes(routes, ctx);

  let doc: unknown = null;
  routes.add({
    method: 'GET',
    url: '/api/v1/openapi.json',
    tag: 'system',
    summary: 'This document',
    auth: false,
    handler: async () => (doc ??= openApiDocument(routes.all, ctx.version)),
  });
  app.get('/healthz', async (_req, reply) => {
    try {
      await ping(ctx.pool);
      return { ok: true, temporal: ctx.workflows() !== null };
    } catch {
      return reply.code(503).send({ ok: false, code: 'unavailable', message: 'postgres unreachable', details: [] });
    }
  });
  app.get('/version', async () => ({ name: 'meridian-hub', version: ctx.version, api: 'v1', agentProtocol: 1 }));
  installMetricsRoute(app, ctx);

  // ---- optional plugins (telemetry receiver from hub/src/telemetry/, registered by main.ts when present) ----
  if (extras.plugins) await extras.plugins(app);
  return app;
}
