// First-run bootstrap: a global admin holding a known token (MERIDIAN_BOOTSTRAP_TOKEN or
// `meridian admin bootstrap`), and the `default` project the job spec falls back to. Idempotent.
import type pg from 'pg';
import { tx } from './store/db.ts';
import { audit } from './store/repos/audit.ts';
import { ensureDefaultProject } from './store/repos/projects.ts';
import { createToken, createUser, getUser, lockBootstrap, makeAdmin, tokenOwner } from './store/repos/users.ts';

export async function bootstrapAdmin(pool: pg.Pool, name: string, token: string): Promise<{ created: boolean; user: string }> {
  return tx(pool, async (c) => {
    await lockBootstrap(c);
    await ensureDefaultProject(c);
    const existing = await tokenOwner(c, token);
    if (existing !== undefined) return { created: false, user: existing };
    const user = (await getUser(c, name)) ?? (await createUser(c, { name, isAdmin: true }));
    await makeAdmin(c, user.id);
    await createToken(c, user.id, 'bootstrap', token);
    await audit(c, 'bootstrap', 'user.bootstrap', name);
    return { created: true, user: name };
  });
}
