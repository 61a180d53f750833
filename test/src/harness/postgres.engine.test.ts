import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
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
