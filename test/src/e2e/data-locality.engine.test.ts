// Data locality end to end with everything real: Postgres, Temporal, the hub, two KWOK regions and one
// `edge-agent` process each. A dataset registered at `near` draws a locality-first job there; once `near` has no
// free GPUs the job goes to `far`, which gets exactly one prewarm: the job pends as Prewarming(...) with progress,
// the agent's copy Job runs on KWOK, and the registry then lists the dataset as cached at `far`.
import * as k8s from '@kubernetes/client-node';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import { createPool } from '@meridian/hub/store/db';
import { ADMIN_TOKEN, Api, FAST, waitFor } from '../hub/helpers.ts';
import { KubeCluster } from '../harness/kube/cluster.ts';
import { gpuPool } from '../harness/kube/nodes.ts';
import { PostgresEngine } from '../harness/postgres.ts';
import { RunDir } from '../harness/rundir.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { KubeAgentProcess } from './kubernetes-agents.ts';

const A100 = 'NVIDIA-A100-SXM4-80GB';
const NS = 'meridian-jobs';
// The hub expects 20 s to copy 20 GB over the 1 GB/s link; the agent's copy Job runs 10 s (2 GB/s) on KWOK.
const SIZE = 20e9;

type Job = { id: string; state: string; cluster: string | null; reason: string | null; reasonCode?: string | null };
type Dataset = { name: string; caches: { clusterId: string; state: string; percent: number; reason: string | null }[] };

function job(name: string, o: { gpus?: number; run?: string; clusters?: string[]; datasets?: string[]; expectedRuntime?: number } = {}): Record<string, unknown> {
  return {
    name,
    project: 'vision',
    resources: { gpus: o.gpus ?? 1, cpu: 1, memory: '2Gi' },
    workload: { image: 'busybox', command: ['sh', '-c', 'echo train'] },
    datasets: (o.datasets ?? []).map((n) => ({ name: n })),
    ...(o.expectedRuntime ? { expectedRuntime: o.expectedRuntime } : {}),
    placement: { ...(o.clusters ? { clusters: o.clusters } : {}) },
    annotations: { 'kwok.meridian.dev/run-duration': o.run ?? '2s' },
  };
}

