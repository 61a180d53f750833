// Prewarm through the real hub (Postgres + Temporal) to the Slurm agent on the harness Slurm: the scheduler's
// `prewarm` reaches the agent, the copy runs as a Slurm batch job, and its progress, success or failure land in
// the hub's dataset registry; the job that needed the data then runs on Slurm.
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, Api, FAST, waitFor } from '../hub/helpers.ts';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import { TestAgent } from '../doubles/test-agent.ts';
import { PostgresEngine } from '../harness/postgres.ts';
import { SlurmCluster } from '../harness/slurm.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { parseScontrolJobs } from '@meridian/slurm-bridge/parsers/scontrol';
import { LocalTransport } from '@meridian/slurm-bridge/transports/local';
import { SlurmAgent } from '@meridian/edge-agent/slurm/agent';
import { SlurmDriver } from '@meridian/edge-agent/slurm/driver';

type Job = { id: string; state: string; cluster: string | null; reason: string | null };
type Cache = { clusterId: string; state: string; percent: number; reason: string | null };

let pg: PostgresEngine;
let temporal: TemporalEngine;
let slurm: SlurmCluster;
let hub: Hub;
let admin: Api;
let home: TestAgent;
let agent: SlurmAgent;
const saved = { ...process.env };

beforeAll(async () => {
  [pg, temporal, slurm] = await Promise.all([PostgresEngine.start(), TemporalEngine.start(), SlurmCluster.start({ clusterName: 'hpc', restd: false })]);
  hub = await startHub({ databaseUrl: pg.url, temporalAddress: temporal.address, ...FAST, scheduler: { preemption: false, backfill: true, maxPrewarmHoldSec: 1 } });
  admin = new Api(hub.url, ADMIN_TOKEN);
  expect((await admin.post('/api/v1/projects', { name: 'vision', policy: 'locality-first' })).status).toBe(201);
  const h = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'home', region: 'region-a', kind: 'kubernetes' });
  const c = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'hpc', region: 'region-b', kind: 'slurm', prices: { a100: { onDemand: 1 } }, links: [{ region: 'region-a', bandwidthBytesPerSec: 1e9, egressUsdPerGB: 0.01 }] });
  expect(c.status, JSON.stringify(c.body)).toBe(201);
  // `home` holds the data but no GPUs: the GPU job goes to the Slurm cluster behind a copy
  home = new TestAgent({ hubUrl: hub.url, credential: h.body.credential, clusterId: 'home', nodes: 1, gpusPerNode: 0 });
  await home.start();
  const workDir = join(slurm.dir, 'meridian');
  mkdirSync(workDir, { recursive: true });
  chmodSync(workDir, 0o777);
  // the agent copies at the hub's 1 GB/s: a 6 GB dataset takes 6 s
  Object.assign(process.env, { MERIDIAN_PREWARM_BYTES_PER_SEC: '1e9', MERIDIAN_PREWARM_POLL_MS: '300' });
  const driver = new SlurmDriver({ transport: new LocalTransport({ env: { SLURM_CONF: slurm.confPath } }), clusterName: 'hpc', workDir, pollIntervalMs: 500 });
  agent = new SlurmAgent({ hubUrl: hub.url, credential: c.body.credential, clusterId: 'hpc', driver, backoff: { minMs: 100, maxMs: 1000 } });
  agent.start();
  await waitFor('Slurm inventory at the hub', async () => (await admin.get<{ items: unknown[] }>('/api/v1/nodes?cluster=hpc')).body.items.length === 2, 60_000, 250);
  for (const name of ['imagenet', 'broken']) expect((await admin.post('/api/v1/datasets', { name, sizeBytes: 6e9, homeCluster: 'home' })).status).toBe(201);
});

afterAll(async () => {
  await agent?.stop();
  await home?.stop();
  await hub?.stop();
  await Promise.all([slurm?.stop(), pg?.stop(), temporal?.stop()]);
  process.env = saved;
});

const submit = async (name: string, dataset: string): Promise<string> => {
  const r = await admin.post<Job>('/api/v1/jobs', { name, project: 'vision', resources: { gpus: 1, cpu: 1, memory: '512Mi' }, workload: { script: '#!/bin/bash\necho trained\n' }, datasets: [{ name: dataset }] });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id;
};
const job = async (id: string): Promise<Job> => (await admin.get<Job>(`/api/v1/jobs/${id}`)).body;
const cacheAtHpc = async (dataset: string): Promise<Cache | undefined> =>
  (await admin.get<{ caches: Cache[] }>(`/api/v1/datasets/${dataset}`)).body.caches.find((c) => c.clusterId === 'hpc');
const copyJobs = (dataset: string) => parseScontrolJobs(slurm.run('scontrol', ['show', 'job', '-o']).stdout).filter((j) => j.comment === `meridian-prewarm:${dataset}`);

describe('prewarm from the hub to a Slurm cluster', () => {
  it('copies with a Slurm job, reports progress to the hub, and the job then runs there', async () => {
    const id = await submit('train', 'imagenet');
    await waitFor('copy job on Slurm', async () => copyJobs('imagenet').length === 1, 30_000, 200);
    expect(copyJobs('imagenet')[0]).toMatchObject({ name: 'meridian-prewarm-imagenet' });
    const moving = await waitFor('progress at the hub', async () => {
      const c = await cacheAtHpc('imagenet');
      return c?.state === 'prewarming' && c.percent > 0 ? c : null;
    }, 30_000, 200);
    expect(moving.percent).toBeLessThan(100);
    expect((await job(id)).reason ?? '').toMatch(/^Prewarming\(imagenet, \d+%\) on hpc$/);
    await waitFor('imagenet cached at hpc', async () => (await cacheAtHpc('imagenet'))?.state === 'cached', 60_000, 200);
    expect(await cacheAtHpc('imagenet')).toMatchObject({ state: 'cached', percent: 100 });
    const done = await waitFor('job Succeeded', async () => {
      const j = await job(id);
      return ['Succeeded', 'Failed', 'Cancelled'].includes(j.state) ? j : null;
    }, 90_000, 250);
    expect(done).toMatchObject({ state: 'Succeeded', cluster: 'hpc' });
    expect(copyJobs('imagenet')).toHaveLength(1);
  });

  it('a failing copy is failed at the hub with Slurm\'s state, exit code and the copy\'s words', async () => {
    process.env.MERIDIAN_PREWARM_COMMAND = 'cp -a /nonexistent/broken "$MERIDIAN_PREWARM_TARGET"';
    await submit('train-broken', 'broken');
    const c = await waitFor('broken copy failed at the hub', async () => {
      const x = await cacheAtHpc('broken');
      return x?.state === 'failed' ? x : null;
    }, 60_000, 200);
    expect(c.reason).toMatch(/^copy job \d+ FAILED ExitCode=1:0.*\/nonexistent\/broken.*No such file/);
    expect(copyJobs('broken')[0]).toMatchObject({ state: 'FAILED', exitCode: 1 });
  });
});
