// First-run bootstrap: a global admin holding a known token (MERIDIAN_BOOTSTRAP_TOKEN or
// `meridian admin bootstrap`), and the `default` project the job spec falls back to. Idempotent.
import type pg from 'pg';
import { tx } from './store/db.ts';
import { sha256 } from './store/hash.ts';
import { audit } from './store/repos/audit.ts';
import { createToken, createUser, getUser } from './store/repos/users.ts';

export async function bootstrapAdmin(pool: pg.Pool, name: string, token: string): Promise<{ created: boolean; user: string }> {
  return tx(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock(7165)');
    await c.query(`INSERT INTO projects (name) VALUES ('default') ON CONFLICT DO NOTHING`);
    const existing = await c.query<{ name: string }>('SELECT u.name FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1', [sha256(token)]);
    if (existing.rows[0]) return { created: false, user: existing.rows[0].name };
    const user = (await getUser(c, name)) ?? (await createUser(c, { name, isAdmin: true }));
    await c.query('UPDATE users SET is_admin = true WHERE id = $1', [user.id]);
    await createToken(c, user.id, 'bootstrap', token);
    await audit(c, 'bootstrap', 'user.bootstrap', name);
    return { created: true, user: name };
  });
}
