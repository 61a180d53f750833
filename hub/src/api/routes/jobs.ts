// Jobs: submit (admission, one transaction, idempotent workflow start), get, list, cancel, why-pending (logs: job-logs.ts).
import { z } from 'zod';
import { JobSpecSchema } from '@meridian/protocol/job-spec';
import { tx } from '../../store/db.ts';
import { admissionState, getJob, holdJob, insertJob, latestAgentTasks, listJobs, releaseJob, requestCancel, setClusterHold } from '../../store/repos/jobs.ts';
import type { JobRow } from '../../store/repos/jobs.ts';
import { DISPATCHED_WAITING } from '../../store/repos/lifecycle.ts';
import { splitJobEnv } from '../../store/repos/job-env.ts';
import type { Principal } from '../../store/repos/users.ts';
import { hasRole, visibleProjects } from '../auth.ts';
import type { ApiContext } from '../context.ts';
import { ApiError, badRequest, conflict, forbidden, notFound } from '../errors.ts';
import type { Routes } from '../route.ts';
import { getProject } from '../../store/repos/projects.ts';
import { JobId, JobListQuery } from '../schemas.ts';
import { jobViewFor, jobViewsFor } from '../job-views.ts';
import { jobView, page } from '../views.ts';
import { checkPlacement } from './jobs-placement.ts';
import { clusterHold, slurmSubmit } from './jobs-slurm.ts';

const IdParams = z.object({ id: JobId }).strict();
const archivedProject = (name: string): ApiError =>
  conflict(`project ${name} is archived: it takes no new jobs (its history stays readable by hub admins)`, [{ path: 'project', message: 'submit to a project that is not archived' }]);

export async function visibleJob(ctx: ApiContext, p: Principal, id: string): Promise<JobRow> {
  const j = await getJob(ctx.pool, id);
  if (!j || !hasRole(p, j.project, 'viewer')) throw notFound(`job ${id}`);
  return j;
}

