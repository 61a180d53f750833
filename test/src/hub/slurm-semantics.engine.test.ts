// Slurm job semantics at the hub, wherever a job lands: Slurm-only requests (partition, nodelist, constraint)
// place on Slurm clusters only, `sbatch --hold` submits held, dependencies gate scheduling (and cancel what can
// never run). Real hub, Postgres, Temporal and the agent protocol; two agents stand for a Kubernetes region and a
// Slurm cluster (the Slurm one reports partitions and features as the Slurm driver does).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, Api, FAST, waitFor } from './helpers.ts';
import { PostgresEngine } from '../harness/postgres.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import type { NodeInfo } from '@meridian/protocol/agent-protocol';
import { TestAgent } from '../doubles/test-agent.ts';

/** A Slurm cluster as the Slurm driver reports it: partitions and features as node labels. */
class SlurmLikeAgent extends TestAgent {
  override get inventory(): NodeInfo[] {
    return super.inventory.map((n) => ({ ...n, labels: { 'slurm.meridian.dev/partitions': 'gpu,debug', 'slurm.meridian.dev/feature.ib': 'true' } }));
  }
}

interface View {
  id: string;
  state: string;
  cluster: string | null;
  reasonCode: string | null;
  reason: string | null;
  held: boolean;
  spec: { annotations: Record<string, string> };
  slurm: { partition: string | null; stdOut: string; stdErr: string; workDir: string | null; timeLimitSec: number };
}

let pg: PostgresEngine;
let temporal: TemporalEngine;
let hub: Hub;
let api: Api;
const agents: TestAgent[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const S = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [`slurm.meridian.dev/${k}`, v]));
const job = (name: string, ann: Record<string, string> = {}, extra: Record<string, unknown> = {}) => ({
  name,
  resources: { gpus: 1, cpu: 1, memory: '1Gi' },
  workload: { script: '#!/bin/bash\necho hi\n', image: 'debian:bookworm-slim' },
  annotations: S(ann),
  ...extra,
});
const submit = async (body: unknown): Promise<View> => {
  const r = await api.post<View>('/api/v1/jobs', body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
};
const get = async (id: string): Promise<View> => (await api.get<View>(`/api/v1/jobs/${id}`)).body;
const until = (id: string, pred: (v: View) => boolean, what: string, ms = 60_000) => waitFor(`job ${id} ${what}`, async () => ((v) => (pred(v) ? v : undefined))(await get(id)), ms, 200);
const done = (v: View) => ['Succeeded', 'Failed', 'Cancelled'].includes(v.state);

beforeAll(async () => {
  [pg, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
  hub = await startHub({ databaseUrl: pg.url, temporalAddress: temporal.address, ...FAST });
  api = new Api(hub.url, ADMIN_TOKEN);
  for (const [id, kind] of [['east', 'kubernetes'], ['hpc', 'slurm']] as const) {
    const c = await api.post<{ credential: string }>('/api/v1/clusters', { id, region: id, kind, prices: { A100: { onDemand: kind === 'slurm' ? 9 : 1 } } });
    expect(c.status).toBe(201);
    const o = { hubUrl: hub.url, credential: c.body.credential, clusterId: id, nodes: 2, gpusPerNode: 8, gpuModel: 'A100', runMs: 1500, outcome: (d: { name: string }) => (d.name.startsWith('fail') ? { phase: 'Failed' as const, exitCode: 3 } : { phase: 'Succeeded' as const, exitCode: 0 }) };
    const a = kind === 'slurm' ? new SlurmLikeAgent(o) : new TestAgent(o);
    await a.start();
    agents.push(a);
  }
});

afterAll(async () => {
  for (const a of agents) await a.stop();
  await hub?.stop();
  await Promise.all([pg?.stop(), temporal?.stop()]);
});

describe('Slurm-only requests', () => {
  it('a job naming a partition, nodelist or constraint lands on the Slurm cluster only (Kubernetes is cheaper)', async () => {
    const free = await submit(job('anywhere'));
    const pinned = await Promise.all([
      submit(job('part', { partition: 'gpu' })),
      submit(job('nodes', { nodelist: 'hpc-0' })),
      submit(job('feat', { constraint: 'ib' })),
      submit(job('multi', { partition: 'nowhere,debug' })),
    ]);
    expect((await until(free.id, (v) => v.cluster !== null, 'placed')).cluster).toBe('east');
    for (const p of pinned) expect((await until(p.id, (v) => v.cluster !== null, 'placed')).cluster).toBe('hpc');
  });

  it('a partition that exists nowhere is refused at submit with sbatch\'s text, naming the field', async () => {
    const r = await api.post<{ code: string; message: string; details: { path: string; message: string }[] }>('/api/v1/jobs', job('bad', { partition: 'nowhere' }));
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ code: 'invalid_partition', message: 'Invalid partition name specified' });
    expect(r.body.details[0]).toMatchObject({ path: 'annotations.slurm.meridian.dev/partition', message: expect.stringMatching(/use one of: debug, gpu/) });
  });

  it('a Slurm-only job that also asks for a Kubernetes cluster stays Queued with the scheduler\'s reason', async () => {
    const j = await submit(job('conflict', { partition: 'gpu' }, { placement: { clusters: ['east'] } }));
    await sleep(2000);
    const v = await get(j.id);
    expect(v).toMatchObject({ state: 'Queued', cluster: null });
    expect(v.reasonCode).not.toBe('New');
    expect((await api.post(`/api/v1/jobs/${j.id}/cancel`)).status).toBe(202);
  });
});

