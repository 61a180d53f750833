// GPU-fault self-healing end to end, everything real: Postgres, Temporal, the hub (receiver, health rules,
// remediation workflow and its activities), a KWOK Kubernetes cluster with its edge agent, and one
// `edge-agent --kind collector` process per node over the fake NVML. Proves: XID 79 on the node running a job
// → the node is cordoned in the apiserver → the job is requeued and succeeds on another node → the node stays
// out while its GPU is lost, and returns once the GPU reports healthy; XID 13 only informs the job; a flood of
// XID 79 trips the circuit breaker with no more than the set share of the cluster cordoned, and an operator
// can return a quarantined node by hand; a refused node is retried once the breaker has room again.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAddonIfStale, buildFakeNvml } from '@meridian/native/fixtures';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import { DEFAULT_REMEDIATION, remediationWorkflowId } from '@meridian/hub/telemetry/remediation-policy';
import { workflowBundle } from '@meridian/hub/temporal/worker';
import { ADMIN_TOKEN, Api, FAST, waitFor } from '../hub/helpers.ts';
import { KubeCluster } from '../harness/kube/cluster.ts';
import { gpuPool } from '../harness/kube/nodes.ts';
import { PostgresEngine } from '../harness/postgres.ts';
import { RunDir } from '../harness/rundir.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { CollectorProcess } from './collector-process.ts';
import { KubeAgentProcess } from './kubernetes-agents.ts';
import { packagePath } from '../packages.ts';

const A100 = 'NVIDIA-A100-SXM4-80GB';
const NS = 'meridian-jobs';
const NODES = ['a100-0', 'a100-1', 'a100-2', 'a100-3'];
/** at most half the cluster quarantined; a third request within the window trips the breaker */
const BREAKER = { maxQuarantinedShare: 0.5, minAllowed: 1, maxQuarantinesPerWindow: 3, windowMs: 600_000 };

type Job = { id: string; state: string; attempt: number; reason: string | null };
type Event = { id: string; type: string; message: string; attempt: number | null };
type Breaker = { totalNodes: number; quarantined: string[]; recentQuarantines: number[]; trippedAt: number | null };

function job(name: string, run: string): Record<string, unknown> {
  return {
    name,
    project: 'ml',
    resources: { gpus: 1, cpu: 1, memory: '2Gi' },
    workload: { image: 'busybox', command: ['sh', '-c', 'train'] },
    checkpoint: { signal: 'SIGUSR1', graceSeconds: 1 },
    annotations: { 'kwok.meridian.dev/run-duration': run },
  };
}

