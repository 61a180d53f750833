// A job's environment and secrets: no credential leaves the login node (whatever --export says), the exported
// environment is sealed apart from the spec and shown only to the job's owner and hub admins, job secrets are
// never returned by any API, nothing readable lies in Postgres, and the agent still receives all of it.
// Real Postgres, Temporal, hub, login-node sbatch/scontrol and the agent protocol (test agent double).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DispatchCommand } from '@meridian/protocol/agent-protocol';
import type { JobView } from '@meridian/protocol/job-view';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import { readJobEnvs, resealJobEnv, sealedByKey, sealLegacyEnv } from '@meridian/hub/store/repos/job-env';
import { generateSecretsKey, Keyring } from '@meridian/hub/store/sealed';
import { run } from '@meridian/slurm-bridge/login/spawn';
import { TestAgent } from '../doubles/test-agent.ts';
import { PostgresEngine } from '../harness/postgres.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { packagePath } from '../packages.ts';
import { ADMIN_TOKEN, Api, FAST, TEST_SECRETS_KEY } from './helpers.ts';

const bin = packagePath('slurm-bridge', 'bin');
const mark = (what: string): string => `planted-${what}-${randomBytes(6).toString('hex')}`;
const PLANTED_ENV = mark('env');
const PLANTED_AWS = mark('aws');
const REST_ENV = mark('rest-env');
const REST_SECRET = mark('rest-secret');

let pgEngine: PostgresEngine;
let temporal: TemporalEngine;
let hub: Hub;
let db: pg.Pool;
let agent: TestAgent;
let admin: Api;
const tokens: Record<'mia' | 'otto' | 'vic', string> = { mia: '', otto: '', vic: '' };
const as = (u: keyof typeof tokens): Api => admin.as(tokens[u]);
/** Every value no reader but the owner, an admin and the agent may ever see. */
let forbidden: string[] = [];

