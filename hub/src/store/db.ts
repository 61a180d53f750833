// The Postgres pool and a transaction helper. Every repository takes a `Queryable` so the same code
// runs inside or outside a transaction.
import pg from 'pg';
import type { Logger } from 'pino';

export type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

export function createPool(url: string, log?: Logger, max = 20): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000 });
  // An idle client losing its connection (Postgres restart) must not crash the hub.
  pool.on('error', (err) => log?.warn({ err: err.message }, 'postgres pool client error'));
  // A checked-out client can also lose its connection between queries; without a listener that would be an
  // uncaught 'error' event and kill the hub. Its pending or next query fails and the caller retries.
  pool.on('connect', (client) => client.on('error', (err) => log?.warn({ err: err.message }, 'postgres connection lost')));
  return pool;
}

export async function tx<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const r = await fn(c);
    await c.query('COMMIT');
    return r;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}

/** A round trip to Postgres (health checks); throws when it is unreachable. */
export async function ping(db: Queryable): Promise<void> {
  await db.query('SELECT 1');
}

/** Postgres error codes the API maps to client errors. */
export function pgCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
