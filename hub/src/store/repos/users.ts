// Users, project membership (roles) and API tokens (hashed).
import type { Queryable } from '../db.ts';
import { newSecret, sha256 } from '../hash.ts';
import { REVOKE_CHANNEL } from './revocation.ts';

export type Role = 'admin' | 'member' | 'viewer';
export const ROLES: readonly Role[] = ['admin', 'member', 'viewer'];

export interface UserRow {
  id: string;
  name: string;
  email: string | null;
  isAdmin: boolean;
  createdAt: string;
}

export interface Principal extends UserRow {
  /** project → role */
  roles: Record<string, Role>;
}

const COLS = `id::text AS id, name, email, is_admin AS "isAdmin", created_at AS "createdAt"`;

export async function createUser(db: Queryable, u: { name: string; email?: string; isAdmin?: boolean }): Promise<UserRow> {
  const r = await db.query<UserRow>(`INSERT INTO users (name, email, is_admin) VALUES ($1, $2, $3) RETURNING ${COLS}`, [
    u.name,
    u.email ?? null,
    u.isAdmin ?? false,
  ]);
  return r.rows[0]!;
}

export async function getUser(db: Queryable, idOrName: string): Promise<UserRow | undefined> {
  const byId = /^\d{1,18}$/.test(idOrName);
  return (await db.query<UserRow>(`SELECT ${COLS} FROM users WHERE ${byId ? 'id = $1::bigint' : 'name = $1'}`, [idOrName])).rows[0];
}

export async function listUsers(db: Queryable, limit: number, after: string | null): Promise<UserRow[]> {
  return (await db.query<UserRow>(`SELECT ${COLS} FROM users WHERE id > $1 ORDER BY users.id LIMIT $2`, [after ?? '0', limit])).rows;
}

export async function setMembership(db: Queryable, project: string, userId: string, role: Role): Promise<void> {
  await db.query(
    `INSERT INTO project_members (project, user_id, role) VALUES ($1, $2, $3)
     ON CONFLICT (project, user_id) DO UPDATE SET role = EXCLUDED.role`,
    [project, userId, role],
  );
}

export async function listMembers(db: Queryable, project: string): Promise<{ userId: string; name: string; role: Role }[]> {
  return (
    await db.query(
      `SELECT u.id::text AS "userId", u.name, m.role FROM project_members m JOIN users u ON u.id = m.user_id WHERE m.project = $1 ORDER BY u.name`,
      [project],
    )
  ).rows;
}

/** Creates a token and returns the plain value (the only time it exists outside the caller). */
export async function createToken(db: Queryable, userId: string, name = '', plain = newSecret('mrd')): Promise<{ id: string; token: string }> {
  const r = await db.query<{ id: string }>(
    'INSERT INTO api_tokens (user_id, name, token_hash, prefix) VALUES ($1, $2, $3, $4) RETURNING id::text AS id',
    [userId, name, sha256(plain), plain.slice(0, 8)],
  );
  return { id: r.rows[0]!.id, token: plain };
}

export async function listTokens(db: Queryable, userId: string): Promise<{ id: string; name: string; prefix: string; createdAt: string; lastUsedAt: string | null }[]> {
  return (
    await db.query(
      `SELECT id::text AS id, name, prefix, created_at AS "createdAt", last_used_at AS "lastUsedAt" FROM api_tokens
       WHERE user_id = $1 AND revoked_at IS NULL ORDER BY api_tokens.id`,
      [userId],
    )
  ).rows;
}

/** Revokes the token; the same statement notifies every hub (REVOKE_CHANNEL) to close what it opened. */
export async function revokeToken(db: Queryable, userId: string, tokenId: string): Promise<boolean> {
  const r = await db.query(
    `WITH t AS (UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING id)
     SELECT pg_notify($3, json_build_object('kind', 'token', 'id', t.id::text)::text) FROM t`,
    [tokenId, userId, REVOKE_CHANNEL],
  );
  return (r.rowCount ?? 0) > 0;
}

/** The user behind a bearer token, with their project roles; undefined when unknown, revoked or expired. */
export async function principalForToken(db: Queryable, plain: string): Promise<Principal | undefined> {
  const r = await db.query<UserRow & { roles: Record<string, Role> | null }>(
    `SELECT u.id::text AS id, u.name, u.email, u.is_admin AS "isAdmin", u.created_at AS "createdAt",
       (SELECT jsonb_object_agg(m.project, m.role) FROM project_members m JOIN projects p ON p.name = m.project AND p.archived_at IS NULL
        WHERE m.user_id = u.id) AS roles
     FROM api_tokens t JOIN users u ON u.id = t.user_id
     WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())`,
    [sha256(plain)],
  );
  const row = r.rows[0];
  return row ? { ...row, roles: row.roles ?? {} } : undefined;
}

/** Serialises first-run bootstraps (transaction-scoped). */
export async function lockBootstrap(db: Queryable): Promise<void> {
  await db.query('SELECT pg_advisory_xact_lock(7165)');
}

/** The name of the user holding this token (revoked or expired ones included); undefined when no one does. */
export async function tokenOwner(db: Queryable, plain: string): Promise<string | undefined> {
  const existing = await db.query<{ name: string }>('SELECT u.name FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1', [sha256(plain)]);
  return existing.rows[0]?.name;
}

export async function makeAdmin(db: Queryable, userId: string): Promise<void> {
  await db.query('UPDATE users SET is_admin = true WHERE id = $1', [userId]);
}
