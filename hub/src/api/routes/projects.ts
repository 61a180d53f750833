// Projects, membership and usage.
import { z } from 'zod';
import { tx } from '../../store/db.ts';
import { audit } from '../../store/repos/audit.ts';
import { createProject, getProject, listProjects, updateProject } from '../../store/repos/projects.ts';
import { listUsage, usageSummary } from '../../store/repos/usage.ts';
import { getUser, listMembers, setMembership } from '../../store/repos/users.ts';
import { requireRole, visibleProjects } from '../auth.ts';
import type { ApiContext } from '../context.ts';
import { notFound } from '../errors.ts';
import type { Routes } from '../route.ts';
import { JobId, MemberSet, Name, ProjectCreate, ProjectPatch, UserRef } from '../schemas.ts';

const NameParams = z.object({ name: Name }).strict();

export function projectRoutes(r: Routes, ctx: ApiContext): void {
  r.add({
    method: 'POST',
    url: '/api/v1/projects',
    tag: 'projects',
    summary: 'Create a project (admin)',
    body: ProjectCreate,
    responses: { 201: 'created', 409: 'exists' },
    access: 'admin',
    handler: async ({ principal, body, reply }) => {
      const p = await tx(ctx.pool, async (c) => {
        const row = await createProject(c, body);
        await audit(c, principal.name, 'project.create', body.name, body);
        return row;
      });
      void reply.code(201);
      return p;
    },
  });
  r.add({
    method: 'GET',
    url: '/api/v1/projects',
    tag: 'projects',
    summary: 'Projects you belong to (all, for admins)',
    handler: async ({ principal }) => ({ items: await listProjects(ctx.pool, visibleProjects(principal) ?? undefined), nextCursor: null }),
  });
  r.add({
    method: 'GET',
    url: '/api/v1/projects/:name',
    tag: 'projects',
    summary: 'Get a project',
    params: NameParams,
    handler: async ({ principal, params }) => {
      requireRole(principal, params.name, 'viewer');
      return (await getProject(ctx.pool, params.name)) ?? Promise.reject(notFound(`project ${params.name}`));
    },
  });
  r.add({
    method: 'PATCH',
    url: '/api/v1/projects/:name',
    tag: 'projects',
    summary: 'Change weight, quota, budget, prices, policy (admin)',
    params: NameParams,
    body: ProjectPatch,
    access: 'admin',
    handler: async ({ principal, params, body }) => {
      const p = await updateProject(ctx.pool, params.name, body);
      if (!p) throw notFound(`project ${params.name}`);
      await audit(ctx.pool, principal.name, 'project.update', params.name, body);
      return p;
    },
  });
  r.add({
    method: 'GET',
    url: '/api/v1/projects/:name/members',
    tag: 'projects',
    summary: 'Members and roles',
    params: NameParams,
    handler: async ({ principal, params }) => {
      requireRole(principal, params.name, 'viewer');
      return { items: await listMembers(ctx.pool, params.name), nextCursor: null };
    },
  });
  r.add({
    method: 'PUT',
    url: '/api/v1/projects/:name/members/:user',
    tag: 'projects',
    summary: "Set a user's role in the project (hub admin or project admin)",
    params: z.object({ name: Name, user: UserRef }).strict(),
    body: MemberSet,
    access: ({ principal, params }) => requireRole(principal!, params.name, 'admin'),
    handler: async ({ principal, params, body }) => {
      if (!(await getProject(ctx.pool, params.name))) throw notFound(`project ${params.name}`);
      const u = await getUser(ctx.pool, params.user);
      if (!u) throw notFound(`user ${params.user}`);
      await setMembership(ctx.pool, params.name, u.id, body.role);
      await audit(ctx.pool, principal.name, 'project.member', params.name, { user: u.name, role: body.role });
      return { project: params.name, user: u.name, role: body.role };
    },
  });
  r.add({
    method: 'GET',
    url: '/api/v1/usage',
    tag: 'projects',
    summary: 'Usage and billing records (per job attempt) and per-project totals',
    query: z.object({ project: Name.optional(), job: JobId.optional() }).strict(),
    handler: async ({ principal, query }) => {
      if (query.project) requireRole(principal, query.project, 'viewer');
      const projects = visibleProjects(principal);
      return {
        items: await listUsage(ctx.pool, { projects, ...(query.project ? { project: query.project } : {}), ...(query.job ? { jobId: query.job } : {}) }),
        totals: await usageSummary(ctx.pool, query.project ? [query.project] : projects),
      };
    },
  });
}
