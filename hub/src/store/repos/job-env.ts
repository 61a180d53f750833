// A job's environment and secrets, kept apart from its spec and sealed at rest (migration 007_job_env.sql,
// ../sealed.ts). The spec column never holds them; the outbox dispatch command holds neither: the gateway
// opens the job's row when it sends the command down the agent's authenticated connection.
import type pg from 'pg';
import type { JobSpec } from '@meridian/protocol/job-spec';
import { tx } from '../db.ts';
import type { Queryable } from '../db.ts';
import type { Keyring, Sealed } from '../sealed.ts';

export interface JobEnv {
  env: Record<string, string>;
  secrets: Record<string, string>;
}

const context = (jobId: string): string => `job-env:${jobId}`;

export function isEmptyEnv(e: JobEnv): boolean {
  return Object.keys(e.env).length === 0 && Object.keys(e.secrets).length === 0;
}

/** The spec as stored (without `workload.env` and `workload.secrets`) and what was taken out of it. */
export function splitJobEnv(spec: JobSpec): { spec: JobSpec; env: JobEnv } {
  const { env, secrets, ...workload } = spec.workload;
  return { spec: { ...spec, workload }, env: { env: env ?? {}, secrets: secrets ?? {} } };
}

export function sealJobEnv(keyring: Keyring, jobId: string, e: JobEnv): Sealed {
  return keyring.seal(JSON.stringify({ env: e.env, secrets: e.secrets }), context(jobId));
}

export function openJobEnv(keyring: Keyring, jobId: string, s: Sealed): JobEnv {
  const o = JSON.parse(keyring.open(s, context(jobId)).toString('utf8')) as Partial<JobEnv>;
  return { env: o.env ?? {}, secrets: o.secrets ?? {} };
}

interface SealedRow {
  id: string;
  key_id: string;
  sealed: Buffer;
}

/** The jobs' environments, opened (ids without a row are left out). */
export async function readJobEnvs(db: Queryable, keyring: Keyring, ids: string[]): Promise<Map<string, JobEnv>> {
  if (!ids.length) return new Map();
  const r = await db.query<SealedRow>('SELECT job_id::text AS id, key_id, sealed FROM job_env WHERE job_id = ANY($1::bigint[])', [ids]);
  return new Map(r.rows.map((x) => [x.id, openJobEnv(keyring, x.id, { keyId: x.key_id, blob: x.sealed })]));
}

/**
 * Seals what jobs stored before migration 007 kept in plaintext (listed by it in job_env_unsealed): moves env
 * and secrets out of their specs and their outbox dispatch commands. Runs at startup before the hub serves;
 * batches lock their rows, so hubs starting together share the work. Returns how many jobs it sealed.
 */
export async function sealLegacyEnv(pool: pg.Pool, keyring: Keyring, batch = 500): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await tx(pool, async (c) => {
      const ids = (
        await c.query<{ id: string }>(
          `DELETE FROM job_env_unsealed WHERE job_id IN (SELECT job_id FROM job_env_unsealed ORDER BY job_id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING job_id::text AS id`,
          [batch],
        )
      ).rows.map((x) => x.id);
      if (!ids.length) return 0;
      const jobs = await c.query<{ id: string; spec: JobSpec }>('SELECT id::text AS id, spec FROM jobs WHERE id = ANY($1::bigint[]) FOR UPDATE', [ids]);
      for (const j of jobs.rows) {
        const { env } = splitJobEnv(j.spec);
        const s = sealJobEnv(keyring, j.id, env);
        await c.query('INSERT INTO job_env (job_id, key_id, sealed) VALUES ($1, $2, $3) ON CONFLICT (job_id) DO NOTHING', [j.id, s.keyId, s.blob]);
      }
      await c.query(`UPDATE jobs SET spec = spec #- '{workload,env}' #- '{workload,secrets}' WHERE id = ANY($1::bigint[])`, [ids]);
      await c.query(`UPDATE agent_commands SET command = jsonb_set(command - 'secrets', '{env}', '{}') WHERE kind = 'dispatch' AND job_id = ANY($1::bigint[])`, [ids]);
      return ids.length;
    });
    total += n;
    if (n === 0) return total;
  }
}

/** Re-seals, under the keyring's current key, every row sealed under another key; returns how many it moved. */
export async function resealJobEnv(pool: pg.Pool, keyring: Keyring, batch = 500): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await tx(pool, async (c) => {
      const rows = (
        await c.query<SealedRow>('SELECT job_id::text AS id, key_id, sealed FROM job_env WHERE key_id <> $1 ORDER BY job_id LIMIT $2 FOR UPDATE SKIP LOCKED', [keyring.currentId, batch])
      ).rows;
      for (const x of rows) {
        const s = sealJobEnv(keyring, x.id, openJobEnv(keyring, x.id, { keyId: x.key_id, blob: x.sealed }));
        await c.query('UPDATE job_env SET key_id = $2, sealed = $3, resealed_at = now() WHERE job_id = $1', [x.id, s.keyId, s.blob]);
      }
      return rows.length;
    });
    total += n;
    if (n === 0) return total;
  }
}

/** How many rows each key sealed (rotation: an old key may leave the config once its count is 0). */
export async function sealedByKey(db: Queryable): Promise<{ keyId: string; rows: number }[]> {
  return (await db.query<{ keyId: string; rows: number }>('SELECT key_id AS "keyId", count(*)::int AS rows FROM job_env GROUP BY key_id ORDER BY key_id')).rows;
}

/** Key ids that sealed rows but are not in the keyring: a hub without them could not dispatch those jobs. */
export async function missingKeys(db: Queryable, keyring: Keyring): Promise<{ keyId: string; rows: number }[]> {
  return (await sealedByKey(db)).filter((k) => !keyring.ids.includes(k.keyId));
}
