// Revocation: what is still allowed for the connections a hub holds open (event streams, agent sessions),
// and the NOTIFY every hub listens to so a revoke, rotation or archive closes them at once. The notification is
// sent inside the transaction that made the change, so it reaches the listeners only if that change commits.
import type { Queryable } from '../db.ts';

export const REVOKE_CHANNEL = 'meridian_revoked';

export type Revoked = { kind: 'token'; id: string } | { kind: 'user'; id: string } | { kind: 'project'; name: string } | { kind: 'cluster'; id: string };

export async function notifyRevoked(db: Queryable, what: Revoked): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [REVOKE_CHANNEL, JSON.stringify(what)]);
}

/** An open stream's grant: the hash of the token it was opened with and the project it reads. */
export interface StreamGrant {
  tokenHash: string;
  project: string;
}

/**
 * The indexes of `grants` that still hold: the token is neither revoked nor expired, and its user is a hub
 * admin or still a member of the project, which is not archived.
 */
export async function grantsStillValid(db: Queryable, grants: StreamGrant[]): Promise<Set<number>> {
  if (grants.length === 0) return new Set();
  const r = await db.query<{ i: string }>(
    `SELECT x.i FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(h, p, i)
       JOIN api_tokens t ON t.token_hash = x.h AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
       JOIN users u ON u.id = t.user_id
     WHERE u.is_admin OR EXISTS (
       SELECT 1 FROM project_members m JOIN projects p ON p.name = m.project AND p.archived_at IS NULL
       WHERE m.user_id = u.id AND m.project = x.p)`,
    [grants.map((g) => g.tokenHash), grants.map((g) => g.project)],
  );
  return new Set(r.rows.map((x) => Number(x.i) - 1));
}

/** cluster id → its current credential hash, for the clusters that exist and are not archived. */
export async function liveCredentialHashes(db: Queryable, clusterIds: string[]): Promise<Map<string, string>> {
  if (clusterIds.length === 0) return new Map();
  const r = await db.query<{ id: string; h: string }>('SELECT id, credential_hash AS h FROM clusters WHERE id = ANY($1) AND archived_at IS NULL', [clusterIds]);
  return new Map(r.rows.map((x) => [x.id, x.h]));
}

/**
 * Inside an agent event's transaction: true while the session's credential is still the cluster's. FOR SHARE
 * makes a rotation in flight wait for this transaction, or this read wait for the rotation, so no event is
 * applied after the rotation that ends its session has committed.
 */
export async function credentialStillValid(db: Queryable, clusterId: string, credentialHash: string): Promise<boolean> {
  const r = await db.query<{ ok: boolean }>('SELECT credential_hash = $2 AND archived_at IS NULL AS ok FROM clusters WHERE id = $1 FOR SHARE', [clusterId, credentialHash]);
  return r.rows[0]?.ok === true;
}
