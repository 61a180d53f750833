// Job event history (paged) and a live Server-Sent-Events stream of it.
import { z } from 'zod';
import { TERMINAL_STATES } from '@meridian/protocol/job-spec';
import type { JobState } from '@meridian/protocol/job-spec';
import { getJob, listEvents } from '../../store/repos/jobs.ts';
import type { ApiContext } from '../context.ts';
import type { Routes } from '../route.ts';
import { EventsQuery, JobId } from '../schemas.ts';
import { page } from '../views.ts';
import { visibleJob } from './jobs.ts';

const IdParams = z.object({ id: JobId }).strict();

export function eventRoutes(r: Routes, ctx: ApiContext): void {
  r.add({
    method: 'GET',
    url: '/api/v1/jobs/:id/events',
    tag: 'jobs',
    summary: "A job's event history (oldest first); page with `after`",
    params: IdParams,
    query: EventsQuery,
    handler: async ({ principal, params, query }) => {
      await visibleJob(ctx, principal, params.id);
      const p = page(await listEvents(ctx.pool, params.id, query.after ?? null, query.limit), query.limit);
      return { items: p.items, nextCursor: p.nextCursor };
    },
  });

  r.add({
    method: 'GET',
    url: '/api/v1/jobs/:id/events/stream',
    tag: 'jobs',
    summary: 'Server-Sent Events: every job event as `event: job`, then `event: end` once the job is final; `event: revoked` (then the end of the stream) when the token stops granting the project',
    params: IdParams,
    query: EventsQuery.pick({ after: true }).strict(),
    produces: 'text/event-stream',
    handler: async ({ req, reply, principal, params, query }) => {
      const job = await visibleJob(ctx, principal, params.id);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      let after = query.after ?? (req.headers['last-event-id'] as string | undefined) ?? null;
      let open = true;
      const write = (text: string): void => void (open && !res.writableEnded && res.write(text));
      // The stream lasts only as long as its token grants the project: a revoke closes it within seconds.
      const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const untrack = token && ctx.streams
        ? ctx.streams.track(token, job.project, (reason) => {
            write(`event: revoked\ndata: ${JSON.stringify({ code: 'unauthenticated', message: reason, details: [] })}\n\n`);
            open = false;
            res.end();
          })
        : () => undefined;
      req.raw.on('close', () => (open = false));
      while (open) {
        try {
          for (const e of await listEvents(ctx.pool, params.id, after, 500)) {
            write(`id: ${e.id}\nevent: job\ndata: ${JSON.stringify(e)}\n\n`);
            after = e.id;
          }
          const j = await getJob(ctx.pool, params.id);
          if (!j || TERMINAL_STATES.includes(j.state as JobState)) {
            write(`event: end\ndata: ${JSON.stringify({ state: j?.state ?? 'Unknown' })}\n\n`);
            break;
          }
          write(': keep-alive\n\n');
        } catch {
          write(': store unavailable, retrying\n\n');
        }
        await new Promise((r2) => setTimeout(r2, 500));
      }
      untrack();
      if (!res.writableEnded) res.end();
    },
  });
}