export function jobRoutes(r: Routes, ctx: ApiContext): void {
  r.add({
    method: 'POST',
    url: '/api/v1/jobs',
    tag: 'jobs',
    summary: 'Submit a job (JSON or YAML body). 201 with the job; 429 + Retry-After when the queue is full.',
    body: JobSpecSchema,
    bodyLimit: ctx.admission.maxSpecBytes,
    // before the body is read: only a caller who may submit somewhere (the spec's project is checked below)
    access: ({ principal }) => {
      if (!principal!.isAdmin && !Object.values(principal!.roles).some((r) => r === 'member' || r === 'admin'))
        throw new ApiError(403, 'forbidden', 'you have no member role in any project', [{ path: 'project', message: 'ask a project admin for the member role' }]);
    },
    responses: { 201: 'the stored job', 400: 'invalid spec (details name the fields)', 403: 'no member role in the project', 409: 'the project is archived', 413: 'spec too large', 429: 'queue full; retry after Retry-After seconds' },
    handler: async ({ reply, principal, body }) => {
      if (!hasRole(principal, body.project, 'member')) {
        // a former member of an archived project learns why, not just that they lack a role
        if ((await getProject(ctx.pool, body.project))?.archivedAt) throw archivedProject(body.project);
        throw new ApiError(403, 'forbidden', `you have no member role in project ${body.project}`, [
          { path: 'project', message: 'ask a project admin for the member role, or submit to one of your projects' },
        ]);
      }
      const { spec, held } = await slurmSubmit(ctx, principal, body);
      await checkPlacement(ctx, spec);
      // The project and the queue counts in one query; the insert, its event and the scheduler's wake-up in one
      // statement (insertJob): two round trips on top of authentication.
      const q = await admissionState(ctx.pool, spec.tier, spec.project);
      if (!q) throw badRequest(`project ${spec.project} does not exist`, [{ path: 'project', message: `no project named "${spec.project}"; create it first (meridian project create)` }]);
      if (q.archived) throw archivedProject(spec.project);
      const tierBound = ctx.admission.maxQueuedPerTier[spec.tier];
      const projectBound = q.maxPending ?? ctx.admission.maxQueuedPerProject;
      const full = tierBound !== undefined && q.tier >= tierBound ? `tier ${spec.tier} has ${q.tier} queued jobs (bound ${tierBound})` : q.project >= projectBound ? `project ${spec.project} has ${q.project} queued jobs (bound ${projectBound})` : null;
      if (full) {
        ctx.metrics.submissions.inc({ outcome: 'throttled' });
        throw new ApiError(429, 'queue_full', `the queue is full: ${full}; retry later`, [], { 'retry-after': String(ctx.admission.retryAfterSec) });
      }
      const job = await insertJob(ctx.pool, spec, principal.id, { held, keyring: ctx.keyring });
      ctx.metrics.submissions.inc({ outcome: 'accepted' });
      // After commit: start the workflow (ID = job ID, idempotent), off the request path. If the hub dies
      // before it runs, the leader's reconciler starts it.
      ctx.startWorkflow(job.id);
      ctx.triggerSchedule();
      void reply.code(201).header('location', `/api/v1/jobs/${job.id}`);
      // the submitter is the owner: shown its environment (as sent) and its secrets' names
      return jobView(job, [], splitJobEnv(spec).env);
    },
  });

  r.add({
    method: 'GET',
    url: '/api/v1/jobs',
    tag: 'jobs',
    summary: 'List jobs you can see, newest first, with filters and cursor pagination',
    query: JobListQuery,
    handler: async ({ principal, query }) => {
      const rows = await listJobs(ctx.pool, { projects: visibleProjects(principal), ...query }, query.limit, query.cursor ?? null);
      const p = page(rows, query.limit);
      const tasks = await latestAgentTasks(ctx.pool, p.items.filter((j) => j.startedAt).map((j) => j.id));
      return { items: await jobViewsFor(ctx, principal, p.items, tasks), nextCursor: p.nextCursor };
    },
  });

  r.add({
    method: 'GET',
    url: '/api/v1/jobs/:id',
    tag: 'jobs',
    summary: 'Get a job: {id, state, cluster, reason, ...}',
    params: IdParams,
    handler: async ({ principal, params }) => {
      const j = await visibleJob(ctx, principal, params.id);
      return jobViewFor(ctx, principal, j, (await latestAgentTasks(ctx.pool, [j.id])).get(j.id));
    },
  });

  r.add({
    method: 'POST',
    url: '/api/v1/jobs/:id/cancel',
    tag: 'jobs',
    summary: 'Cancel a job; the cancel reaches the cluster when it was dispatched',
    params: IdParams,
    responses: { 202: 'cancel requested', 409: 'the job already finished' },
    handler: async ({ principal, params, reply }) => {
      const j = await visibleJob(ctx, principal, params.id);
      if (!hasRole(principal, j.project, 'member')) throw forbidden(`viewers cannot cancel jobs in project ${j.project}`);
      if (!(await requestCancel(ctx.pool, j.id))) throw conflict(`job ${j.id} already finished (${j.state})`);
      await ctx.workflows()?.wake([j.id]);
      void reply.code(202);
      return jobViewFor(ctx, principal, (await getJob(ctx.pool, j.id))!);
    },
  });

  r.add({
    method: 'POST',
    url: '/api/v1/jobs/:id/hold',
    tag: 'jobs',
    summary: 'Hold a Queued job (it stays Queued with reason JobHeldUser and is not scheduled until released), or a job pending on its Slurm cluster (scontrol hold there)',
    params: IdParams,
    responses: { 200: 'the held job', 409: 'the job already runs (or is not Queued and not pending on Slurm)', 504: 'the Slurm agent did not answer in time' },
    handler: async ({ principal, params }) => {
      const j = await visibleJob(ctx, principal, params.id);
      if (!hasRole(principal, j.project, 'member')) throw forbidden(`viewers cannot hold jobs in project ${j.project}`);
      if (!(await tx(ctx.pool, (c) => holdJob(c, j.id)))) {
        const now = (await getJob(ctx.pool, j.id))!;
        if (now.cancelRequested) throw conflict(`job ${j.id} is being cancelled; it cannot be held`);
        if (now.state !== 'Dispatched') throw conflict(`only Queued jobs can be held; job ${j.id} is ${now.state} (a dispatched job can be held only while it is pending on a Slurm cluster)`);
        await clusterHold(ctx, now, 'hold');
        await tx(ctx.pool, (c) => setClusterHold(c, now.id, now.attempt, true));
      }
      return jobViewFor(ctx, principal, (await getJob(ctx.pool, j.id))!);
    },
  });

  r.add({
    method: 'POST',
    url: '/api/v1/jobs/:id/release',
    tag: 'jobs',
    summary: 'Release a held job: it becomes schedulable again (a job held on its Slurm cluster is released there)',
    params: IdParams,
    responses: { 200: 'the released job', 409: 'the job is not held', 504: 'the Slurm agent did not answer in time' },
    handler: async ({ principal, params }) => {
      const j = await visibleJob(ctx, principal, params.id);
      if (!hasRole(principal, j.project, 'member')) throw forbidden(`viewers cannot release jobs in project ${j.project}`);
      if (!(await tx(ctx.pool, (c) => releaseJob(c, j.id)))) {
        const now = (await getJob(ctx.pool, j.id))!;
        if (!now.held || now.state !== 'Dispatched') throw conflict(`job ${j.id} is not held (${now.state}${now.reasonCode ? `, ${now.reasonCode}` : ''}); only held jobs can be released`);
        await clusterHold(ctx, now, 'release');
        await tx(ctx.pool, (c) => setClusterHold(c, now.id, now.attempt, false));
      }
      ctx.triggerSchedule();
      return jobViewFor(ctx, principal, (await getJob(ctx.pool, j.id))!);
    },
  });

  r.add({
    method: 'GET',
    url: '/api/v1/jobs/:id/why',
    tag: 'jobs',
    summary: 'Why a job is pending: the scheduler reason code, a sentence, and an ETA',
    params: IdParams,
    handler: async ({ principal, params }) => {
      const j = await visibleJob(ctx, principal, params.id);
      // a dispatched job its member has not started says so in the member's words ("dispatched, waiting in ...")
      const waiting = j.state === 'Dispatched' && j.reasonCode === DISPATCHED_WAITING;
      const explain =
        j.state === 'Queued'
          ? (j.reason ?? 'waiting for the next scheduling cycle')
          : waiting && j.reason
            ? j.reason
            : `the job is ${j.state}${j.cluster ? ` on ${j.cluster}` : ''}${j.reason ? `: ${j.reason}` : ''}`;
      return { id: j.id, state: j.state, attempt: j.attempt, reasonCode: j.state === 'Queued' || waiting ? j.reasonCode : null, reason: explain, etaSec: j.state === 'Queued' ? j.etaSec : null };
    },
  });
}
