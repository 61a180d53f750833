// One job, one ID, one owner: a job submitted with Meridian's sbatch (bin/sbatch → hub → Slurm edge agent →
// harness Slurm) keeps the ID sbatch printed in Slurm (squeue, scontrol, SLURM_JOB_ID, %j; arrays as ID_N with
// %A/%a), runs as the Unix account of the Meridian user whose token submitted it, and a dispatch Slurm cannot
// take (a user without an account there) is the job's reason within seconds. Everything is real: Postgres,
// Temporal, the hub, the edge-agent process over WebSocket, Slurm 22.05 with the job-ID library in its sbatch.
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import { parseScontrolJobs } from '@meridian/slurm-bridge/parsers/scontrol';
import { run } from '@meridian/slurm-bridge/login/spawn';
import { ADMIN_TOKEN, Api, FAST } from '../hub/helpers.ts';
import { PostgresEngine } from '../harness/postgres.ts';
import { RunDir } from '../harness/rundir.ts';
import { buildJobIdLib } from '../harness/sbatch-jobid.ts';
import { SlurmCluster } from '../harness/slurm.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { ensureUnixUser } from '../harness/users.ts';
import { packagePath } from '../packages.ts';
import { SlurmAgentProcess } from './slurm-agents.ts';

const bin = packagePath('slurm-bridge', 'bin');
const SUBMITTED = /^Submitted batch job (\d+)\n$/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let pg: PostgresEngine;
let temporal: TemporalEngine;
let slurm: SlurmCluster;
let hub: Hub;
let agent: SlurmAgentProcess;
let runDir: RunDir;
let admin: Api;
let dir: string;
const tokens: Record<string, string> = {};

// As a client library runs them: Meridian's commands first on PATH, and that PATH exported with the job.
function meridian(user: string, cmd: string, args: string[]) {
  return run(join(bin, cmd), args, { cwd: dir, env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, MERIDIAN_URL: hub.url, MERIDIAN_TOKEN: tokens[user]!, MERIDIAN_PROJECT: 'default' } });
}

async function submit(user: string, args: string[]): Promise<string> {
  const r = await meridian(user, 'sbatch', args);
  expect(r.stdout, r.stderr).toMatch(SUBMITTED);
  return SUBMITTED.exec(r.stdout)![1]!;
}

async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const native = (id: string) => parseScontrolJobs(slurm.run('scontrol', ['show', 'job', '-o', id]).stdout);
const file = (name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8').trim() : undefined);

beforeAll(async () => {
  ensureUnixUser('alice');
  const jobIdLib = buildJobIdLib();
  [pg, temporal, slurm] = await Promise.all([
    PostgresEngine.start(),
    TemporalEngine.start(),
    // Slurm's own IDs start far above Meridian's (docs/slurm.md, "One job ID")
    SlurmCluster.start({ clusterName: 'hpc', restd: false, extraConfig: ['FirstJobId=50000000'] }),
  ]);
  hub = await startHub({ databaseUrl: pg.url, temporalAddress: temporal.address, ...FAST });
  admin = new Api(hub.url, ADMIN_TOKEN);
  expect([201, 409]).toContain((await admin.post('/api/v1/projects', { name: 'default' })).status);
  for (const name of ['alice', 'bob']) {
    expect((await admin.post('/api/v1/users', { name, projects: { default: 'member' } })).status).toBe(201);
    const t = await admin.post<{ token: string }>(`/api/v1/users/${name}/tokens`, { name: 'login' });
    expect(t.status).toBe(201);
    tokens[name] = t.body.token;
  }
  const c = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'hpc', region: 'onprem', kind: 'slurm', prices: { a100: { onDemand: 1 } } });
  expect(c.status, JSON.stringify(c.body)).toBe(201);
  dir = join(slurm.dir, 'home');
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777);
  // the real edge-agent process, set up as docs/slurm.md says
  runDir = RunDir.create('slurm-identity');
  agent = await new SlurmAgentProcess({
    hubUrl: hub.url,
    clusterId: 'hpc',
    credential: c.body.credential,
    slurmConf: slurm.confPath,
    workDir: dir,
    runDir,
    args: ['--slurm-jobid-lib', jobIdLib, '--slurm-run-as', 'submitter', '--slurm-poll-interval', '500'],
  }).start();
  await until('inventory at the hub', async () => ((await admin.get<{ items: unknown[] }>('/api/v1/nodes?cluster=hpc')).body.items?.length === 2 ? true : undefined), 60_000);
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  await hub?.stop();
  await Promise.all([pg?.stop(), temporal?.stop(), slurm?.stop()]);
  runDir?.remove();
});

