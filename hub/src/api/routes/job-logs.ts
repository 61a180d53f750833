// A task's log, read on its member cluster by the agent (`logs` command through the agent link; nothing is read
// on the hub's host): the tail, or with follow=true a plain-text stream that asks the agent again from the
// byte offset where the last answer ended, every second, until the task has ended and everything was sent.
import { z } from 'zod';
import { LogsDetail, type LogsErrorCode } from '@meridian/protocol/agent-protocol';
import { TERMINAL_STATES, type JobState } from '@meridian/protocol/job-spec';
import { slurmAnnotation } from '@meridian/protocol/slurm/annotations';
import { tx } from '../../store/db.ts';
import { commandResult, enqueueCommand } from '../../store/repos/agent-stream.ts';
import { getJob, type JobRow } from '../../store/repos/jobs.ts';
import type { Principal } from '../../store/repos/users.ts';
import type { ApiContext } from '../context.ts';
import { ApiError, badRequest, conflict, forbidden } from '../errors.ts';
import { mayReadLogs } from '../job-views.ts';
import type { Routes } from '../route.ts';
import { JobId, LogsQuery } from '../schemas.ts';
import { visibleJob } from './jobs.ts';

const IdParams = z.object({ id: JobId }).strict();
const AGENT_ANSWER_MS = 10_000;
const FOLLOW_POLL_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Answer = { ok: true; detail: LogsDetail } | { ok: false; status: number; error: ApiError };

/** What an agent's refusal means to the client (`detail.code`; the wording, for agents that send no code). */
function refusal(cluster: string, error: string | undefined, code: LogsErrorCode | undefined): ApiError {
  const msg = `cluster ${cluster}: ${error ?? 'logs unavailable'}`;
  const task = [{ path: 'query.task', message: error ?? 'no such task' }];
  if (code === 'not-started') return new ApiError(409, 'not_started', msg, [{ path: 'query.task', message: 'the task has not started yet; ask again later, or follow=true to wait for it' }]);
  if (code === 'no-container') return new ApiError(409, 'no_container', msg, task);
  if (code === 'not-found' || /\bno (pod|task|job)\b|has no|does not exist/i.test(error ?? '')) return new ApiError(404, 'logs_not_found', msg, task);
  return new ApiError(502, 'agent_error', msg);
}

/**
 * One `logs` command to the job's cluster and its answer (null: no answer in time). A job the hub has just
 * dispatched may not be on its cluster yet: "no such job" there then means not started, not gone.
 */
async function ask(ctx: ApiContext, j: JobRow, task: number, tailLines: number, offset?: number): Promise<Answer | null> {
  const a = await askOnce(ctx, j, task, tailLines, offset);
  if (a && !a.ok && a.error.code === 'logs_not_found' && j.state === 'Dispatched') {
    const error = new ApiError(409, 'not_started', `${a.error.message} (the job was dispatched to ${j.cluster} and has not started there yet)`, [
      { path: 'query.task', message: 'the task has not started yet; ask again later, or follow=true to wait for it' },
    ]);
    return { ok: false, status: 409, error };
  }
  return a;
}

async function askOnce(ctx: ApiContext, j: JobRow, task: number, tailLines: number, offset?: number): Promise<Answer | null> {
  const cluster = j.cluster!;
  const seq = await tx(ctx.pool, (c) => enqueueCommand(c, cluster, { kind: 'logs', jobId: j.id, task, tailLines, ...(offset !== undefined ? { offset } : {}) }));
  const deadline = Date.now() + AGENT_ANSWER_MS;
  while (Date.now() < deadline) {
    const res = (await commandResult(ctx.pool, cluster, seq)) as { ok: boolean; error?: string; detail?: unknown } | null;
    if (res) {
      if (!res.ok) {
        const code = (res.detail as { code?: LogsErrorCode } | undefined)?.code;
        const error = refusal(cluster, res.error, code);
        return { ok: false, status: error.status, error };
      }
      // an agent of an older version answers a bare string
      const parsed = LogsDetail.safeParse(typeof res.detail === 'string' ? { text: res.detail } : res.detail);
      return { ok: true, detail: parsed.success ? parsed.data : { text: '' } };
    }
    await sleep(100);
  }
  return null;
}

const timeout = (ctx: ApiContext, cluster: string): ApiError =>
  new ApiError(504, 'agent_timeout', `cluster ${cluster} did not return logs within ${AGENT_ANSWER_MS / 1000}s${ctx.gateway.connected(cluster) ? '' : ' (its agent is not connected)'}`);

