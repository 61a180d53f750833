// Crash safety: 200 jobs in flight while (1) the hub is SIGKILLed and restarted, (2) the Temporal server is
// hard-restarted, (3) Postgres is hard-restarted. Every job must end exactly once: none lost, none dispatched
// twice, one finish event and one usage record each.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/ports.ts';
import { PostgresEngine } from '../harness/postgres.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { TestAgent } from '../doubles/test-agent.ts';
import { HubProcess } from './hub-process.ts';
import { ADMIN_TOKEN, Api, helloJob, waitFor } from './helpers.ts';

const JOBS = 200;

describe('crash safety with 200 jobs in flight', () => {
  let pgEngine: PostgresEngine;
  let temporal: TemporalEngine;
  let hub: HubProcess;
  let api: Api;
  let agent: TestAgent;
  let db: pg.Pool;
  const logDir = mkdtempSync(join(tmpdir(), 'meridian-crash-'));

  beforeAll(async () => {
    [pgEngine, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
    const port = await freePort();
    hub = new HubProcess(
      {
        DATABASE_URL: pgEngine.url,
        TEMPORAL_ADDRESS: temporal.address,
        PORT: String(port),
        MERIDIAN_BOOTSTRAP_TOKEN: ADMIN_TOKEN,
        LOG_LEVEL: process.env.HUB_LOG_LEVEL ?? 'warn',
        MERIDIAN_SCHEDULER_INTERVAL_MS: '500',
        MERIDIAN_WORKFLOW_POLL_MS: '60000',
        MERIDIAN_HEARTBEAT_INTERVAL_MS: '1000',
        MERIDIAN_CLUSTER_LOST_TIMEOUT_MS: '30000',
      },
      join(logDir, 'hub.log'),
    );
    api = new Api(await hub.start(), ADMIN_TOKEN);
    expect((await api.post('/api/v1/projects', { name: 'ml' })).status).toBe(201);
    const c = await api.post<{ credential: string }>('/api/v1/clusters', { id: 'east', region: 'r1', kind: 'kubernetes', prices: { A100: { onDemand: 2 } } });
    agent = new TestAgent({ hubUrl: api.url, credential: c.body.credential, clusterId: 'east', nodes: 4, gpusPerNode: 8, runMs: 300, journalFile: join(logDir, 'agent-journal.json') });
    await agent.start();
    db = new pg.Pool({ connectionString: pgEngine.url, max: 2 });
    db.on('error', () => undefined);
  });
  afterAll(async () => {
    await agent?.stop();
    await hub?.stop();
    await db?.end();
    await Promise.all([pgEngine?.stop(), temporal?.stop()]);
  });

  async function submitBatch(tag: string): Promise<string[]> {
    const ids: string[] = [];
    const queue = Array.from({ length: JOBS }, (_, i) => i);
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
          const r = await api.post<{ id: string }>('/api/v1/jobs', helloJob(`${tag}-${i}`));
          expect(r.status).toBe(201);
          ids.push(r.body.id);
        }
      }),
    );
    return ids;
  }

  async function expectExactlyOnce(ids: string[]): Promise<void> {
    await waitFor(
      `all ${ids.length} jobs final`,
      async () => {
        const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1::bigint[]) AND state IN ('Succeeded', 'Failed', 'Cancelled')`, [ids]);
        return r.rows[0]!.n === ids.length;
      },
      480_000,
      500,
    ).catch(async (err: Error) => {
      const r = await db.query('SELECT state, agent_phase, count(*)::int AS n FROM jobs WHERE id = ANY($1::bigint[]) GROUP BY 1, 2', [ids]);
      throw new Error(`${err.message}; states: ${JSON.stringify(r.rows)}; hub log in ${logDir}`);
    });
    const states = await db.query<{ state: string; attempt: number; n: number }>(
      'SELECT state, attempt, count(*)::int AS n FROM jobs WHERE id = ANY($1::bigint[]) GROUP BY state, attempt',
      [ids],
    );
    expect(states.rows).toEqual([{ state: 'Succeeded', attempt: 1, n: ids.length }]);
    for (const id of ids) expect(agent.dispatches.get(id), `dispatches of job ${id}`).toEqual([1]);
    expect(agent.duplicates()).toEqual([]);
    const finished = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM job_events WHERE job_id = ANY($1::bigint[]) AND type = 'finished'`, [ids]);
    expect(finished.rows[0]!.n).toBe(ids.length);
    const usage = await db.query<{ n: number; jobs: number }>('SELECT count(*)::int AS n, count(DISTINCT job_id)::int AS jobs FROM usage_records WHERE job_id = ANY($1::bigint[])', [ids]);
    expect(usage.rows[0]).toEqual({ n: ids.length, jobs: ids.length });
    const dispatchCmds = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM agent_commands WHERE kind = 'dispatch' AND job_id = ANY($1::bigint[])`, [ids]);
    expect(dispatchCmds.rows[0]!.n).toBe(ids.length);
  }

  const dispatchedOf = (ids: string[]): number => ids.filter((id) => agent.dispatches.has(id)).length;

  it('survives kill -9 of the hub mid-dispatch', async () => {
    const ids = await submitBatch('hubkill');
    await waitFor('some dispatches', async () => dispatchedOf(ids) >= 30, 120_000);
    await hub.kill9();
    const during = dispatchedOf(ids);
    await new Promise((r) => setTimeout(r, 1000));
    await hub.start();
    await expectExactlyOnce(ids);
    expect(during).toBeLessThan(JOBS);
  }, 600_000);

  it('survives a hard Temporal server restart mid-dispatch', async () => {
    const ids = await submitBatch('temporal');
    await waitFor('some dispatches', async () => dispatchedOf(ids) >= 30, 120_000);
    await temporal.restart(true);
    await expectExactlyOnce(ids);
  }, 600_000);

  it('survives a hard Postgres restart mid-dispatch', async () => {
    const ids = await submitBatch('postgres');
    await waitFor('some dispatches', async () => dispatchedOf(ids) >= 30, 120_000);
    await pgEngine.restart(true);
    await expectExactlyOnce(ids);
  }, 600_000);
});