describe('data locality and cache prewarming (hub + edge agents + KWOK)', () => {
  let pgEngine: PostgresEngine;
  let temporal: TemporalEngine;
  let near: KubeCluster;
  let far: KubeCluster;
  let hub: Hub;
  let admin: Api;
  let pool: pg.Pool;
  let runDir: RunDir;
  const agents: KubeAgentProcess[] = [];
  const saved = { ...process.env };

  const get = async (id: string): Promise<Job> => (await admin.get<Job>(`/api/v1/jobs/${id}`)).body;
  const submit = (spec: Record<string, unknown>): Promise<string> => admin.submitJob(spec);
  const until = (id: string, pred: (j: Job) => boolean, what: string, ms = 90_000): Promise<Job> =>
    waitFor(`job ${id} ${what}`, async () => {
      const j = await get(id);
      if (['Failed', 'Cancelled'].includes(j.state)) throw new Error(`job ${id} ended ${j.state}: ${j.reason}`);
      return pred(j) ? j : null;
    }, ms, 100);
  const dataset = async (name: string): Promise<Dataset> => (await admin.get<Dataset>(`/api/v1/datasets/${name}`)).body;

  beforeAll(async () => {
    [pgEngine, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
    near = await KubeCluster.start({ name: 'dl-near', nodes: gpuPool('near', 1, 8, A100) });
    far = await KubeCluster.start({ name: 'dl-far', nodes: gpuPool('far', 1, 8, A100) });
    // Copies would be held for at most 2 s: the 20 s copy to `far` pends the job as Prewarming.
    hub = await startHub({ databaseUrl: pgEngine.url, temporalAddress: temporal.address, ...FAST, scheduler: { preemption: false, backfill: true, maxPrewarmHoldSec: 2 } });
    pool = createPool(pgEngine.url, undefined, 2);
    admin = new Api(hub.url, ADMIN_TOKEN);
    expect((await admin.post('/api/v1/projects', { name: 'vision', policy: 'locality-first' })).status).toBe(201);
    runDir = RunDir.create('e2e-data-locality');
    // the agents read their copy settings from the environment they inherit
    Object.assign(process.env, { MERIDIAN_PREWARM_BYTES_PER_SEC: '2e9', MERIDIAN_PREWARM_POLL_MS: '300' });
    for (const [id, cluster, region, links] of [
      ['near', near, 'region-a', []],
      ['far', far, 'region-b', [{ region: 'region-a', bandwidthBytesPerSec: 1e9, egressUsdPerGB: 0.02 }]],
    ] as const) {
      const r = await admin.post<{ credential: string }>('/api/v1/clusters', { id, region, kind: 'kubernetes', prices: { [A100]: { onDemand: 2.0 } }, links });
      expect(r.status).toBe(201);
      agents.push(new KubeAgentProcess({ hubUrl: hub.url, clusterId: id, credential: r.body.credential, kubeconfigPath: cluster.kubeconfigPath, runDir }));
    }
    await Promise.all(agents.map((a) => a.start()));
    await waitFor('both inventories at the hub', async () => (await admin.get<{ items: unknown[] }>('/api/v1/nodes')).body.items.length === 2, 60_000);
    const reg = await admin.post<Dataset>('/api/v1/datasets', { name: 'imagenet', sizeBytes: SIZE, homeCluster: 'near' });
    expect(reg.status).toBe(201);
  });
  afterAll(async () => {
    for (const a of agents) await a.stop();
    await hub?.stop();
    await pool?.end();
    await near?.stop();
    await far?.stop();
    await Promise.all([pgEngine?.stop(), temporal?.stop()]);
    runDir?.remove();
    process.env = saved;
  });

  it('locality-first places a job where its dataset is cached, and prewarms nothing', async () => {
    const id = await submit(job('near-data', { datasets: ['imagenet'] }));
    const j = await until(id, (x) => x.state === 'Succeeded', 'Succeeded');
    expect(j.cluster).toBe('near');
    const prewarms = await pool.query("SELECT 1 FROM agent_commands WHERE kind = 'prewarm'");
    expect(prewarms.rowCount).toBe(0);
    expect((await dataset('imagenet')).caches.map((c) => c.clusterId)).toEqual(['near']);
  });

  it('with no GPUs free at the data, the job goes to the other region behind one prewarm, which the agent copies', async () => {
    const blocker = await submit(job('blocker', { gpus: 8, run: '300s', clusters: ['near'], expectedRuntime: 3600 }));
    await until(blocker, (x) => x.state === 'Running', 'Running');

    const id = await submit(job('far-data', { datasets: ['imagenet'], run: '2s' }));
    const pending = await until(id, (x) => /^Prewarming\(imagenet, \d+%\)/.test(x.reason ?? ''), 'pending as Prewarming', 30_000);
    expect(pending.state).toBe('Queued');
    expect(pending.reason).toMatch(/on far/);

    // the agent's copy Job: labelled, and on KWOK it runs for size / bandwidth
    const batch = far.kubeConfig().makeApiClient(k8s.BatchV1Api);
    const copy = await waitFor('copy Job on far', async () => (await batch.listNamespacedJob({ namespace: NS, labelSelector: 'meridian.dev/prewarm=imagenet' })).items[0], 30_000);
    expect(copy.spec?.template.metadata?.annotations?.['kwok.meridian.dev/run-duration']).toBe('10s');
    expect(copy.metadata?.annotations?.['meridian.dev/dataset']).toBe('imagenet');

    // progress reaches the hub: the cache row and the job's reason move past 0%
    const moving = await waitFor('prewarm progress at the hub', async () => {
      const c = (await dataset('imagenet')).caches.find((x) => x.clusterId === 'far');
      return c && c.state === 'prewarming' && c.percent > 0 ? c : null;
    }, 30_000);
    expect(moving.percent).toBeLessThan(100);
    await until(id, (x) => x.state !== 'Queued' || /^Prewarming\(imagenet, [1-9]\d?%\)/.test(x.reason ?? ''), 'Prewarming with progress', 30_000);

    const done = await until(id, (x) => x.state === 'Succeeded', 'Succeeded', 90_000);
    expect(done.cluster).toBe('far');
    const d = await waitFor('imagenet cached at far', async () => {
      const x = await dataset('imagenet');
      return x.caches.find((c) => c.clusterId === 'far')?.state === 'cached' ? x : null;
    }, 30_000);
    expect(d.caches).toEqual([expect.objectContaining({ clusterId: 'far', state: 'cached', percent: 100 }), expect.objectContaining({ clusterId: 'near', state: 'cached' })]);
    const finished = await batch.readNamespacedJob({ name: copy.metadata!.name!, namespace: NS });
    expect(finished.status?.succeeded).toBe(1);

    // one copy for the whole wait, however many cycles asked for it
    const cmds = await pool.query<{ cluster_id: string; command: { dataset: string; sizeBytes: number; source?: string } }>("SELECT cluster_id, command FROM agent_commands WHERE kind = 'prewarm'");
    expect(cmds.rows).toEqual([{ cluster_id: 'far', command: { kind: 'prewarm', dataset: 'imagenet', sizeBytes: SIZE, source: 'near' } }]);
    const listed = await admin.get<{ items: Dataset[] }>('/api/v1/datasets?cluster=far');
    expect(listed.body.items.map((x) => x.name)).toEqual(['imagenet']);
    await admin.post(`/api/v1/jobs/${blocker}/cancel`, {});
  });
});