/** The job's state now: has it reached a cluster, and can it still? */
function notDispatched(j: JobRow): ApiError {
  const never = TERMINAL_STATES.includes(j.state as JobState);
  return conflict(
    never ? `job ${j.id} ended (${j.state}) without reaching a cluster: it has no log` : `job ${j.id} has not started: it is ${j.state}${j.reason ? ` (${j.reason})` : ''} and has no cluster yet`,
    [{ path: 'id', message: never ? 'this job never ran' : 'ask again once it runs, or use follow=true to wait for it' }],
  );
}

export function jobLogRoutes(r: Routes, ctx: ApiContext): void {
  r.add({
    method: 'GET',
    url: '/api/v1/jobs/:id/logs',
    tag: 'jobs',
    summary:
      "A task's log from its cluster, through the agent (Kubernetes: the task's container log; Slurm: its output file). follow=true streams it (text/plain, chunked) until the task has ended. The job's owner, project admins and hub admins may read it.",
    params: IdParams,
    query: LogsQuery,
    produces: 'text/plain',
    responses: {
      200: 'the log text (with follow=true a stream that ends when the task has ended)',
      400: 'task out of range (details name query.task)',
      403: 'the caller may see the job but not its log (only its owner, project admins and hub admins)',
      404: 'no such job, or the cluster has no such task (no pod or output file: already cleaned up)',
      409: 'the job or task has not started (not_started), never ran, or ran on a simulated node without a container (no_container)',
      502: 'the cluster failed to read the logs',
      504: 'the agent did not answer in time',
    },
    handler: async ({ req, reply, principal, params, query }) => {
      let j = await visibleJob(ctx, principal, params.id);
      checkReader(principal, j);
      checkTask(j, query.task);
      if (!query.follow) {
        if (!j.cluster || !j.dispatchedAt) throw notDispatched(j);
        const a = await ask(ctx, j, query.task, query.tail);
        if (!a) throw timeout(ctx, j.cluster);
        if (!a.ok) throw a.error;
        return void reply.type('text/plain; charset=utf-8').send(a.detail.text);
      }
      // follow: wait for the job to reach a cluster and the task to start, then stream; refusals before the
      // first byte are ordinary errors, after it the stream ends (the client sees it cut short)
      let first: LogsDetail | null = null;
      for (;;) {
        if (j.cluster && j.dispatchedAt) {
          const a = await ask(ctx, j, query.task, query.tail);
          if (!a) throw timeout(ctx, j.cluster);
          if (a.ok) {
            first = a.detail;
            break;
          }
          if (a.error.code !== 'not_started') throw a.error;
        } else if (TERMINAL_STATES.includes(j.state as JobState)) throw notDispatched(j);
        if (req.raw.destroyed) return;
        await sleep(FOLLOW_POLL_MS);
        j = (await getJob(ctx.pool, j.id)) ?? j;
      }
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
      let open = true;
      const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const untrack = token && ctx.streams ? ctx.streams.track(token, j.project, () => ((open = false), res.destroy())) : () => undefined;
      req.raw.on('close', () => (open = false));
      let d = first;
      let misses = 0;
      while (open) {
        if (d.text) res.write(d.text);
        if (d.finished || d.offset === undefined) break;
        await sleep(FOLLOW_POLL_MS);
        if (!open) break;
        const a = await ask(ctx, j, query.task, query.tail, d.offset).catch(() => null);
        if (a?.ok) {
          d = a.detail;
          misses = 0;
          continue;
        }
        // an agent away for a while (reconnecting) is waited for; a cluster that keeps refusing ends the stream
        d = { ...d, text: '' };
        if (++misses * (FOLLOW_POLL_MS + (a ? 0 : AGENT_ANSWER_MS)) > 60_000) {
          req.log.warn({ job: j.id, task: query.task, error: a && !a.ok ? a.error.message : 'no answer' }, 'log stream ended early');
          res.destroy();
          break;
        }
      }
      untrack();
      if (!res.writableEnded && !res.destroyed) res.end();
    },
  });
}

/** Logs are the owner's and the project's admins' (as the job's environment: job-views.ts). */
function checkReader(p: Principal, j: JobRow): void {
  if (mayReadLogs(p, j)) return;
  throw forbidden(`the log of job ${j.id} is shown to its owner (${j.user ?? 'none'}), admins of project ${j.project} and hub admins`);
}

function checkTask(j: JobRow, task: number): void {
  // a Slurm array's task is its array index (any in the array's range); the cluster says which exist
  if (slurmAnnotation(j.spec.annotations, 'array')) return;
  const tasks = j.spec.tasks ?? 1;
  if (task >= tasks) {
    throw badRequest(`job ${j.id} has ${tasks} task${tasks === 1 ? '' : 's'}`, [{ path: 'query.task', message: `task ${task} is out of range: use 0${tasks > 1 ? `..${tasks - 1}` : ''}` }]);
  }
}
