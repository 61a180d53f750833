// Bearer-token authentication and per-project roles (admin > member > viewer). Global admins see everything;
// everyone else sees only the projects they belong to.
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Principal, Role } from '../store/repos/users.ts';
import { principalForToken } from '../store/repos/users.ts';
import { forbidden, notFound, unauthenticated } from './errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

const RANK: Record<Role, number> = { viewer: 1, member: 2, admin: 3 };

export function installAuth(app: FastifyInstance, pool: pg.Pool): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (req) => {
    const h = req.headers.authorization;
    if (!h) return;
    if (req.routeOptions.url === '/metrics') return; // the scrape token, checked by the route (metrics-route.ts)
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    if (!m) throw unauthenticated('Authorization must be "Bearer <token>"');
    if (m[1]!.startsWith('mrc_')) return; // a cluster credential: only the agent gateway accepts it
    const p = await principalForToken(pool, m[1]!);
    if (!p) throw unauthenticated('unknown, revoked or expired token; run meridian login');
    req.principal = p;
  });
}

export function requireAdmin(p: Principal): void {
  if (!p.isAdmin) throw forbidden('only hub administrators may do this');
}

export function hasRole(p: Principal, project: string, min: Role): boolean {
  if (p.isAdmin) return true;
  const r = p.roles[project];
  return r !== undefined && RANK[r] >= RANK[min];
}

/** Throws 404 (not 403) when the caller cannot even see the project: tenancy does not leak names. */
export function requireRole(p: Principal, project: string, min: Role): void {
  if (hasRole(p, project, min)) return;
  if (hasRole(p, project, 'viewer')) throw forbidden(`your role in project ${project} is ${p.roles[project]}; this needs ${min}`);
  throw notFound(`project ${project}`);
}

/** Projects the caller can read; null = all (admin). */
export function visibleProjects(p: Principal): string[] | null {
  return p.isAdmin ? null : Object.keys(p.roles);
}
