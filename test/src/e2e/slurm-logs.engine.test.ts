// Logs end to end on a real Slurm member: Postgres, Temporal, the hub, the harness Slurm cluster and one
// `edge-agent --kind slurm` process. A job's output file is read on the cluster by the agent (its transport)
// and comes back through the hub's API and the `meridian job logs` CLI; a follower sees a line the job writes
// later, waits for a held job to start, and ends when the job ends. Who may read, and every refusal.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import { ADMIN_TOKEN, Api, FAST, waitFor } from '../hub/helpers.ts';
import { PostgresEngine } from '../harness/postgres.ts';
import { RunDir } from '../harness/rundir.ts';
import { SlurmCluster } from '../harness/slurm.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { packagePath } from '../packages.ts';
import { SlurmAgentProcess } from './slurm-agents.ts';

type Job = { id: string; state: string; reason: string | null };
type Err = { code: string; message: string; details: { path: string; message: string }[] };

const USERS = { mia: 'member', otto: 'member', pam: 'admin', vic: 'viewer' } as const;
const bin = packagePath('hub', 'bin/meridian.js');

describe('job logs from a Slurm member (hub API + meridian CLI, read by the agent)', () => {
  let pgEngine: PostgresEngine;
  let temporal: TemporalEngine;
  let slurm: SlurmCluster;
  let hub: Hub;
  let admin: Api;
  let runDir: RunDir;
  let agent: SlurmAgentProcess;
  const tokens: Record<keyof typeof USERS, string> = { mia: '', otto: '', pam: '', vic: '' };
  const as = (u: keyof typeof USERS): Api => admin.as(tokens[u]);
  const cliEnv = (u: keyof typeof USERS) => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', MERIDIAN_URL: hub.url, MERIDIAN_TOKEN: tokens[u], XDG_CONFIG_HOME: '/nonexistent' });
  const scriptJob = (name: string, script: string, annotations: Record<string, string> = {}) => ({
    name,
    project: 'hpc-users',
    resources: { gpus: 0, cpu: 1, memory: '256Mi' },
    workload: { script },
    placement: { clusters: ['hpc'] },
    annotations,
  });
  let doneId = '';

  beforeAll(async () => {
    [pgEngine, temporal, slurm] = await Promise.all([PostgresEngine.start(), TemporalEngine.start(), SlurmCluster.start({ clusterName: 'hpc', restd: false })]);
    hub = await startHub({ databaseUrl: pgEngine.url, temporalAddress: temporal.address, ...FAST });
    admin = new Api(hub.url, ADMIN_TOKEN);
    expect((await admin.post('/api/v1/projects', { name: 'hpc-users' })).status).toBe(201);
    for (const [name, role] of Object.entries(USERS) as [keyof typeof USERS, string][]) {
      expect((await admin.post('/api/v1/users', { name, projects: { 'hpc-users': role } })).status).toBe(201);
      tokens[name] = (await admin.post<{ token: string }>(`/api/v1/users/${name}/tokens`, { name: 'test' })).body.token;
    }
    const r = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'hpc', region: 'on-prem', kind: 'slurm', prices: { a100: { onDemand: 1.1 } } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    runDir = RunDir.create('e2e-slurm-logs');
    agent = await new SlurmAgentProcess({ hubUrl: hub.url, clusterId: 'hpc', credential: r.body.credential, slurmConf: slurm.confPath, runDir, args: ['--slurm-poll-interval', '500'] }).start();
    await waitFor('Slurm inventory at the hub', async () => (await admin.get<{ items: unknown[] }>('/api/v1/nodes?cluster=hpc')).body.items.length === 2, 60_000, 250);
  });
  afterAll(async () => {
    await agent?.stop();
    await hub?.stop();
    await Promise.all([slurm?.stop(), pgEngine?.stop(), temporal?.stop()]);
    runDir?.remove();
  });

  it('follow waits for a held job to start, prints hello, then a line written later, and ends with the job', async () => {
    const id = await as('mia').submitJob(scriptJob('hello-logs', '#!/bin/bash\necho hello\nsleep 4\necho "later line"\n', { 'slurm.meridian.dev/hold': 'true' }));
    // not started: a plain read is refused with the field named; a follower waits
    const early = await as('mia').get<Err>(`/api/v1/jobs/${id}/logs`);
    expect(early.status, JSON.stringify(early.body)).toBe(409);
    expect(early.body.message).toMatch(/has not started: it is Queued/);
    expect(early.body.details[0]!.path).toBe('id');

    const t0 = Date.now();
    const arrivals: { at: number; text: string }[] = [];
    const cli = spawn(process.execPath, [bin, 'job', 'logs', id, '--follow'], { env: cliEnv('mia') });
    let stderr = '';
    cli.stdout.on('data', (d: Buffer) => arrivals.push({ at: Date.now() - t0, text: d.toString() }));
    cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => cli.on('exit', (code) => r(code)));
    await new Promise((r) => setTimeout(r, 2000));
    expect(arrivals, 'nothing printed while the job is held').toEqual([]);
    expect((await as('mia').post(`/api/v1/jobs/${id}/release`)).status).toBe(200);

    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 90_000))]);
    if (code === 'timeout') cli.kill();
    expect(code, `stderr: ${stderr}\nagent log:\n${agent.logTail()}`).toBe(0);
    const out = arrivals.map((a) => a.text).join('');
    expect(out).toBe('hello\nlater line\n');
    const hello = arrivals.find((a) => a.text.includes('hello'))!;
    const later = arrivals.find((a) => a.text.includes('later line'))!;
    // the second line came on its own, seconds after the first: streamed, not read once at the end
    expect(later.at - hello.at, JSON.stringify(arrivals)).toBeGreaterThan(2000);
    console.log(`follow: hello at ${hello.at} ms, "later line" ${later.at - hello.at} ms after it`);
    await admin.untilJobState<Job>(id, 'Succeeded');
    doneId = id;
  });

  it('the log through the API and the CLI: tail, task, and who may read it', async () => {
    const id = doneId;
    expect(id).not.toBe('');
    const mine = await as('mia').get(`/api/v1/jobs/${id}/logs`);
    expect(mine.status).toBe(200);
    expect(mine.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(mine.body).toBe('hello\nlater line\n');
    expect((await as('mia').get(`/api/v1/jobs/${id}/logs?tail=1`)).body).toBe('later line\n');
    // a finished job followed: everything, then the stream ends
    expect((await as('mia').get(`/api/v1/jobs/${id}/logs?follow=true`)).body).toBe('hello\nlater line\n');
    // project admins and hub admins read it; another member and a viewer see the job but not its log
    expect((await as('pam').get(`/api/v1/jobs/${id}/logs`)).body).toBe('hello\nlater line\n');
    expect((await admin.get(`/api/v1/jobs/${id}/logs`)).status).toBe(200);
    for (const u of ['otto', 'vic'] as const) {
      expect((await as(u).get(`/api/v1/jobs/${id}`)).status).toBe(200);
      const r = await as(u).get<Err>(`/api/v1/jobs/${id}/logs`);
      expect(r.status, u).toBe(403);
      expect(r.body.message).toMatch(/shown to its owner \(mia\), admins of project hpc-users and hub admins/);
    }
    const run = promisify(execFile);
    const printed = await run(process.execPath, [bin, 'job', 'logs', id, '--tail', '5'], { env: cliEnv('mia'), timeout: 30_000 });
    expect(printed.stdout).toBe('hello\nlater line\n');
  });

  it('refusals name the field: task out of range, bad follow, unknown job, no access', async () => {
    const id = doneId;
    const range = await as('mia').get<Err>(`/api/v1/jobs/${id}/logs?task=1`);
    expect(range.status).toBe(400);
    expect(range.body.details).toEqual([{ path: 'query.task', message: 'task 1 is out of range: use 0' }]);
    const follow = await as('mia').get<Err>(`/api/v1/jobs/${id}/logs?follow=maybe`);
    expect(follow.status).toBe(400);
    expect(follow.body.details[0]!.path).toBe('query.follow');
    const tail = await as('mia').get<Err>(`/api/v1/jobs/${id}/logs?tail=0`);
    expect(tail.status).toBe(400);
    expect(tail.body.details[0]!.path).toBe('query.tail');
    expect((await as('mia').get<Err>('/api/v1/jobs/987654/logs')).status).toBe(404);
    const run = promisify(execFile);
    const bad = await run(process.execPath, [bin, 'job', 'logs', id, '--task', '3'], { env: cliEnv('mia'), timeout: 30_000 }).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad?.code).toBe(1);
    expect(bad?.stderr).toMatch(/error 400 \(invalid\): job \d+ has 1 task\n {2}query\.task: task 3 is out of range: use 0/);
    const unknown = await run(process.execPath, [bin, 'job', 'logs', '987654'], { env: cliEnv('mia'), timeout: 30_000 }).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(unknown?.stderr).toMatch(/error 404 \(not_found\): job 987654 not found/);
  });
});
