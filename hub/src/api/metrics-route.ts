// GET /metrics for Prometheus: only with the scrape token the operator configured (MERIDIAN_METRICS_TOKEN), so
// the series (job counts, clusters, GPU models) are not open to whoever reaches the hub's port.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from './context.ts';
import { unauthenticated } from './errors.ts';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export function installMetricsRoute(app: FastifyInstance, ctx: ApiContext): void {
  const expected = ctx.metricsToken ? digest(ctx.metricsToken) : null;
  app.get('/metrics', async (req, reply) => {
    if (!expected) throw unauthenticated('this hub has no scrape token configured; set MERIDIAN_METRICS_TOKEN and scrape with Authorization: Bearer <token>');
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    // compare digests: equal length, constant time
    if (!m || !timingSafeEqual(digest(m[1]!), expected)) throw unauthenticated('send Authorization: Bearer <scrape token> (the hub\'s MERIDIAN_METRICS_TOKEN)');
    const text = await ctx.metrics.registry.metrics();
    return reply.type(ctx.metrics.registry.contentType).send(text);
  });
}
