// Placement enforced on Kubernetes, end to end (Postgres, Temporal, the hub, one KWOK region, the edge-agent
// process): pods are pinned to the nodes the hub reserved; a gang of 4 of which only 3 fit (a pod Meridian did not
// create took the room) shows "dispatched, waiting in <cluster>: <the pod's Unschedulable message>", is never
// Running, keeps its GPUs reserved, and past the withdraw timeout is rolled back (its pods deleted) and requeued.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BatchV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import { ADMIN_TOKEN, Api, FAST, waitFor } from '../hub/helpers.ts';
import { KubeCluster } from '../harness/kube/cluster.ts';
import { gpuPool } from '../harness/kube/nodes.ts';
import { PostgresEngine } from '../harness/postgres.ts';
import { RunDir } from '../harness/rundir.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { packagePath } from '../packages.ts';
import { KubeAgentProcess } from './kubernetes-agents.ts';

const A100 = 'NVIDIA-A100-SXM4-80GB';
const NS = 'meridian-jobs';
/** Short, so the test sees a withdrawal; long enough to watch the gang wait first. */
const WITHDRAW_MS = 45_000;

type Job = { id: string; state: string; cluster: string | null; attempt: number; reason: string | null; reasonCode: string | null; placement: { node: string }[] | null };

function job(name: string, o: { gpus: number; tasks: number; run?: string; milliGpu?: number; clusters?: string[] }): Record<string, unknown> {
  return {
    name,
    project: 'ml',
    tasks: o.tasks,
    resources: { gpus: o.gpus, cpu: 1, memory: '1Gi', ...(o.milliGpu ? { milliGpu: o.milliGpu } : {}) },
    workload: { image: 'busybox', command: ['true'] },
    ...(o.clusters ? { placement: { clusters: o.clusters } } : {}),
    annotations: { 'kwok.meridian.dev/run-duration': o.run ?? '2s' },
  };
}