describe('sbatch --hold', () => {
  it('submits held: Queued with JobHeldUser, never placed until released', async () => {
    const j = await submit(job('held', { hold: 'true', partition: 'gpu' }));
    expect(j).toMatchObject({ state: 'Queued', reasonCode: 'JobHeldUser', held: true });
    expect(j.spec.annotations['slurm.meridian.dev/hold']).toBeUndefined(); // the hold lives in the job, not in what is dispatched
    await sleep(2500);
    expect(await get(j.id)).toMatchObject({ state: 'Queued', cluster: null, reasonCode: 'JobHeldUser' });
    expect((await api.post(`/api/v1/jobs/${j.id}/release`)).status).toBe(200);
    expect(await until(j.id, done, 'finished')).toMatchObject({ state: 'Succeeded', cluster: 'hpc', held: false });
  });

  it('a running job, or one dispatched to Kubernetes, cannot be held: 409 with the reason', async () => {
    agents[0]!.o.hold = (d) => d.name === 'long';
    const j = await submit(job('long'));
    await until(j.id, (v) => v.state === 'Running', 'running');
    const r = await api.post<{ message: string }>(`/api/v1/jobs/${j.id}/hold`);
    expect(r.status).toBe(409);
    expect(r.body.message).toMatch(/only Queued jobs can be held; job \d+ is Running \(a dispatched job can be held only while it is pending on a Slurm cluster\)/);
    expect((await api.post(`/api/v1/jobs/${j.id}/cancel`)).status).toBe(202);
    agents[0]!.o.hold = undefined;
  });
});

describe('dependencies, for jobs placed anywhere', () => {
  it('afterok waits (reason Dependency) while the prerequisite runs, then runs; the prerequisite may be on Kubernetes', async () => {
    const a = await submit(job('first'));
    const b = await submit(job('second', { dependency: `afterok:${a.id}` }));
    const waiting = await until(b.id, (v) => v.reasonCode === 'Dependency', 'waiting on its dependency');
    expect(waiting.state).toBe('Queued');
    const aDone = await until(a.id, done, 'finished');
    expect(aDone).toMatchObject({ state: 'Succeeded', cluster: 'east' });
    expect(await until(b.id, done, 'finished')).toMatchObject({ state: 'Succeeded' });
  });

  it('afterok on a failed job is never satisfied: cancelled with DependencyNeverSatisfied; afternotok runs', async () => {
    const f = await submit(job('fail-one'));
    const ok = await submit(job('after-ok', { dependency: `afterok:${f.id}` }));
    const notok = await submit(job('after-notok', { dependency: `afternotok:${f.id}` }));
    const either = await submit(job('either', { dependency: `afterok:${f.id}?afterany:${f.id}` }));
    expect((await until(f.id, done, 'finished')).state).toBe('Failed');
    expect(await until(ok.id, done, 'finished')).toMatchObject({ state: 'Cancelled', reasonCode: 'DependencyNeverSatisfied' });
    expect((await until(notok.id, done, 'finished')).state).toBe('Succeeded');
    expect((await until(either.id, done, 'finished')).state).toBe('Succeeded');
  });

  it('singleton: one job of a name and user at a time', async () => {
    const one = await submit(job('solo', { dependency: 'singleton', jobName: 'solo' }));
    const two = await submit(job('solo', { dependency: 'singleton', jobName: 'solo' }));
    const w = await until(two.id, (v) => v.reasonCode === 'Dependency' || v.state !== 'Queued', 'gated');
    expect(w.state).toBe('Queued');
    await until(one.id, done, 'finished');
    expect((await until(two.id, done, 'finished')).state).toBe('Succeeded');
  });

  it('an unknown or malformed dependency is refused at submit ("Job dependency problem")', async () => {
    for (const dep of ['afterok:999999999', 'before:1', 'afterok:1,afterok:2?afterok:3']) {
      const r = await api.post<{ code: string; message: string; details: { path: string }[] }>('/api/v1/jobs', job('bad-dep', { dependency: dep }));
      expect(r.status, dep).toBe(400);
      expect(r.body).toMatchObject({ code: 'dependency_problem', message: 'Job dependency problem', details: [{ path: 'annotations.slurm.meridian.dev/dependency' }] });
    }
  });
});

describe('the job view', () => {
  it('carries what squeue / scontrol / sacct print: partition, work dir, expanded std out/err paths, time limit', async () => {
    const j = await submit(job('view', { partition: 'gpu', workDir: '/home/ana', jobName: 'my job', output: '%x-%j.out', error: 'logs/%u-%j.err', submitUser: 'ana', timeLimitMin: '5' }));
    expect(j.slurm).toMatchObject({ partition: 'gpu', workDir: '/home/ana', stdOut: `/home/ana/my job-${j.id}.out`, stdErr: `/home/ana/logs/ana-${j.id}.err`, timeLimitSec: 300 });
  });
});