describe('a job submitted through Meridian is the same job in Slurm', () => {
  it('sbatch prints N; Slurm’s squeue shows N as alice; inside, SLURM_JOB_ID and %j are N and id -un is alice', async () => {
    const id = await submit('alice', ['-p', 'gpu', '-o', 'single-%j.out', '--wrap', 'echo "$SLURM_JOB_ID $(id -un) $(command -v sbatch)"; sleep 3']);
    expect(Number(id)).toBeLessThan(50_000_000);
    const [sj] = await until(`Slurm job ${id}`, () => ((j) => (j.length ? j : undefined))(native(id)));
    expect(sj).toMatchObject({ jobId: id, user: 'alice', comment: `meridian:${id}:1` });
    expect(slurm.run('squeue', ['-h', '-j', id, '-o', '%i %u']).stdout.trim()).toBe(`${id} alice`);
    const out = await until(`single-${id}.out`, () => file(`single-${id}.out`) || undefined);
    // the user's PATH reached the job (Meridian's sbatch first), never the agent, which ran Slurm's own sbatch
    expect(out).toBe(`${id} alice ${join(bin, 'sbatch')}`);
    // Meridian's own view names the same ID and user
    const mq = await meridian('alice', 'sacct', ['-P', '-n', '-X', '-j', id, '--format=JobID,User']);
    expect(mq.stdout.trim()).toBe(`${id}|alice`);
  });

  it('an array is ID_N in Slurm; %A and %a expand to the ID and the index in every task', async () => {
    const id = await submit('alice', ['-p', 'gpu', '--array=0-2', '-o', 'arr-%A_%a.out', '--wrap', 'echo "$SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID $(id -un)"']);
    for (const i of [0, 1, 2]) expect(await until(`arr-${id}_${i}.out`, () => file(`arr-${id}_${i}.out`) || undefined)).toBe(`${id} ${i} alice`);
    const tasks = native(id);
    expect(tasks.map((t) => `${t.arrayJobId}_${t.arrayTaskId}`).sort()).toEqual([0, 1, 2].map((i) => `${id}_${i}`));
  });
});

describe('a dispatch Slurm cannot take', () => {
  it('is the job’s reason (and an event) within 10 s, and the job fails instead of waiting', async () => {
    const id = await submit('bob', ['-p', 'gpu', '--wrap', 'true']);
    const dispatched = await until('dispatched', async () => ((j) => (j.dispatchedAt ? Date.parse(j.dispatchedAt) : undefined))((await admin.get<{ dispatchedAt?: string }>(`/api/v1/jobs/${id}`)).body));
    const job = await until('failed', async () => ((j) => (j.state === 'Failed' ? j : undefined))((await admin.get<{ state: string; reason: string; finishedAt: string }>(`/api/v1/jobs/${id}`)).body), 30_000);
    expect(job.reason).toBe('DispatchFailed: Meridian user bob has no Unix account "bob" on this cluster (add the account, or map the user with --slurm-user-map)');
    expect(Date.parse(job.finishedAt) - dispatched).toBeLessThan(10_000);
    const events = (await admin.get<{ items: { message: string }[] }>(`/api/v1/jobs/${id}/events`)).body.items;
    expect(events.map((e) => e.message)).toContain('hpc reports Failed: DispatchFailed: Meridian user bob has no Unix account "bob" on this cluster (add the account, or map the user with --slurm-user-map)');
    expect(native(id)).toEqual([]);
  });
});

describe('scancel of a job Slurm holds pending', () => {
  it('takes effect at once: Slurm cancels it and the hub shows Cancelled within seconds', async () => {
    expect(slurm.run('scontrol', ['update', 'PartitionName=gpu', 'State=DOWN']).code).toBe(0);
    try {
      const id = await submit('alice', ['-p', 'gpu', '--wrap', 'true']);
      await until('pending in Slurm', () => (native(id)[0]?.reason === 'PartitionDown' ? true : undefined), 30_000);
      const t0 = Date.now();
      const r = await meridian('alice', 'scancel', [id]);
      expect(r.code, r.stderr).toBe(0);
      await until('Cancelled at the hub', async () => ((await admin.get<{ state: string }>(`/api/v1/jobs/${id}`)).body.state === 'Cancelled' ? true : undefined), 20_000);
      expect(native(id)[0]?.state).toBe('CANCELLED');
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      slurm.run('scontrol', ['update', 'PartitionName=gpu', 'State=UP']);
    }
  });
});