describe('Kubernetes placement: pinning, dispatched-waiting, gang rollback', () => {
  let pgEngine: PostgresEngine;
  let temporal: TemporalEngine;
  let kube: KubeCluster;
  let hub: Hub;
  let admin: Api;
  let runDir: RunDir;
  let agent: KubeAgentProcess;

  const get = async (id: string): Promise<Job> => (await admin.get<Job>(`/api/v1/jobs/${id}`)).body;
  const pods = async (jobId: string, attempt?: number) =>
    (await kube.core().listNamespacedPod({ namespace: NS, labelSelector: `meridian.dev/job-id=${jobId}${attempt ? `,meridian.dev/attempt=${attempt}` : ''}` })).items;

  beforeAll(async () => {
    [pgEngine, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
    kube = await KubeCluster.start({ name: 'e2e-placement', nodes: gpuPool('a100', 2, 4, A100) });
    hub = await startHub({ databaseUrl: pgEngine.url, temporalAddress: temporal.address, ...FAST, dispatchWaitTimeoutMs: WITHDRAW_MS });
    admin = new Api(hub.url, ADMIN_TOKEN);
    expect((await admin.post('/api/v1/projects', { name: 'ml' })).status).toBe(201);
    runDir = RunDir.create('e2e-placement-agent');
    const r = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'east', region: 'east-region', kind: 'kubernetes', prices: { [A100]: { onDemand: 1 } } });
    expect(r.status).toBe(201);
    agent = new KubeAgentProcess({ hubUrl: hub.url, clusterId: 'east', credential: r.body.credential, kubeconfigPath: kube.kubeconfigPath, runDir });
    await agent.start();
    await waitFor('inventory at the hub', async () => (await admin.get<{ items: unknown[] }>('/api/v1/nodes?cluster=east')).body.items.length === 2, 60_000);
  });
  afterAll(async () => {
    await agent?.stop();
    await hub?.stop();
    await kube?.stop();
    await Promise.all([pgEngine?.stop(), temporal?.stop()]);
    runDir?.remove();
  });

  it('binds every pod to a node the hub reserved', async () => {
    const id = await admin.submitJob(job('pinned', { gpus: 3, tasks: 2 }));
    const done = await admin.untilJobState<Job>(id, 'Succeeded');
    const reserved = new Set(done.placement!.map((t) => t.node));
    expect(reserved.size).toBe(2); // 3 GPUs each on 4-GPU nodes: one task per node
    const ps = await pods(id);
    expect(ps).toHaveLength(2);
    for (const p of ps) {
      expect(reserved.has(p.spec!.nodeName!)).toBe(true);
      expect(p.metadata!.labels!['meridian.dev/reservation']).toBe(`mj-${id}-a1`);
      const terms = p.spec!.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms;
      expect(terms.flatMap((t) => t.matchFields!.flatMap((f) => f.values!)).sort()).toEqual([...reserved].sort());
    }
  });

  it('a gang of 4 where a foreign pod leaves room for 3: waiting with the Unschedulable message, never Running, withdrawn and requeued', async () => {
    // The kube-scheduler is stopped so the foreign pod lands between the hub's placement and the binding. The
    // gang's pods run for an hour: bound pods that finished would give the room back to the fourth.
    await kube.stopComponent('kube-scheduler');
    let schedulerUp = false;
    const id = await admin.submitJob(job('gang', { gpus: 2, tasks: 4, run: '1h' }));
    const states: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const j = await get(id);
        states.push(`${j.attempt}:${j.state}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    try {
      await waitFor('gang Job created on the cluster, its pods unbound', async () => (await pods(id, 1)).length === 4, 30_000).catch(async (err: Error) => {
        throw new Error(`${err.message}; the job at the hub: ${JSON.stringify(await get(id))}`);
      });
      const waiting = await get(id);
      expect(waiting).toMatchObject({ state: 'Dispatched', cluster: 'east', reasonCode: 'DispatchedWaiting' });
      expect(waiting.reason).toMatch(/^dispatched, waiting in east: /);
      // the room is there: the agent releases the gang's gate (all 4 pods at once), then the intruder comes
      await waitFor('the gang gate released', async () => (await pods(id, 1)).every((p) => !p.spec?.schedulingGates?.length), 30_000);

      // A pod Meridian did not create takes 2 of a100-1's 4 GPUs (bound by name: no scheduler needed).
      await kube.core().createNamespacedPod({
        namespace: 'default',
        body: {
          metadata: { name: 'intruder', annotations: { 'kwok.meridian.dev/run-duration': '1h' } },
          spec: { nodeName: 'a100-1', containers: [{ name: 'c', image: 'busybox', resources: { requests: { 'nvidia.com/gpu': '2' }, limits: { 'nvidia.com/gpu': '2' } } }] },
        },
      });
      await kube.startComponent('kube-scheduler');
      schedulerUp = true;

      const stuck = await waitFor(
        'the hub shows the member\'s Unschedulable message',
        async () => {
          const j = await get(id);
          return j.attempt === 1 && /3 of 4 tasks started; Unschedulable: 0\/2 nodes are available/.test(j.reason ?? '') ? j : null;
        },
        WITHDRAW_MS,
      );
      expect(stuck.state).toBe('Dispatched');
      expect(stuck.reason).toMatch(/Insufficient nvidia\.com\/gpu/);
      const bound = (await pods(id, 1)).filter((p) => p.spec?.nodeName);
      expect(bound).toHaveLength(3);

      // The CLI listing and the event history say the same.
      const env = { ...process.env, MERIDIAN_URL: hub.url, MERIDIAN_TOKEN: ADMIN_TOKEN, XDG_CONFIG_HOME: '/nonexistent' };
      const list = await promisify(execFile)(process.execPath, [packagePath('hub', 'bin/meridian.js'), 'job', 'list', '--state', 'Dispatched'], { env, timeout: 60_000 });
      expect(list.stdout).toMatch(new RegExp(`${id}\\s+gang.*Dispatched\\s+east\\s+1\\s+dispatched, waiting in east: 3 of 4 tasks started; Unschedulable: 0/2 nodes are available`));
      const why = (await admin.get<{ reasonCode: string; reason: string }>(`/api/v1/jobs/${id}/why`)).body;
      expect(why).toMatchObject({ reasonCode: 'DispatchedWaiting', reason: stuck.reason });

      // Its GPUs stay reserved: a 1-GPU job finds no room on the cluster while the gang waits.
      const small = await admin.submitJob(job('small', { gpus: 1, tasks: 1 }));
      await new Promise((r) => setTimeout(r, 2000));
      expect((await get(small)).state).toBe('Queued');

      // Past the timeout: withdrawn, its pods deleted on the cluster, queued again as attempt 2.
      const requeued = await waitFor('gang withdrawn and requeued', async () => {
        const j = await get(id);
        return j.attempt === 2 ? j : null;
      }, WITHDRAW_MS + 30_000);
      expect(requeued.state).not.toBe('Running');
      await waitFor('attempt 1 pods deleted', async () => (await pods(id, 1)).length === 0, 30_000);
      const events = (await admin.get<{ items: { type: string; message: string }[] }>(`/api/v1/jobs/${id}/events`)).body.items;
      expect(events.some((e) => e.type === 'waiting' && /^dispatched, waiting in east: 3 of 4 tasks started; Unschedulable/.test(e.message))).toBe(true);
      expect(events.find((e) => e.type === 'requeued')?.message).toMatch(/withdrawn after \d+s dispatched but not started \(waiting in east: 3 of 4 tasks started; Unschedulable/);

      // The room comes back: the requeued gang runs once all 4 tasks have started.
      await kube.core().deleteNamespacedPod({ name: 'intruder', namespace: 'default', gracePeriodSeconds: 0 });
      await admin.untilJobState<Job>(id, 'Running', { ms: 60_000 });
      expect((await pods(id, 2)).filter((p) => p.status?.phase === 'Running')).toHaveLength(4);
      expect((await admin.post(`/api/v1/jobs/${id}/cancel`, {})).status).toBe(202);
      await admin.untilJobState<Job>(id, 'Cancelled', { ms: 60_000 });
      await admin.untilJobState<Job>(small, 'Succeeded', { ms: 60_000 });
    } finally {
      watching = false;
      await watcher;
      if (!schedulerUp) await kube.startComponent('kube-scheduler');
    }
    // Attempt 1 was never Running at the hub.
    expect(states.filter((s) => s === '1:Running')).toEqual([]);
    expect(states).toContain('2:Running');
  });

  it('a pod that took the room before the gang\'s pods exist: the gang stays gated, not one pod bound, and is withdrawn', async () => {
    // The Job controller is stopped so the foreign pod lands after the hub's placement, before the gang's pods.
    await kube.stopComponent('kube-controller-manager');
    let controllerUp = false;
    try {
      const id = await admin.submitJob(job('gated', { gpus: 2, tasks: 4, run: '1h' }));
      const batch = kube.kubeConfig().makeApiClient(BatchV1Api);
      await waitFor('the gang Job created', async () => (await batch.listNamespacedJob({ namespace: NS, labelSelector: `meridian.dev/job-id=${id}` })).items.length === 1, 30_000);
      await kube.core().createNamespacedPod({
        namespace: 'default',
        body: {
          metadata: { name: 'early-bird', annotations: { 'kwok.meridian.dev/run-duration': '1h' } },
          spec: { nodeName: 'a100-1', containers: [{ name: 'c', image: 'busybox', resources: { requests: { 'nvidia.com/gpu': '2' }, limits: { 'nvidia.com/gpu': '2' } } }] },
        },
      });
      await waitFor('the foreign pod running', async () => (await kube.core().readNamespacedPod({ name: 'early-bird', namespace: 'default' })).status?.phase === 'Running', 30_000);
      await kube.startComponent('kube-controller-manager');
      controllerUp = true;

      const held = await waitFor('the hub shows the gang held at the gate', async () => {
        const j = await get(id);
        return j.attempt === 1 && /held at the gang gate/.test(j.reason ?? '') ? j : null;
      }, WITHDRAW_MS);
      expect(held.reason).toBe(
        'dispatched, waiting in east: 0 of 4 tasks started; held at the gang gate: room for 3 of 4 tasks on the reserved nodes (a100-0: 4 GPUs free, a100-1: 2 GPUs free; each task needs 2 GPUs)',
      );
      let bound = 0;
      const requeued = await waitFor('gang withdrawn and requeued', async () => {
        bound = Math.max(bound, (await pods(id, 1)).filter((p) => p.spec?.nodeName).length);
        const j = await get(id);
        return j.attempt === 2 ? j : null;
      }, WITHDRAW_MS + 30_000);
      expect(bound).toBe(0);
      expect(requeued.state).not.toBe('Running');
      await waitFor('attempt 1 pods deleted', async () => (await pods(id, 1)).length === 0, 30_000);
      await kube.core().deleteNamespacedPod({ name: 'early-bird', namespace: 'default', gracePeriodSeconds: 0 });
      await admin.untilJobState<Job>(id, 'Running', { ms: 60_000 });
      expect((await admin.post(`/api/v1/jobs/${id}/cancel`, {})).status).toBe(202);
      await admin.untilJobState<Job>(id, 'Cancelled', { ms: 60_000 });
    } finally {
      if (!controllerUp) await kube.startComponent('kube-controller-manager');
    }
  });

  it('GPU shares: refused with a reason where no member shares; on time-slicing two 500-milli jobs share a GPU, two 600-milli jobs do not', async () => {
    // east has whole GPUs only: a share waits, saying why.
    const refused = await admin.submitJob(job('share-east', { gpus: 0, milliGpu: 500, tasks: 1, clusters: ['east'] }));
    const why = await waitFor('a share with no sharing member waits with its reason', async () => {
      const j = await get(refused);
      return j.reasonCode === 'NoGpuShare' ? j : null;
    }, 30_000);
    expect(why).toMatchObject({ state: 'Queued', cluster: null });
    expect(why.reason).toMatch(/^no member can share a GPU: .*nvidia\.com\/gpu\.shared.*gres\/shard/);
    expect((await admin.post(`/api/v1/jobs/${refused}/cancel`, {})).status).toBe(202);

    // one GPU time-sliced into 10 replicas (nvidia.com/gpu.shared), as the NVIDIA device plugin advertises it
    const share = await KubeCluster.start({ name: 'e2e-share', nodes: [{ name: 'ts-0', gpuModel: A100, gpus: 0, timeSliced: { gpus: 1, replicas: 10 } }] });
    const shareAgent = new KubeAgentProcess({
      hubUrl: hub.url,
      clusterId: 'share',
      credential: (await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'share', region: 'share-region', kind: 'kubernetes', prices: { [A100]: { onDemand: 1 } } })).body.credential,
      kubeconfigPath: share.kubeconfigPath,
      runDir,
    });
    try {
      await shareAgent.start();
      type NodeRow = { name: string; info: { labels: Record<string, string>; capacity: { gpus: number }; gpus: { index: number; milliUsed: number }[] } };
      const shareNode = async () => (await admin.get<{ items: NodeRow[] }>('/api/v1/nodes?cluster=share')).body.items[0];
      const ts = await waitFor('the time-sliced node at the hub', shareNode, 60_000);
      expect(ts).toMatchObject({ name: 'ts-0', info: { labels: { 'meridian.dev/gpu-share': 'time-slicing' }, capacity: { gpus: 1 } } });

      const halves = [await admin.submitJob(job('half-a', { gpus: 0, milliGpu: 500, tasks: 1, run: '1h', clusters: ['share'] })), await admin.submitJob(job('half-b', { gpus: 0, milliGpu: 500, tasks: 1, run: '1h', clusters: ['share'] }))];
      for (const id of halves) await admin.untilJobState<Job>(id, 'Running', { ms: 60_000 });
      for (const id of halves) {
        const [p] = (await share.core().listNamespacedPod({ namespace: NS, labelSelector: `meridian.dev/job-id=${id}` })).items;
        expect(p!.spec!.nodeName).toBe('ts-0');
        const c = p!.spec!.containers[0]!;
        expect(c.resources!.limits).toMatchObject({ 'nvidia.com/gpu.shared': '5' });
        expect(Object.fromEntries(c.env!.map((e) => [e.name, e.value]))).toMatchObject({ NVIDIA_VISIBLE_DEVICES: '0', MERIDIAN_GPU_SHARE_MILLI: '500', CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: '50', MERIDIAN_GPU_MEMORY_FRACTION: '0.5' });
      }
      await waitFor('the member reports GPU 0 fully shared', async () => (await shareNode())?.info.gpus[0]?.milliUsed === 1000, 30_000);
      for (const id of halves) expect((await admin.post(`/api/v1/jobs/${id}/cancel`, {})).status).toBe(202);
      for (const id of halves) await admin.untilJobState<Job>(id, 'Cancelled', { ms: 60_000 });
      await waitFor('the share given back', async () => (await shareNode())?.info.gpus[0]?.milliUsed === 0, 30_000);

      const first = await admin.submitJob(job('six-a', { gpus: 0, milliGpu: 600, tasks: 1, run: '1h', clusters: ['share'] }));
      await admin.untilJobState<Job>(first, 'Running', { ms: 60_000 });
      const second = await admin.submitJob(job('six-b', { gpus: 0, milliGpu: 600, tasks: 1, run: '2s', clusters: ['share'] }));
      await new Promise((r) => setTimeout(r, 4000));
      const waiting = await get(second);
      expect(waiting.state).toBe('Queued');
      expect(waiting.reasonCode).not.toBe('NoGpuShare');
      expect((await share.core().listNamespacedPod({ namespace: NS, labelSelector: `meridian.dev/job-id=${second}` })).items).toHaveLength(0);
      expect((await admin.post(`/api/v1/jobs/${first}/cancel`, {})).status).toBe(202);
      await admin.untilJobState<Job>(second, 'Succeeded', { ms: 60_000 });
    } finally {
      await shareAgent.stop();
      await share.stop();
    }
  });
});