describe('GPU-fault self-healing end to end (collectors + hub + Temporal + KWOK)', () => {
  let pgEngine: PostgresEngine;
  let temporal: TemporalEngine;
  let kube: KubeCluster;
  let hub: Hub;
  let admin: Api;
  let runDir: RunDir;
  let agent: KubeAgentProcess;
  const collectors = new Map<string, CollectorProcess>();

  const get = async (id: string): Promise<Job> => (await admin.get<Job>(`/api/v1/jobs/${id}`)).body;
  const jobEvents = async (id: string): Promise<Event[]> => (await admin.get<{ items: Event[] }>(`/api/v1/jobs/${id}/events?limit=1000`)).body.items;
  const nodeEvents = async (node: string): Promise<Event[]> => (await admin.get<{ items: Event[] }>(`/api/v1/clusters/east/nodes/${node}/events?limit=1000`)).body.items;
  const cordoned = async (node: string): Promise<boolean> => (await kube.core().readNode({ name: node })).spec?.unschedulable === true;
  const breaker = async (): Promise<Breaker> => (await admin.get<Breaker>('/api/v1/clusters/east/remediation/breaker')).body;
  const podNode = async (jobId: string, attempt: number): Promise<string | undefined> => {
    const pods = await kube.core().listNamespacedPod({ namespace: NS, labelSelector: `meridian.dev/job-id=${jobId},meridian.dev/attempt=${attempt}` });
    return pods.items[0]?.spec?.nodeName;
  };
  const submit = (spec: Record<string, unknown>): Promise<string> => admin.submitJob(spec);
  const running = async (id: string): Promise<string> =>
    waitFor(`job ${id} running on a node`, async () => ((await get(id)).state === 'Running' ? podNode(id, (await get(id)).attempt) : undefined), 90_000, 200);
  const healAll = async () => {
    for (const c of collectors.values()) c.heal();
    await waitFor('every node back in service', async () => (await Promise.all(NODES.map(cordoned))).every((x) => !x), 60_000, 250);
  };

  /** Watches the attempt's pod: the checkpoint annotation on the live pod, and when its deletion began (ms). */
  const watchCheckpoint = async (jobId: string, attempt: number) => {
    const seen: { name?: string; annotation?: string; annotatedAt?: number; deletingAt?: number; stop: () => void } = { stop: () => {} };
    const ac = await new k8s.Watch(kube.kubeConfig()).watch(
      `/api/v1/namespaces/${NS}/pods`,
      { labelSelector: `meridian.dev/job-id=${jobId},meridian.dev/attempt=${attempt}` },
      (phase: string, pod: k8s.V1Pod) => {
        const deleting = phase === 'DELETED' || Boolean(pod.metadata?.deletionTimestamp);
        const a = pod.metadata?.annotations?.['meridian.dev/checkpoint-requested'];
        if (a && !deleting && seen.annotatedAt === undefined) Object.assign(seen, { name: pod.metadata?.name, annotation: a, annotatedAt: Date.now() });
        if (deleting) seen.deletingAt ??= Date.now();
      },
      () => {},
    );
    seen.stop = () => ac.abort();
    return seen;
  };

  /** Replays a finished remediation against the current workflow code; RECORD_HISTORIES=1 saves it for replay.test.ts. */
  const replayAndRecord = async (workflowId: string, name: string): Promise<void> => {
    const conn = await Connection.connect({ address: temporal.address });
    const history = await new Client({ connection: conn }).workflow.getHandle(workflowId).fetchHistory();
    await conn.close();
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, workflowId);
    if (process.env.RECORD_HISTORIES) {
      const dir = packagePath('hub', 'src/temporal/histories/');
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${dir}${name}.json`, JSON.stringify(proto.api.history.v1.History.toObject(proto.api.history.v1.History.fromObject(history), { longs: String, bytes: String, enums: String })));
    }
  };

  beforeAll(async () => {
    await buildAddonIfStale();
    await buildFakeNvml();
    [pgEngine, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
    kube = await KubeCluster.start({ name: 'heal-east', nodes: gpuPool('a100', NODES.length, 8, A100) });
    hub = await startHub({
      databaseUrl: pgEngine.url,
      temporalAddress: temporal.address,
      ...FAST,
      remediation: { ...DEFAULT_REMEDIATION, breaker: BREAKER, healthPollMs: 500, healthyPolls: 2, retryRefusedMs: 1000 },
    });
    admin = new Api(hub.url, ADMIN_TOKEN);
    expect((await admin.post('/api/v1/projects', { name: 'ml' })).status).toBe(201);
    const r = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'east', region: 'east', kind: 'kubernetes', prices: { [A100]: { onDemand: 1 } } });
    expect(r.status).toBe(201);
    runDir = RunDir.create('e2e-self-healing');
    agent = new KubeAgentProcess({ hubUrl: hub.url, clusterId: 'east', credential: r.body.credential, kubeconfigPath: kube.kubeconfigPath, runDir });
    for (const node of NODES) collectors.set(node, new CollectorProcess({ hubUrl: hub.url, clusterId: 'east', credential: r.body.credential, node, runDir }));
    await Promise.all([agent.start(), ...[...collectors.values()].map((c) => c.start())]);
    await waitFor('inventory at the hub', async () => (await admin.get<{ items: unknown[] }>('/api/v1/nodes?cluster=east')).body.items.length === NODES.length, 60_000);
    await waitFor('GPU telemetry of every node', async () => {
      const gpus = (await admin.get<{ items: { hostname: string }[] }>('/api/v1/telemetry/gpus?cluster=east')).body.items ?? [];
      return NODES.every((n) => gpus.filter((g) => g.hostname === n).length === 2);
    }, 60_000, 250);
  }, 300_000);

  afterAll(async () => {
    for (const c of collectors.values()) await c.stop();
    await agent?.stop();
    await hub?.stop();
    await kube?.stop();
    await Promise.all([pgEngine?.stop(), temporal?.stop()]);
    runDir?.remove();
  });

  it('XID 79 on the node running a job: cordoned, checkpoint requested on the pod, job requeued and succeeds elsewhere, node returns once the GPU is healthy', async () => {
    const id = await submit(job('long-train', '12s'));
    const x = await running(id);
    const c = collectors.get(x)!;
    const seen = await watchCheckpoint(id, 1);
    await c.xid(0, 79, { lost: true });

    await waitFor(`${x} cordoned in the apiserver`, () => cordoned(x), 30_000, 200);
    const node = await kube.core().readNode({ name: x });
    expect(node.metadata?.annotations?.['meridian.dev/hub-cordon']).toMatch(/XID 79/);

    const moved = await waitFor('job requeued as attempt 2', async () => ((await get(id)).attempt >= 2 ? get(id) : null), 30_000, 200);
    expect(moved.attempt).toBe(2);

    // the checkpoint request reached the pod of attempt 1 while it still ran, before its deletion began
    const pod = await waitFor('attempt 1 pod deleted', async () => (seen.deletingAt ? seen : null), 30_000, 100);
    seen.stop();
    expect(pod.annotation).toMatch(/^SIGUSR1@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(pod.annotatedAt!).toBeLessThanOrEqual(pod.deletingAt!);
    const kev = (await kube.core().listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${pod.name}` })).items.find((e) => e.reason === 'CheckpointRequested');
    expect(kev?.message).toMatch(/^Meridian requests a checkpoint \(SIGUSR1\): node .* is being quarantined/);
    expect(new Date(kev!.firstTimestamp!).getTime()).toBeLessThanOrEqual(pod.deletingAt!);
    const y = await waitFor('attempt 2 running', () => podNode(id, 2), 60_000, 200);
    expect(y).not.toBe(x);
    await waitFor(`job ${id} Succeeded`, async () => (await get(id)).state === 'Succeeded', 60_000, 250);

    const je = await jobEvents(id);
    const types = je.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['gpu-fault', 'checkpoint', 'requeued']));
    expect(je.find((e) => e.type === 'checkpoint')!.message).toMatch(/^checkpoint requested \(SIGUSR1, pod annotation meridian.dev\/checkpoint-requested/);
    expect(je.find((e) => e.type === 'gpu-fault')!.message).toMatch(new RegExp(`node ${x} \\(east\\) quarantined.*XID 79`));
    expect(je.find((e) => e.type === 'requeued')!.message).toMatch(/GPU fault on/);

    // the GPU is still lost: the node stays out of service
    await waitFor('remediation waiting for health', async () => (await nodeEvents(x)).some((e) => e.type === 'remediation.wait_healthy'), 30_000, 250);
    await new Promise((r) => setTimeout(r, 3000));
    expect(await cordoned(x)).toBe(true);

    c.heal();
    await waitFor(`${x} uncordoned`, async () => !(await cordoned(x)), 60_000, 250);
    // the uncordon shows in the apiserver a moment before the workflow records it
    const events = await waitFor('return_to_service event', async () => {
      const e = await nodeEvents(x);
      return e.some((v) => v.type === 'remediation.return_to_service') ? e : null;
    }, 15_000, 200);
    const steps = events.filter((e) => e.type.startsWith('remediation.')).map((e) => e.type);
    expect(steps).toEqual([
      'remediation.quarantine',
      'remediation.checkpoint_jobs',
      'remediation.requeue_jobs',
      'remediation.reboot_node',
      'remediation.wait_healthy',
      'remediation.return_to_service',
    ]);
    expect((await breaker()).quarantined).toEqual([]);
    await waitFor('remediation workflow completed', async () => (await admin.get<{ remediation: { status: string } }>(`/api/v1/clusters/east/nodes/${x}/remediation`)).body.remediation.status === 'COMPLETED', 15_000, 200);
    await replayAndRecord(remediationWorkflowId('east', x), 'gpu-remediation-returned');
  }, 180_000);

  it('XID 13 only informs the job: an event on the job, no cordon', async () => {
    const id = await submit(job('app-fault', '6s'));
    const x = await running(id);
    await collectors.get(x)!.xid(1, 13);
    const ev = await waitFor('gpu-fault event on the job', async () => (await jobEvents(id)).find((e) => e.type === 'gpu-fault'), 30_000, 250);
    expect(ev.message).toMatch(new RegExp(`GPU GPU-${x}-1 on node ${x} \\(east\\) reported XID 13 .*the GPU stays in service`));
    await new Promise((r) => setTimeout(r, 2000));
    expect(await cordoned(x)).toBe(false);
    expect((await nodeEvents(x)).filter((e) => e.type === 'remediation.quarantine').length).toBe(
      (await nodeEvents(x)).filter((e) => e.type === 'remediation.return_to_service').length,
    );
    expect((await get(id)).attempt).toBe(1);
    await waitFor(`job ${id} Succeeded`, async () => (await get(id)).state === 'Succeeded', 60_000, 250);
  }, 120_000);

  it('a flood of XID 79 on every node trips the circuit breaker: at most half the cluster cordoned, an event says so', async () => {
    expect((await admin.post<Breaker>('/api/v1/clusters/east/remediation/breaker/reset')).status).toBe(200);
    await Promise.all([...collectors.values()].map((c) => c.xid(0, 79, { lost: true })));

    const refusals = await waitFor('refusals for the nodes past the share', async () => {
      const all = (await Promise.all(NODES.map(nodeEvents))).flat().filter((e) => e.type === 'remediation.quarantine_refused');
      return all.length >= 2 ? all : null;
    }, 60_000, 250);
    expect(refusals.some((e) => /circuit breaker tripped/.test(e.message))).toBe(true);
    expect(refusals.some((e) => /already quarantined \(limit 2, 50 %\)/.test(e.message))).toBe(true);
    await waitFor('two nodes cordoned', async () => (await Promise.all(NODES.map(cordoned))).filter(Boolean).length === 2, 30_000, 250);
    // and it holds: nothing more is cordoned while the faults persist
    await new Promise((r) => setTimeout(r, 3000));
    expect((await Promise.all(NODES.map(cordoned))).filter(Boolean)).toHaveLength(2);
    const b = await breaker();
    expect(b.quarantined).toHaveLength(2);
    expect(b.trippedAt).not.toBeNull();

    // an operator returns one quarantined node by hand while its GPU still reports lost
    const isOut = await Promise.all(NODES.map(cordoned));
    const held = NODES.find((_, i) => isOut[i])!;
    const free = NODES.find((_, i) => !isOut[i])!;
    const bad = await admin.post<{ details: { path: string; message: string }[] }>(`/api/v1/clusters/east/nodes/${held}/remediation`, { decision: 'maybe' });
    expect(bad.status).toBe(400);
    expect(bad.body.details[0]).toMatchObject({ path: 'decision', message: expect.stringMatching(/'release'.*'keep_out'/) });
    expect((await admin.post(`/api/v1/clusters/east/nodes/${free}/remediation`, { decision: 'release' })).status).toBe(404);
    expect((await admin.post(`/api/v1/clusters/east/nodes/${held}/remediation`, { decision: 'release', note: 'checked by hand' })).status).toBe(202);
    await waitFor(`${held} released by the operator`, async () => !(await cordoned(held)), 30_000, 250);
    await waitFor('operator event', async () => (await nodeEvents(held)).some((e) => e.type === 'remediation.operator' && /release \(checked by hand\)/.test(e.message)), 15_000, 200);

    // once an operator closes the breaker, a refused node that still faults gets the free slot
    const refused = NODES.filter((n) => n !== held && !isOut[NODES.indexOf(n)]);
    expect((await admin.post<Breaker>('/api/v1/clusters/east/remediation/breaker/reset')).status).toBe(200);
    const retried = await waitFor('a refused node retried', async () => {
      for (const n of refused) if ((await nodeEvents(n)).some((e) => e.type === 'remediation-retry')) return n;
      return null;
    }, 30_000, 250);
    await waitFor(`${retried} cordoned`, () => cordoned(retried), 30_000, 250);
    expect((await Promise.all(NODES.map(cordoned))).filter(Boolean)).toHaveLength(2);

    await healAll();
    await waitFor('breaker slots released', async () => (await breaker()).quarantined.length === 0, 15_000, 200);
  }, 150_000);
});