function login(cmd: string, args: string[], env: Record<string, string>) {
  return run(join(bin, cmd), args, { cwd: '/tmp', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', MERIDIAN_URL: hub.url, MERIDIAN_PROJECT: 'default', ...env } });
}

/** Submits with the login sbatch as mia (her token in MERIDIAN_TOKEN); returns the job id. */
async function sbatch(args: string[], extraEnv: Record<string, string> = {}): Promise<{ id: string; stderr: string }> {
  const r = await login('sbatch', [...args, '--wrap=echo hi'], { MERIDIAN_TOKEN: tokens.mia, PLANTED_VAR: PLANTED_ENV, AWS_SECRET_ACCESS_KEY: PLANTED_AWS, ...extraEnv });
  expect(r.code, r.stderr).toBe(0);
  const m = /^Submitted batch job (\d+)\n$/.exec(r.stdout);
  expect(m, r.stdout + r.stderr).not.toBeNull();
  return { id: m![1]!, stderr: r.stderr };
}

function expectNone(text: string, where: string): void {
  for (const v of forbidden) expect(text.includes(v), `${where} holds ${v.slice(0, 16)}…`).toBe(false);
}

beforeAll(async () => {
  [pgEngine, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
  hub = await startHub({ databaseUrl: pgEngine.url, temporalAddress: temporal.address, ...FAST });
  db = new pg.Pool({ connectionString: pgEngine.url, max: 2 });
  admin = new Api(hub.url, ADMIN_TOKEN);
  for (const [name, role] of [['mia', 'member'], ['otto', 'member'], ['vic', 'viewer']] as const) {
    expect((await admin.post('/api/v1/users', { name, projects: { default: role } })).status).toBe(201);
    tokens[name] = (await admin.post<{ token: string }>(`/api/v1/users/${name}/tokens`, { name: 'test' })).body.token;
  }
  forbidden = [tokens.mia, PLANTED_AWS, REST_SECRET];
  const c = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'east', region: 'east', kind: 'kubernetes', prices: { A100: { onDemand: 1 } } });
  expect(c.status, JSON.stringify(c.body)).toBe(201);
  agent = new TestAgent({ hubUrl: hub.url, credential: c.body.credential, clusterId: 'east', runMs: 200 });
  await agent.start();
}, 240_000);

afterAll(async () => {
  await agent?.stop();
  await hub?.stop();
  await db?.end();
  await Promise.all([pgEngine?.stop(), temporal?.stop()]);
});

const dispatchOf = (id: string): DispatchCommand | undefined =>
  agent.commands.map((c) => c.command).find((c): c is DispatchCommand => c.kind === 'dispatch' && c.jobId === id);

describe('the exported environment', () => {
  const ids: Record<string, string> = {};

  it('sbatch drops MERIDIAN_TOKEN whatever --export or SBATCH_EXPORT names, with one warning', async () => {
    const forms: [string, string[], Record<string, string>?][] = [
      ['all-token', ['--export=ALL,MERIDIAN_TOKEN']],
      ['token-only', ['--export=MERIDIAN_TOKEN']],
      ['none-token', ['--export=NONE,MERIDIAN_TOKEN']],
      ['env-all-token', [], { SBATCH_EXPORT: 'ALL,MERIDIAN_TOKEN' }],
      ['default', []],
    ];
    for (const [label, args, env] of forms) {
      const r = await sbatch(args, env);
      ids[label] = r.id;
      if (label === 'default') expect(r.stderr).toBe('');
      else {
        expect(r.stderr.match(/warning/g), r.stderr).toHaveLength(1);
        expect(r.stderr).toMatch(/^sbatch: warning: not exporting MERIDIAN_TOKEN: credentials stay on the login node/);
        expect(r.stderr).not.toContain(tokens.mia);
      }
    }
  });

  it('a viewer and another member read neither the token nor any env value, in the job or the list', async () => {
    for (const who of ['vic', 'otto'] as const) {
      for (const id of Object.values(ids)) {
        const r = await as(who).get<JobView>(`/api/v1/jobs/${id}`);
        expect(r.status).toBe(200);
        expect(r.body.envHidden).toBe(true);
        expect(r.body.spec.workload.env).toBeUndefined();
        expect(r.body.secretNames).toEqual([]);
        expectNone(JSON.stringify(r.body), `${who}'s GET /jobs/${id}`);
        expect(JSON.stringify(r.body)).not.toContain(PLANTED_ENV);
      }
      const list = await as(who).get<{ items: JobView[] }>('/api/v1/jobs?limit=100');
      expect(list.body.items.length).toBeGreaterThanOrEqual(Object.keys(ids).length);
      expect(list.body.items.every((j) => j.envHidden && j.spec.workload.env === undefined)).toBe(true);
      expectNone(JSON.stringify(list.body), `${who}'s job list`);
      expect(JSON.stringify(list.body)).not.toContain(PLANTED_ENV);
    }
    // the login node prints the hub's view: a viewer's scontrol shows no value either
    const sc = await login('scontrol', ['show', 'job', ids['all-token']!], { MERIDIAN_TOKEN: tokens.vic });
    expect(sc.code, sc.stderr).toBe(0);
    expect(sc.stdout).toContain(`JobId=${ids['all-token']}`);
    expectNone(sc.stdout, 'scontrol show job');
    expect(sc.stdout).not.toContain(PLANTED_ENV);
  });

  it('the owner and a hub admin see the environment, without MERIDIAN_TOKEN or other credentials', async () => {
    for (const api of [as('mia'), admin]) {
      const all = (await api.get<JobView>(`/api/v1/jobs/${ids['all-token']}`)).body;
      expect(all.envHidden).toBe(false);
      expect(all.spec.workload.env?.PLANTED_VAR).toBe(PLANTED_ENV);
      expect(all.spec.workload.env?.MERIDIAN_URL).toBe(hub.url);
      expect(all.spec.workload.env).not.toHaveProperty('MERIDIAN_TOKEN');
      expect(all.spec.workload.env).not.toHaveProperty('AWS_SECRET_ACCESS_KEY');
      expect(all.spec.annotations['slurm.meridian.dev/export']).toBe('ALL');
      const only = (await api.get<JobView>(`/api/v1/jobs/${ids['token-only']}`)).body;
      expect([only.envHidden, only.spec.workload.env]).toEqual([false, undefined]);
      expectNone(JSON.stringify([all, only]), 'the owner view');
      const list = (await api.get<{ items: JobView[] }>('/api/v1/jobs?limit=100')).body.items;
      expect(list.find((j) => j.id === ids.default)?.spec.workload.env?.PLANTED_VAR).toBe(PLANTED_ENV);
    }
  });

  it('the job still runs with its environment: the agent receives it', async () => {
    for (const id of Object.values(ids)) await admin.untilJobState(id, 'Succeeded');
    const d = dispatchOf(ids['all-token']!);
    expect(d?.env.PLANTED_VAR).toBe(PLANTED_ENV);
    expect(d?.env).not.toHaveProperty('MERIDIAN_TOKEN');
    expect(dispatchOf(ids['env-all-token']!)?.env.PLANTED_VAR).toBe(PLANTED_ENV);
    expect(dispatchOf(ids['none-token']!)?.env).toEqual({});
  });
});

describe('job secrets (workload.secrets)', () => {
  let id = '';

  it('are never returned by any API, only their names to the owner and admins', async () => {
    const post = await as('mia').post<JobView>('/api/v1/jobs', {
      name: 'with-secret',
      project: 'default',
      workload: { image: 'busybox', command: ['true'], env: { REST_VAR: REST_ENV }, secrets: { DB_PASSWORD: REST_SECRET } },
    });
    expect(post.status, JSON.stringify(post.body)).toBe(201);
    id = post.body.id;
    expectNone(JSON.stringify(post.body), 'the submit answer');
    expect(post.body.secretNames).toEqual(['DB_PASSWORD']);
    expect(post.body.spec.workload.env).toEqual({ REST_VAR: REST_ENV });
    expect(post.body.spec.workload).not.toHaveProperty('secrets');
    for (const who of ['mia', 'otto', 'vic'] as const) {
      const j = await as(who).get<JobView>(`/api/v1/jobs/${id}`);
      expectNone(JSON.stringify(j.body), `${who}'s GET`);
      expect(j.body.spec.workload).not.toHaveProperty('secrets');
      expect(j.body.secretNames).toEqual(who === 'mia' ? ['DB_PASSWORD'] : []);
      expectNone(JSON.stringify((await as(who).get('/api/v1/jobs?limit=100')).body), `${who}'s list`);
    }
    expect((await admin.get<JobView>(`/api/v1/jobs/${id}`)).body.secretNames).toEqual(['DB_PASSWORD']);
  });

  it('reach the agent on dispatch', async () => {
    await admin.untilJobState(id, 'Succeeded');
    const d = dispatchOf(id)!;
    expect(d.secrets).toEqual({ DB_PASSWORD: REST_SECRET });
    expect(d.env).toEqual({ REST_VAR: REST_ENV });
    // every answer about the finished job, its event stream included
    const list = await as('mia').get(`/api/v1/jobs/${id}/events`);
    const stream = await fetch(`${hub.url}/api/v1/jobs/${id}/events/stream`, { headers: { authorization: `Bearer ${tokens.mia}` } });
    const text = JSON.stringify(list.body) + (await stream.text());
    expect(text).toContain('event: end');
    expectNone(text, 'the event stream');
    expect(text).not.toContain(REST_ENV);
  });
});

describe('at rest', () => {
  it('no table holds a planted value in plaintext: not the specs, not the outbox, not the sealed rows', async () => {
    const values = [...forbidden, PLANTED_ENV, REST_ENV];
    const tables = (await db.query<{ t: string }>(`SELECT quote_ident(table_name) AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)).rows.map((r) => r.t);
    expect(tables).toEqual(expect.arrayContaining(['jobs', 'agent_commands', 'job_env', 'job_events']));
    for (const t of tables) {
      const rows = await db.query<{ x: string }>(`SELECT x::text AS x FROM ${t} x`);
      const dump = rows.rows.map((r) => r.x).join('\n');
      for (const v of values) expect(dump.includes(v) || dump.includes(Buffer.from(v).toString('hex')), `${t} holds ${v.slice(0, 16)}…`).toBe(false);
    }
    const specs = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE spec->'workload' ?| array['env', 'secrets']`);
    expect(specs.rows[0]!.n).toBe(0);
    const sealed = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM job_env');
    expect(sealed.rows[0]!.n).toBe(4); // three sbatch jobs with an environment, one REST job (the two exporting only the token have none)
  });

  it('jobs stored in plaintext before sealing are sealed and stripped (specs and outbox), then shown to their owner', async () => {
    const legacy = mark('legacy');
    const id = (await as('mia').post<JobView>('/api/v1/jobs', { name: 'legacy', project: 'default', workload: { image: 'busybox', command: ['true'] } })).body.id;
    await admin.untilJobState(id, 'Succeeded');
    // what a hub before migration 007 stored: env in the spec and in the dispatch command
    await db.query(`UPDATE jobs SET spec = jsonb_set(spec, '{workload,env}', $2::jsonb) WHERE id = $1`, [id, JSON.stringify({ OLD: legacy })]);
    await db.query(`UPDATE agent_commands SET command = jsonb_set(command, '{env}', $2::jsonb) WHERE job_id = $1 AND kind = 'dispatch'`, [id, JSON.stringify({ OLD: legacy })]);
    await db.query('INSERT INTO job_env_unsealed (job_id) VALUES ($1)', [id]);
    expect(await sealLegacyEnv(db, new Keyring(TEST_SECRETS_KEY))).toBe(1);
    const left = await db.query(`SELECT 1 FROM jobs WHERE spec::text LIKE $1 UNION ALL SELECT 1 FROM agent_commands WHERE command::text LIKE $1`, [`%${legacy}%`]);
    expect(left.rowCount).toBe(0);
    expect((await as('mia').get<JobView>(`/api/v1/jobs/${id}`)).body.spec.workload.env).toEqual({ OLD: legacy });
    expect((await as('vic').get<JobView>(`/api/v1/jobs/${id}`)).body.spec.workload.env).toBeUndefined();
  });

  it('key rotation: meridian admin reseal moves every row to the new key; the old key can then go', async () => {
    const next = generateSecretsKey();
    const reseal = (env: Record<string, string>) =>
      run(process.execPath, [packagePath('hub', 'bin/meridian.js'), 'admin', 'reseal', '--database-url', pgEngine.url], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', ...env } });
    const before = await sealedByKey(db);
    const oldId = new Keyring(TEST_SECRETS_KEY).currentId;
    expect(before.map((k) => k.keyId)).toEqual([oldId]);
    // without the old key the rows cannot be opened: the command says which key to add, and changes nothing
    const missing = await reseal({ MERIDIAN_SECRETS_KEY: next });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(new RegExp(`key ${oldId} cannot be opened.*MERIDIAN_SECRETS_OLD_KEYS`));
    expect(await sealedByKey(db)).toEqual(before);
    const r = await reseal({ MERIDIAN_SECRETS_KEY: next, MERIDIAN_SECRETS_OLD_KEYS: TEST_SECRETS_KEY });
    expect(r.code, r.stderr).toBe(0);
    const rotated = new Keyring(next);
    expect(r.stdout).toContain(`current key ${rotated.currentId}: re-sealed ${before[0]!.rows} job environments`);
    expect(r.stdout).toContain('old keys may now leave MERIDIAN_SECRETS_OLD_KEYS');
    expect(await sealedByKey(db)).toEqual([{ keyId: rotated.currentId, rows: before[0]!.rows }]);
    // a hub holding only the new key opens them all; one holding only the old key no longer can
    const ids = (await db.query<{ id: string }>('SELECT job_id::text AS id FROM job_env')).rows.map((x) => x.id);
    const opened = await readJobEnvs(db, rotated, ids);
    expect([...opened.values()].some((e) => e.env.PLANTED_VAR === PLANTED_ENV)).toBe(true);
    expect([...opened.values()].some((e) => e.secrets.DB_PASSWORD === REST_SECRET)).toBe(true);
    await expect(readJobEnvs(db, new Keyring(TEST_SECRETS_KEY), ids)).rejects.toThrow(/MERIDIAN_SECRETS_OLD_KEYS/);
    // back to the running hub's key (the store function the command runs)
    expect(await resealJobEnv(db, new Keyring(TEST_SECRETS_KEY, [next]))).toBe(before[0]!.rows);
    expect((await as('mia').get<JobView>(`/api/v1/jobs/${ids[0]}`)).status).toBe(200);
  });

  it('a hub without a secrets key, or without the key its rows need, refuses to start, saying what to set', async () => {
    await expect(startHub({ databaseUrl: pgEngine.url, temporalAddress: temporal.address })).rejects.toThrow(/MERIDIAN_SECRETS_KEY is not set.*openssl rand -base64 32/);
    await expect(startHub({ databaseUrl: pgEngine.url, temporalAddress: temporal.address, secretsKey: 'dG9vIHNob3J0' })).rejects.toThrow(/MERIDIAN_SECRETS_KEY must be 32 random bytes/);
    // a hub given another key (the old one dropped too early) refuses too, naming the key its rows need
    const needed = new Keyring(TEST_SECRETS_KEY).currentId;
    await expect(startHub({ databaseUrl: pgEngine.url, temporalAddress: temporal.address, secretsKey: generateSecretsKey() })).rejects.toThrow(
      new RegExp(`sealed under key ${needed} \\(\\d+ rows\\), which this hub does not hold: add that key to MERIDIAN_SECRETS_OLD_KEYS`),
    );
  });
});
