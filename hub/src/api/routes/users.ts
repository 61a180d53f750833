// Users and API tokens (a token's plain value is returned once, at creation).
import { z } from 'zod';
import { tx } from '../../store/db.ts';
import { audit, listAudit } from '../../store/repos/audit.ts';
import { getProject } from '../../store/repos/projects.ts';
import { createToken, createUser, getUser, listTokens, listUsers, revokeToken, setMembership } from '../../store/repos/users.ts';
import type { ApiContext } from '../context.ts';
import { badRequest, forbidden, notFound } from '../errors.ts';
import type { Routes } from '../route.ts';
import { Page, TokenCreate, UserCreate, UserRef } from '../schemas.ts';

const UserParams = z.object({ user: UserRef }).strict();

export function userRoutes(r: Routes, ctx: ApiContext): void {
  r.add({
    method: 'POST',
    url: '/api/v1/users',
    tag: 'users',
    summary: 'Create a user with project roles (admin)',
    body: UserCreate,
    responses: { 201: 'created', 409: 'exists' },
    access: 'admin',
    handler: async ({ principal, body, reply }) => {
      const u = await tx(ctx.pool, async (c) => {
        const user = await createUser(c, body);
        for (const [project, role] of Object.entries(body.projects)) {
          if (!(await getProject(c, project))) throw badRequest(`project ${project} does not exist`, [{ path: `projects.${project}`, message: 'no such project' }]);
          await setMembership(c, project, user.id, role);
        }
        await audit(c, principal.name, 'user.create', user.name, { isAdmin: body.isAdmin, projects: body.projects });
        return user;
      });
      void reply.code(201);
      return { ...u, roles: body.projects };
    },
  });
  r.add({
    method: 'GET',
    url: '/api/v1/users',
    tag: 'users',
    summary: 'List users (admin)',
    query: Page.strict(),
    access: 'admin',
    handler: async ({ query }) => {
      const items = await listUsers(ctx.pool, query.limit, query.cursor ?? null);
      return { items, nextCursor: items.length === query.limit ? items[items.length - 1]!.id : null };
    },
  });
  r.add({
    method: 'GET',
    url: '/api/v1/users/me',
    tag: 'users',
    summary: 'Who am I: the user behind the token and their project roles',
    handler: async ({ principal }) => principal,
  });

  const self = async (p: { id: string; name: string; isAdmin: boolean }, ref: string): Promise<string> => {
    const u = ref === 'me' ? { id: p.id } : await getUser(ctx.pool, ref);
    if (!u) throw notFound(`user ${ref}`);
    if (u.id !== p.id && !p.isAdmin) throw forbidden('you may only manage your own tokens');
    return u.id;
  };
  r.add({
    method: 'POST',
    url: '/api/v1/users/:user/tokens',
    tag: 'users',
    summary: 'Create an API token (yours, or anyone’s as admin); the token is shown only in this answer',
    params: UserParams,
    body: TokenCreate,
    access: async ({ principal, params }) => void (await self(principal!, params.user)),
    responses: { 201: '{id, token}' },
    handler: async ({ principal, params, body, reply }) => {
      const uid = await self(principal, params.user);
      const t = await createToken(ctx.pool, uid, body.name);
      await audit(ctx.pool, principal.name, 'token.create', params.user, { id: t.id, name: body.name });
      void reply.code(201);
      return t;
    },
  });
  r.add({
    method: 'GET',
    url: '/api/v1/users/:user/tokens',
    tag: 'users',
    summary: 'List tokens (prefixes only)',
    params: UserParams,
    handler: async ({ principal, params }) => ({ items: await listTokens(ctx.pool, await self(principal, params.user)), nextCursor: null }),
  });
  r.add({
    method: 'DELETE',
    url: '/api/v1/users/:user/tokens/:tokenId',
    tag: 'users',
    summary: 'Revoke a token',
    params: z.object({ user: UserRef, tokenId: z.string().regex(/^\d{1,18}$/) }).strict(),
    handler: async ({ principal, params }) => {
      if (!(await revokeToken(ctx.pool, await self(principal, params.user), params.tokenId))) throw notFound(`token ${params.tokenId}`);
      await audit(ctx.pool, principal.name, 'token.revoke', params.user, { id: params.tokenId });
      return { revoked: params.tokenId };
    },
  });
  r.add({
    method: 'GET',
    url: '/api/v1/audit',
    tag: 'users',
    summary: 'The audit log (admin)',
    query: Page.strict(),
    access: 'admin',
    handler: async ({ query }) => {
      const items = (await listAudit(ctx.pool, query.limit, query.cursor ?? null)) as { id: string }[];
      return { items, nextCursor: items.length === query.limit ? items[items.length - 1]!.id : null };
    },
  });
}
