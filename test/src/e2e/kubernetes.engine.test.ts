// End to end with everything real: Postgres, Temporal, the hub, two KWOK Kubernetes regions and one
// `edge-agent` process per region. Proves placement by policy, Succeeded/Failed with exit codes at the hub,
// hand cordons honoured, hub drains evicting and requeueing, GPUs taken by pods Meridian did not create
// counted at the hub, and cluster loss → requeue elsewhere with nothing running twice when the region returns.
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
const H100 = 'NVIDIA-H100-80GB-HBM3';
const NS = 'meridian-jobs';
const LOST_MS = 6000;
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

type Job = { id: string; state: string; cluster: string | null; attempt: number; exitCode: number | null; reason: string | null; startedAt: string | null; finishedAt: string | null; placement: { node: string }[] | null };
type NodeRow = { clusterId: string; name: string; info: { unschedulable: boolean; reason?: string; requested: { gpus: number }; gpus: { milliUsed: number }[] } };

// The placement policy is a project setting (the scheduler reads the project's policy; see the report).
function job(name: string, o: { project?: string; gpus?: number; tasks?: number; run?: string; exit?: number; clusters?: string[] } = {}): Record<string, unknown> {
  return {
    name,
    project: o.project ?? 'ml',
    tasks: o.tasks ?? 1,
    resources: { gpus: o.gpus ?? 1, cpu: 1, memory: '2Gi' },
    workload: { image: 'busybox', command: ['sh', '-c', 'echo hello'] },
    placement: { ...(o.clusters ? { clusters: o.clusters } : {}) },
    annotations: { 'kwok.meridian.dev/run-duration': o.run ?? '2s', ...(o.exit !== undefined ? { 'kwok.meridian.dev/exit-code': String(o.exit) } : {}) },
  };
}

