// Append-only audit log of administrative and user actions.
import type { Queryable } from '../db.ts';

export async function audit(db: Queryable, actor: string, action: string, target = '', detail?: unknown): Promise<void> {
  await db.query('INSERT INTO audit_log (actor, action, target, detail) VALUES ($1, $2, $3, $4)', [actor, action, target, detail === undefined ? null : JSON.stringify(detail)]);
}

export async function listAudit(db: Queryable, limit: number, after: string | null): Promise<unknown[]> {
  return (
    await db.query(`SELECT id::text AS id, at, actor, action, target, detail FROM audit_log WHERE id > $1 ORDER BY audit_log.id LIMIT $2`, [after ?? '0', limit])
  ).rows;
}
