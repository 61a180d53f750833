import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { PostgresEngine } from './postgres.ts';

describe('PostgreSQL engine', () => {
  let pgEngine: PostgresEngine;
  beforeAll(async () => {
    pgEngine = await PostgresEngine.start({ database: 'harness_check' });
  });
  afterAll(async () => {
    await pgEngine?.stop();
  });

  it('answers queries in a fresh database', async () => {
    const c = pgEngine.client();
    await c.connect();
    const r = await c.query<{ db: string; v: string }>('select current_database() as db, version() as v');
    expect(r.rows[0]?.db).toBe('harness_check');
    expect(r.rows[0]?.v).toMatch(/^PostgreSQL 1[5-9]/);
    const tables = await c.query("select count(*)::int as n from pg_tables where schemaname = 'public'");
    expect(tables.rows[0].n).toBe(0);
    await c.end();
  });

  it('survives a hard restart with its data', async () => {
    const c = pgEngine.client();
    await c.connect();
    await c.query('create table t (x int); insert into t values (42)');
    await c.end();
    await pgEngine.restart(true);
    const c2 = pgEngine.client();
    await c2.connect();
    const r = await c2.query<{ x: number }>('select x from t');
    expect(r.rows).toEqual([{ x: 42 }]);
    await c2.end();
  });

  it('a hard restart with connections open takes their backends down with it', async () => {
    // Backends are their own process groups: left alive, one would hold the shared memory and the new
    // postmaster would refuse to start ("pre-existing shared memory block is still in use").
    const clients = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const c = pgEngine.client();
        c.on('error', () => {}); // the server goes away under these connections
        await c.connect();
        return c;
      }),
    );
    const pids = await Promise.all(clients.map(async (c) => (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid));
    await pgEngine.restart(true);
    const running = (pid: number): boolean => {
      try {
        return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    expect(pids.filter(running)).toEqual([]);
    const c = pgEngine.client();
    await c.connect();
    expect((await c.query<{ n: number }>('select 1 as n')).rows).toEqual([{ n: 1 }]);
    await c.end();
    await Promise.all(clients.map((x) => x.end().catch(() => undefined)));
  });

  it('leaves no process and no directory behind when stopped', async () => {
    const other = await PostgresEngine.start();
    const url = other.url;
    expect(url).toMatch(/^postgres:\/\/meridian@127\.0\.0\.1:\d+\/meridian$/);
    await other.stop();
    const c = other.client();
    await expect(c.connect()).rejects.toThrow();
    expect(existsSync(url)).toBe(false);
  });
});