describe('Kubernetes regions end to end (hub + edge agents + KWOK)', () => {
  let pgEngine: PostgresEngine;
  let temporal: TemporalEngine;
  let east: KubeCluster;
  let west: KubeCluster;
  let hub: Hub;
  let admin: Api;
  let pool: pg.Pool;
  let runDir: RunDir;
  const agents = new Map<string, KubeAgentProcess>();

  const get = async (id: string): Promise<Job> => (await admin.get<Job>(`/api/v1/jobs/${id}`)).body;
  const submit = (spec: Record<string, unknown>): Promise<string> => admin.submitJob(spec);
  const until = (id: string, state: string, ms = 90_000): Promise<Job> => admin.untilJobState<Job>(id, state, { ms });
  const nodes = async (cluster: string): Promise<NodeRow[]> => (await admin.get<{ items: NodeRow[] }>(`/api/v1/nodes?cluster=${cluster}`)).body.items;
  const kubeJobs = async (c: KubeCluster, jobId: string) =>
    (await c.kubeConfig().makeApiClient(k8s.BatchV1Api).listNamespacedJob({ namespace: NS, labelSelector: `meridian.dev/job-id=${jobId}` })).items;
  const kubePods = async (c: KubeCluster, jobId: string) => (await c.core().listNamespacedPod({ namespace: NS, labelSelector: `meridian.dev/job-id=${jobId}` })).items;

  beforeAll(async () => {
    [pgEngine, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
    east = await KubeCluster.start({ name: 'e2e-east', nodes: gpuPool('a100', 2, 8, A100) });
    west = await KubeCluster.start({ name: 'e2e-west', nodes: gpuPool('h100', 4, 8, H100) });
    hub = await startHub({ databaseUrl: pgEngine.url, temporalAddress: temporal.address, ...FAST, clusterLostTimeoutMs: LOST_MS });
    pool = createPool(pgEngine.url, undefined, 2);
    admin = new Api(hub.url, ADMIN_TOKEN);
    expect((await admin.post('/api/v1/projects', { name: 'ml' })).status).toBe(201);
    expect((await admin.post('/api/v1/projects', { name: 'thrifty', policy: 'cost-first' })).status).toBe(201);
    expect((await admin.post('/api/v1/projects', { name: 'hasty', policy: 'inventory-first' })).status).toBe(201);
    runDir = RunDir.create('e2e-kube-agents');
    // east: fewer, cheaper GPUs; west: more, dearer GPUs — cost-first and inventory-first disagree.
    for (const [id, cluster, prices] of [
      ['east', east, { [A100]: { onDemand: 1.0 } }],
      ['west', west, { [H100]: { onDemand: 3.0 } }],
    ] as const) {
      const r = await admin.post<{ credential: string }>('/api/v1/clusters', { id, region: `${id}-region`, kind: 'kubernetes', prices });
      expect(r.status).toBe(201);
      agents.set(id, new KubeAgentProcess({ hubUrl: hub.url, clusterId: id, credential: r.body.credential, kubeconfigPath: cluster.kubeconfigPath, runDir, args: ['--apiserver-lost-after', '3000'] }));
    }
    await Promise.all([...agents.values()].map((a) => a.start()));
    await waitFor('both inventories at the hub', async () => (await nodes('east')).length === 2 && (await nodes('west')).length === 4, 60_000);
  });
  afterAll(async () => {
    for (const a of agents.values()) await a.stop();
    await hub?.stop();
    await pool?.end();
    await east?.stop();
    await west?.stop();
    await Promise.all([pgEngine?.stop(), temporal?.stop()]);
    runDir?.remove();
  });

  it('places by policy: cost-first picks the cheap region, inventory-first the roomy one; both succeed with timings', async () => {
    const cheap = await submit(job('cheap', { project: 'thrifty' }));
    const roomy = await submit(job('roomy', { project: 'hasty' }));
    const [c, r] = await Promise.all([until(cheap, 'Succeeded'), until(roomy, 'Succeeded')]);
    expect(c.cluster).toBe('east');
    expect(r.cluster).toBe('west');
    for (const j of [c, r]) {
      expect(j.exitCode).toBe(0);
      expect(j.startedAt).toBeTruthy();
      expect(Date.parse(j.finishedAt!) - Date.parse(j.startedAt!)).toBeGreaterThanOrEqual(1000);
    }
    const [ej] = await kubeJobs(east, cheap);
    expect(ej?.metadata?.labels).toMatchObject({ 'meridian.dev/job-id': cheap, 'meridian.dev/attempt': '1', 'meridian.dev/project': 'thrifty' });
    expect(ej?.status?.succeeded).toBe(1);
    expect(await kubeJobs(west, cheap)).toHaveLength(0);
    const [wj] = await kubeJobs(west, roomy);
    expect(wj?.spec?.template.spec?.nodeSelector).toEqual({ 'nvidia.com/gpu.product': H100 });
  });

  it('a job whose pods exit 3 is Failed with exit code 3 at the hub', async () => {
    const id = await submit(job('doomed', { exit: 3, run: '1s' }));
    const j = await until(id, 'Failed');
    expect(j.exitCode).toBe(3);
    expect(j.reason).toMatch(/exit code 3/);
  });

  it('pods Meridian did not create take 4 GPUs on each node: the hub counts them and a 5-GPU job waits queued', async () => {
    const outsiders = ['a100-0', 'a100-1'].map((node) => ({ name: `outsider-${node}`, node }));
    for (const o of outsiders)
      await east.core().createNamespacedPod({
        namespace: 'default',
        body: { metadata: { name: o.name }, spec: { nodeName: o.node, containers: [{ name: 'c', image: 'busybox', resources: { limits: { 'nvidia.com/gpu': '4' } } }] } },
      });
    try {
      const t0 = Date.now();
      await waitFor('outside pods counted at the hub', async () => {
        const ns = await nodes('east');
        return ns.length === 2 && ns.every((n) => n.info.requested.gpus === 4 && n.info.gpus.filter((g) => g.milliUsed > 0).length === 4);
      }, 10_000, 100);
      const seenMs = Date.now() - t0;
      expect(seenMs, `hub counted the pods after ${seenMs} ms`).toBeLessThan(10_000);
      console.log(`outside pods' GPUs at the hub ${seenMs} ms after creation`);

      // 8 GPUs are free in the region, but no node has 5: the job must wait rather than be dispatched
      const id = await submit(job('needs-five', { gpus: 5, clusters: ['east'], run: '1s' }));
      await new Promise((r) => setTimeout(r, 4000));
      const j = await get(id);
      expect(j.state, JSON.stringify(j)).toBe('Queued');
      expect(j.reason, JSON.stringify(j)).toBeTruthy();
      expect(await kubeJobs(east, id)).toHaveLength(0);

      for (const o of outsiders) await east.core().deleteNamespacedPod({ name: o.name, namespace: 'default', gracePeriodSeconds: 0 });
      const done = await until(id, 'Succeeded');
      expect(done.cluster).toBe('east');
    } finally {
      for (const o of outsiders) await east.core().deleteNamespacedPod({ name: o.name, namespace: 'default', gracePeriodSeconds: 0 }).catch(() => undefined);
    }
  });

  it('a node cordoned by hand gets no new placements', async () => {
    await west.core().patchNode({ name: 'h100-0', body: { spec: { unschedulable: true } } }, mergePatch);
    await waitFor('hand cordon at the hub', async () => (await nodes('west')).find((n) => n.name === 'h100-0')?.info.unschedulable === true, 30_000);
    const id = await submit(job('gang-of-3', { tasks: 3, gpus: 8, clusters: ['west'] }));
    const j = await until(id, 'Succeeded');
    expect(j.placement!.map((t) => t.node).sort()).toEqual(['h100-1', 'h100-2', 'h100-3']);
    const pods = await kubePods(west, id);
    expect(pods).toHaveLength(3);
    expect(pods.map((p) => p.spec?.nodeName)).not.toContain('h100-0');
    await west.core().patchNode({ name: 'h100-0', body: { spec: { unschedulable: null } } }, mergePatch);
    await waitFor('uncordon at the hub', async () => (await nodes('west')).find((n) => n.name === 'h100-0')?.info.unschedulable === false, 30_000);
  });

  it('a hub drain evicts the pods on the node and the hub requeues their job', async () => {
    const id = await submit(job('long-runner', { gpus: 8, clusters: ['west'], run: '10m' }));
    const running = await until(id, 'Running');
    const node = running.placement![0]!.node;
    await waitFor('pod running on the node', async () => (await kubePods(west, id)).some((p) => p.status?.phase === 'Running' && p.spec?.nodeName === node), 30_000);
    // The drain goes through the hub's node command API, its outbox and the gateway.
    const sent = await admin.post<{ commandId: string }>(`/api/v1/clusters/west/nodes/${node}/drain`, { reason: 'GPU XID 79', timeoutSeconds: 30 });
    expect(sent.status).toBe(202);
    const requeued = await waitFor('requeued attempt 2', async () => {
      const j = await get(id);
      return j.attempt === 2 ? j : null;
    }, 60_000);
    expect(requeued.attempt).toBe(2);
    const events = (await admin.get<{ items: { type: string; message: string }[] }>(`/api/v1/jobs/${id}/events`)).body.items;
    expect(events.find((e) => e.type === 'requeued')?.message).toMatch(/Evicted/);
    const result = await waitFor('drain result', async () => (await admin.get<{ result: { ok: boolean; detail: { evicted: string[] } } | null }>(`/api/v1/clusters/west/commands/${sent.body.commandId}`)).body.result, 30_000);
    expect(result.ok).toBe(true);
    expect(result.detail.evicted).toHaveLength(1);
    await waitFor('drained node unschedulable at the hub', async () => (await nodes('west')).find((n) => n.name === node)?.info.unschedulable === true, 30_000);
    const again = await until(id, 'Running');
    expect(again.placement!.map((t) => t.node)).not.toContain(node);
    expect((await kubeJobs(west, id)).map((j) => j.metadata?.labels?.['meridian.dev/attempt'])).not.toContain('1');
    expect((await admin.post(`/api/v1/jobs/${id}/cancel`)).status).toBe(202);
    await until(id, 'Cancelled');
    expect((await admin.post(`/api/v1/clusters/west/nodes/${node}/uncordon`, {})).status).toBe(202);
    await waitFor('uncordoned at the hub', async () => (await nodes('west')).find((n) => n.name === node)?.info.unschedulable === false, 30_000);
  });

  it('a killed agent with a job queued for it: the job runs on the other region; when the region returns nothing runs twice', async () => {
    const westAgent = agents.get('west')!;
    await westAgent.kill();
    const id = await submit(job('orphan', { project: 'hasty', run: '2s' }));
    const placed = await waitFor('placed on west while its agent is dead', async () => {
      const j = await get(id);
      return j.cluster ? j : null;
    }, 30_000);
    expect(placed.cluster).toBe('west');
    const done = await until(id, 'Succeeded', 90_000);
    expect(done).toMatchObject({ cluster: 'east', attempt: 2, exitCode: 0 });
    const clusters = (await admin.get<{ items: { id: string; status: string }[] }>('/api/v1/clusters')).body.items;
    expect(clusters.find((c) => c.id === 'west')?.status).toBe('lost');

    // The region comes back: the agent resumes from its journal and gets the stale dispatch and its cancel.
    const seen = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const p of await kubePods(west, id).catch(() => [])) seen.add(`${p.metadata?.name}:${p.status?.phase}`);
        for (const j of await kubeJobs(west, id).catch(() => [])) seen.add(`job:${j.metadata?.name}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await westAgent.start();
    await waitFor('west connected again', async () => (await admin.get<{ status: string; agentConnected: boolean }>('/api/v1/clusters/west')).body.agentConnected, 30_000);
    await waitFor('west has no backlog', async () => {
      const r = await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM agent_commands WHERE cluster_id = $1 AND acked_at IS NULL', ['west']);
      return r.rows[0]!.n === '0';
    }, 30_000);
    await new Promise((r) => setTimeout(r, 3000));
    watching = false;
    await watcher;
    expect([...seen].filter((s) => !s.startsWith('job:')), 'pods of the requeued job on the returned region').toEqual([]);
    expect(await kubeJobs(west, id)).toHaveLength(0);
    const after = await get(id);
    expect(after).toMatchObject({ state: 'Succeeded', cluster: 'east', attempt: 2 });
    expect(await kubeJobs(east, id)).toHaveLength(1);
    // And west takes new work again.
    const next = await submit(job('after-return', { clusters: ['west'], run: '1s' }));
    expect((await until(next, 'Succeeded')).cluster).toBe('west');
  });

  it("a region whose apiserver stops: its agent steps back, the job queued there runs on the other region; the region returns clean", async () => {
    const westAgent = agents.get('west')!;
    await west.stopComponent('kube-apiserver');
    await waitFor('west agent sees its apiserver gone', async () => (await fetch(`${westAgent.url}/healthz`)).status === 503, 30_000);
    const id = await submit(job('stranded', { project: 'hasty', run: '2s' }));
    const done = await until(id, 'Succeeded', 120_000);
    expect(done.cluster).toBe('east');
    const events = (await admin.get<{ items: { type: string; message: string }[] }>(`/api/v1/jobs/${id}/events`)).body.items;
    if (events.some((e) => e.type === 'placed' && /west/.test(e.message))) expect(events.some((e) => e.type === 'requeued')).toBe(true);
    await west.startComponent('kube-apiserver');
    await waitFor('west agent healthy again', async () => (await fetch(`${westAgent.url}/healthz`)).status === 200, 60_000);
    await waitFor('west connected again', async () => (await admin.get<{ agentConnected: boolean }>('/api/v1/clusters/west')).body.agentConnected, 60_000);
    await new Promise((r) => setTimeout(r, 3000));
    expect(await kubeJobs(west, id)).toHaveLength(0);
    expect(await get(id)).toMatchObject({ state: 'Succeeded', cluster: 'east' });
  });
});
