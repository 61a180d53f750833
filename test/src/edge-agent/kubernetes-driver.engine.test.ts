// The Kubernetes driver against a real control plane with KWOK GPU nodes (no hub): inventory snapshot and
// deltas, dispatch → Job → pods → status, exit codes and plain reasons, adoption, cancel, drain with PDBs,
// and drift. One cluster for the whole file.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentEvent, DispatchCommand, JobStatusEvent, NodeInfo } from '@meridian/protocol/agent-protocol';
import { LABELS } from '@meridian/protocol/agent-protocol';
import { KubeCluster } from '../harness/kube/cluster.ts';
import { gpuPool } from '../harness/kube/nodes.ts';
import { KubernetesDriver } from '@meridian/edge-agent/kubernetes/driver';
import { jobName } from '@meridian/edge-agent/kubernetes/jobs';
import { A100, kubeDispatch } from './dispatch-command.ts';

const NS = 'meridian-jobs';
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

const dispatch = (jobId: string, o: Partial<DispatchCommand> = {}): DispatchCommand =>
  kubeDispatch(jobId, '1s', { command: ['sh', '-c', 'echo hi'], env: { FOO: 'bar' }, ...o });

describe('Kubernetes driver on a KWOK cluster', () => {
  let cluster: KubeCluster;
  let driver: KubernetesDriver;
  let core: k8s.CoreV1Api;
  let batch: k8s.BatchV1Api;
  const events: AgentEvent[] = [];

  const statuses = (jobId: string, attempt = 1): JobStatusEvent[] =>
    events.filter((e): e is JobStatusEvent => e.type === 'job.status' && e.jobId === jobId && e.attempt === attempt);
  const until = async <T>(what: string, fn: () => T | undefined | false | null, ms = 60_000): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = fn();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}; last events: ${JSON.stringify(events.slice(-5)).slice(0, 2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const phase = (jobId: string, p: JobStatusEvent['phase'], ms = 60_000, attempt = 1) =>
    until(`job ${jobId} ${p}`, () => statuses(jobId, attempt).find((s) => s.phase === p), ms);
  /** The latest NodeInfo the driver reported for a node (snapshot, then deltas). */
  const latest = (name: string, after = 0): NodeInfo | undefined => {
    let found: NodeInfo | undefined;
    for (const e of events.slice(after)) {
      if (e.type === 'inventory.snapshot') found = e.nodes.find((n) => n.name === name) ?? found;
      if (e.type === 'inventory.delta') found = e.upserts.find((n) => n.name === name) ?? found;
    }
    return found;
  };

  beforeAll(async () => {
    cluster = await KubeCluster.start({ name: 'drv', nodes: gpuPool('a100', 3, 8, A100) });
    core = cluster.core();
    batch = cluster.kubeConfig().makeApiClient(k8s.BatchV1Api);
    driver = new KubernetesDriver({ kubeConfig: cluster.kubeConfig(), namespace: NS, emit: (e) => events.push(e), deltaIntervalMs: 100, statusDebounceMs: 50, dispatchRetryMs: 60_000 });
    await driver.start();
  });
  afterAll(async () => {
    await driver?.stop();
    await cluster?.stop();
  });

  it('reports a full inventory snapshot first', () => {
    const snap = events.find((e) => e.type === 'inventory.snapshot');
    expect(snap).toBeDefined();
    if (snap?.type !== 'inventory.snapshot') return;
    expect(snap.nodes.map((n) => n.name)).toEqual(['a100-0', 'a100-1', 'a100-2']);
    const n = snap.nodes[0]!;
    expect(n).toMatchObject({ gpuModel: A100, ready: true, unschedulable: false, capacity: { gpus: 8, rdma: 1, cpuMilli: 64_000, memoryMiB: 512 * 1024 }, requested: { gpus: 0 } });
    expect(n.gpus).toHaveLength(8);
    expect(n.gpus.every((g) => g.healthy && g.milliUsed === 0)).toBe(true);
  });

  it('sends a delta when a node is cordoned by hand, and when a node joins', async () => {
    const mark = events.length;
    await core.patchNode({ name: 'a100-2', body: { spec: { unschedulable: true } } }, mergePatch);
    const cordoned = await until('cordon delta', () => {
      const n = latest('a100-2', mark);
      return n?.unschedulable ? n : undefined;
    }, 15_000);
    expect(cordoned.reason).toBe('cordoned');
    // A hand cordon is the cluster's truth, not drift.
    expect(events.slice(mark).some((e) => e.type === 'drift')).toBe(false);
    await core.patchNode({ name: 'a100-2', body: { spec: { unschedulable: null } } }, mergePatch);
    await until('uncordon delta', () => latest('a100-2', mark)?.unschedulable === false, 15_000);

    const mark2 = events.length;
    await cluster.addNodes([{ name: 'a100-new', gpus: 4, gpuModel: A100 }]);
    const added = await until('new node delta', () => latest('a100-new', mark2), 15_000);
    expect(added).toMatchObject({ gpuModel: A100, capacity: { gpus: 4 } });
    // Heartbeats alone (KWOK renews node conditions) produce no deltas for unchanged nodes (the new node may
    // still settle: the node lifecycle controller removes its not-ready taint).
    const deltasBefore = events.filter((e) => e.type === 'inventory.delta').length;
    await new Promise((r) => setTimeout(r, 1500));
    const noisy = events.filter((e) => e.type === 'inventory.delta').slice(deltasBefore);
    expect(noisy.flatMap((e) => (e.type === 'inventory.delta' ? e.upserts.map((u) => u.name) : [])).filter((n) => n !== 'a100-new')).toEqual([]);
  });

  it('dispatches an indexed gang Job whose pods succeed, with timings, nodes and requested GPUs', async () => {
    const mark = events.length;
    const out = await driver.handle(dispatch('101', { tasks: 2, perTask: { cpuMilli: 2000, memoryMiB: 4096, gpus: 4, rdma: 1 }, annotations: { 'kwok.meridian.dev/run-duration': '3s' } }));
    expect(out).toMatchObject({ ok: true, detail: { clusterJobId: `${NS}/${jobName('101', 1)}`, adopted: false } });
    const job = await batch.readNamespacedJob({ name: jobName('101', 1), namespace: NS });
    expect(job.spec).toMatchObject({ completionMode: 'Indexed', completions: 2, parallelism: 2, backoffLimit: 0, activeDeadlineSeconds: 600 });
    expect(job.metadata?.labels).toMatchObject({ [LABELS.jobId]: '101', [LABELS.attempt]: '1', [LABELS.project]: 'ml', [LABELS.managedBy]: 'meridian' });
    const pod = job.spec!.template.spec!;
    expect(pod.nodeSelector).toEqual({ 'nvidia.com/gpu.product': A100 });
    expect(pod.containers[0]!.resources!.limits).toMatchObject({ 'nvidia.com/gpu': '4', 'rdma/hca': '1' });
    expect(pod.containers[0]!.env!.map((e) => e.name)).toEqual(expect.arrayContaining(['MERIDIAN_JOB_ID', 'MERIDIAN_RANK', 'MERIDIAN_WORLD_SIZE', 'FOO']));
    expect(job.spec!.template.metadata!.annotations).toMatchObject({ 'kwok.meridian.dev/run-duration': '3s' });

    const running = await phase('101', 'Running');
    expect(running.clusterJobId).toBe(`${NS}/${jobName('101', 1)}`);
    // While it runs, the inventory shows the GPUs taken.
    await until('requested GPUs in a delta', () => {
      const used = ['a100-0', 'a100-1', 'a100-2', 'a100-new'].reduce((s, n) => s + (latest(n, mark)?.requested.gpus ?? 0), 0);
      return used === 8;
    }, 15_000);
    const done = await phase('101', 'Succeeded');
    expect(done.exitCode).toBe(0);
    expect(done.tasks.map((t) => t.index)).toEqual([0, 1]);
    for (const t of done.tasks) {
      expect(t.phase).toBe('Succeeded');
      expect(t.exitCode).toBe(0);
      expect(t.node).toMatch(/^a100-/);
    }
    expect(Date.parse(done.finishedAt!) - Date.parse(done.startedAt!)).toBeGreaterThanOrEqual(2000);
    // GPUs are free again afterwards.
    await until('GPUs released', () => ['a100-0', 'a100-1', 'a100-2', 'a100-new'].every((n) => (latest(n)?.requested.gpus ?? 0) === 0), 15_000);
  });

  it('runs a login-node sbatch array as an Indexed Job: %limit at once, SLURM_* env, output wrapper, shared dirs', async () => {
    const S = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [`slurm.meridian.dev/${k}`, v]));
    const cmd = dispatch('9001', {
      image: undefined,
      command: undefined,
      script: '#!/bin/bash\necho "task $SLURM_ARRAY_TASK_ID"\n',
      annotations: { 'kwok.meridian.dev/run-duration': '1s', ...S({ array: '1,3,5,7%2', jobName: 'sweep', workDir: '/scratch/ana', output: 'logs/%x-%A_%a.out', submitUser: 'ana' }) },
    });
    const r = await driver.handle(cmd);
    expect(r).toMatchObject({ ok: true });
    const job = await batch.readNamespacedJob({ name: jobName('9001', 1), namespace: NS });
    expect(job.spec).toMatchObject({ completionMode: 'Indexed', completions: 4, parallelism: 2, backoffLimitPerIndex: 0 });
    // %limit: never more than two pods at once while the array runs
    let most = 0;
    const done = await phase('9001', 'Succeeded');
    for (const s of statuses('9001')) most = Math.max(most, s.tasks.filter((t) => t.phase === 'Running').length);
    expect(most).toBeLessThanOrEqual(2);
    expect(done.tasks.map((t) => t.index).sort((a, b) => a - b)).toEqual([1, 3, 5, 7]); // array indices, not completion indices
    const pods = (await core.listNamespacedPod({ namespace: NS, labelSelector: `${LABELS.jobId}=9001` })).items;
    expect(pods.length).toBeGreaterThanOrEqual(4);
    const c = pods[0]!.spec!.containers[0]!;
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]));
    expect(env).toMatchObject({ SLURM_JOB_ID: '9001', SLURM_JOB_NAME: 'sweep', SLURM_ARRAY_JOB_ID: '9001', SLURM_ARRAY_TASK_COUNT: '4', SLURM_SUBMIT_DIR: '/scratch/ana', SLURMD_NODENAME: 'spec.nodeName' });
    expect(c.command?.[0]).toBe('/bin/sh');
    expect(c.command?.[2]).toContain('exec 1>"/scratch/ana/logs/sweep-9001_$${SLURM_ARRAY_TASK_ID}.out" 2>&1');
    expect(c.image).toBe('meridian.local/job-runner:0.1.0');
    expect(pods[0]!.spec!.volumes).toContainEqual({ name: 'slurm-dir-0', hostPath: { path: '/scratch/ana', type: 'DirectoryOrCreate' } });
  });

  it('adopts an existing Job instead of creating a duplicate', async () => {
    const again = await driver.handle(dispatch('101', { tasks: 2, perTask: { cpuMilli: 2000, memoryMiB: 4096, gpus: 4, rdma: 1 } }));
    expect(again).toMatchObject({ ok: true, detail: { adopted: true } });
    const jobs = await batch.listNamespacedJob({ namespace: NS, labelSelector: `${LABELS.jobId}=101` });
    expect(jobs.items).toHaveLength(1);
    const pods = await core.listNamespacedPod({ namespace: NS, labelSelector: `${LABELS.jobId}=101` });
    expect(pods.items).toHaveLength(2);
  });

  it('reports exit code 3 as Failed with that code, and OOMKilled plainly', async () => {
    await driver.handle(dispatch('102', { annotations: { 'kwok.meridian.dev/run-duration': '1s', 'kwok.meridian.dev/exit-code': '3' } }));
    await driver.handle(dispatch('103', { annotations: { 'kwok.meridian.dev/run-duration': '1s', 'kwok.meridian.dev/exit-code': '137', 'kwok.meridian.dev/reason': 'OOMKilled' } }));
    const failed = await phase('102', 'Failed');
    expect(failed.exitCode).toBe(3);
    expect(failed.reason).toBe('Error: exit code 3');
    expect(failed.tasks[0]).toMatchObject({ phase: 'Failed', exitCode: 3 });
    const oom = await phase('103', 'Failed');
    expect(oom).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
  });

  it('says Unschedulable when no node fits, and DeadlineExceeded past maxRuntime', async () => {
    await driver.handle(dispatch('104', { perTask: { cpuMilli: 1000, memoryMiB: 1024, gpus: 9, rdma: 0 } }));
    await driver.handle(dispatch('105', { maxRuntimeSec: 2, annotations: { 'kwok.meridian.dev/run-duration': '10m' } }));
    const pending = await until('104 Unschedulable', () => statuses('104').find((s) => s.phase === 'Pending' && s.reason === 'Unschedulable'));
    expect(pending.message).toMatch(/Insufficient nvidia.com\/gpu/);
    const late = await phase('105', 'Failed', 60_000);
    expect(late.reason).toBe('DeadlineExceeded');
    await driver.handle({ kind: 'cancel', jobId: '104', attempt: 1, graceSeconds: 0, reason: 'test over' });
  });

  it('cancels: deletes the Job and its pods and reports Cancelled', async () => {
    await driver.handle(dispatch('106', { tasks: 2, annotations: { 'kwok.meridian.dev/run-duration': '10m' } }));
    await phase('106', 'Running');
    const out = await driver.handle({ kind: 'cancel', jobId: '106', attempt: 1, graceSeconds: 0, reason: 'cancelled by user' });
    expect(out).toMatchObject({ ok: true, detail: { deleted: [jobName('106', 1)] } });
    const c = await phase('106', 'Cancelled', 30_000);
    expect(c.reason).toBe('cancelled by user');
    await cluster.waitFor('pods of 106 gone', async () => (await core.listNamespacedPod({ namespace: NS, labelSelector: `${LABELS.jobId}=106` })).items.length === 0, 30_000);
    // A dispatch that arrives after its cancel (a replayed outbox) does not resurrect it ... unless it is a new attempt.
    expect((await batch.listNamespacedJob({ namespace: NS, labelSelector: `${LABELS.jobId}=106` })).items).toHaveLength(0);
  });

  it('a dispatch followed at once by its cancel (a replayed outbox) never starts a pod', async () => {
    await driver.handle(dispatch('108', { annotations: { 'kwok.meridian.dev/run-duration': '10m' } }));
    await driver.handle({ kind: 'cancel', jobId: '108', attempt: 1, graceSeconds: 0, reason: 'requeued: cluster lost' });
    await phase('108', 'Cancelled', 30_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(statuses('108').map((s) => s.phase)).not.toContain('Running');
    expect((await core.listNamespacedPod({ namespace: NS, labelSelector: `${LABELS.jobId}=108` })).items).toHaveLength(0);
    expect((await batch.listNamespacedJob({ namespace: NS, labelSelector: `${LABELS.jobId}=108` })).items).toHaveLength(0);
  });

  it('drains a node through the Eviction API: the job pod is evicted (reported Evicted), a PDB-protected pod holds until the timeout', async () => {
    await driver.handle(dispatch('107', { perTask: { cpuMilli: 1000, memoryMiB: 1024, gpus: 8, rdma: 0 }, annotations: { 'kwok.meridian.dev/run-duration': '10m' } }));
    const running = await phase('107', 'Running');
    const node = running.tasks[0]!.node!;
    const out = await driver.handle({ kind: 'node', node, op: 'drain', reason: 'GPU XID 79', timeoutSeconds: 20 });
    expect(out).toMatchObject({ ok: true });
    expect((out as { detail: { evicted: string[] } }).detail.evicted).toEqual([expect.stringMatching(new RegExp(`^${NS}/${jobName('107', 1)}-`))]);
    const ev = await phase('107', 'Failed', 30_000);
    expect(ev.reason).toMatch(/^Evicted/);
    const n = await core.readNode({ name: node });
    expect(n.spec?.unschedulable).toBe(true);
    await until('drained node unschedulable in inventory', () => latest(node)?.reason?.includes('cordoned by the hub'), 15_000);

    // A pod guarded by a PodDisruptionBudget (minAvailable 1) on another node is not evicted.
    const other = ['a100-0', 'a100-1', 'a100-2'].find((x) => x !== node)!;
    await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'guarded', labels: { app: 'guarded' } }, spec: { nodeName: other, containers: [{ name: 'c', image: 'busybox' }] } } });
    await cluster.waitFor('guarded running', async () => (await core.readNamespacedPod({ name: 'guarded', namespace: 'default' })).status?.phase === 'Running', 30_000);
    const policy = cluster.kubeConfig().makeApiClient(k8s.PolicyV1Api);
    await policy.createNamespacedPodDisruptionBudget({ namespace: 'default', body: { metadata: { name: 'guarded' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'guarded' } } } } });
    await cluster.waitFor('PDB observed', async () => (await policy.readNamespacedPodDisruptionBudget({ name: 'guarded', namespace: 'default' })).status?.observedGeneration === 1, 30_000);
    const held = await driver.handle({ kind: 'node', node: other, op: 'drain', reason: 'maintenance', timeoutSeconds: 3 });
    expect(held).toMatchObject({ ok: false });
    expect((held as { error: string }).error).toMatch(/default\/guarded \(blocked by a PodDisruptionBudget\)/);
    expect((await core.readNamespacedPod({ name: 'guarded', namespace: 'default' })).metadata?.deletionTimestamp).toBeUndefined();
    for (const x of [node, other]) expect(await driver.handle({ kind: 'node', node: x, op: 'uncordon', reason: '', timeoutSeconds: 120 })).toMatchObject({ ok: true });
  });

  it('reports a hand-undone hub cordon as drift; taints and labels round-trip', async () => {
    expect(await driver.handle({ kind: 'node', node: 'a100-1', op: 'cordon', reason: 'flaky GPU', timeoutSeconds: 120 })).toMatchObject({ ok: true });
    await until('hub cordon in inventory', () => latest('a100-1')?.reason === 'cordoned by the hub: flaky GPU', 15_000);
    const mark = events.length;
    await core.patchNode({ name: 'a100-1', body: { spec: { unschedulable: false } } }, mergePatch); // kubectl uncordon
    const drift = await until('drift event', () => events.slice(mark).find((e) => e.type === 'drift'), 15_000);
    expect(drift).toMatchObject({ type: 'drift', node: 'a100-1', field: 'unschedulable', desired: true, observed: false, action: 'reported' });
    // Reported, not fought: the node stays uncordoned and the inventory says so.
    await until('uncordoned in inventory', () => latest('a100-1', mark)?.unschedulable === false, 15_000);
    expect((await core.readNode({ name: 'a100-1' })).spec?.unschedulable).toBeFalsy();

    expect(await driver.handle({ kind: 'node', node: 'a100-1', op: 'taint', reason: '', taint: { key: 'meridian.dev/maintenance', value: 'yes', effect: 'NoSchedule' }, timeoutSeconds: 120 })).toMatchObject({ ok: true });
    await until('tainted node unschedulable in inventory', () => latest('a100-1')?.reason === 'taint meridian.dev/maintenance=yes:NoSchedule', 15_000);
    expect(await driver.handle({ kind: 'node', node: 'a100-1', op: 'untaint', reason: '', taint: { key: 'meridian.dev/maintenance', effect: 'NoSchedule' }, timeoutSeconds: 120 })).toMatchObject({ ok: true });
    expect(await driver.handle({ kind: 'node', node: 'a100-1', op: 'label', reason: '', labels: { 'meridian.dev/pool': 'train' }, timeoutSeconds: 120 })).toMatchObject({ ok: true });
    await until('label in inventory', () => latest('a100-1')?.labels['meridian.dev/pool'] === 'train' && latest('a100-1')?.unschedulable === false, 15_000);
    const missing = await driver.handle({ kind: 'node', node: 'nope', op: 'cordon', reason: '', timeoutSeconds: 120 });
    expect(missing).toMatchObject({ ok: false, error: 'node nope does not exist in this cluster' });
  });

  it('survives losing the apiserver: informers resume, a dispatch sent meanwhile lands once it is back', async () => {
    await cluster.stopComponent('kube-apiserver');
    await until('driver notices the apiserver is gone', () => driver.apiDownMs > 0, 60_000);
    const pending = driver.handle(dispatch('109', { annotations: { 'kwok.meridian.dev/run-duration': '1s' } }));
    await new Promise((r) => setTimeout(r, 1000));
    await cluster.startComponent('kube-apiserver');
    expect(await pending).toMatchObject({ ok: true });
    await until('driver sees the apiserver again', () => driver.apiDownMs === 0, 60_000);
    await phase('109', 'Succeeded', 60_000);
    const mark = events.length;
    await core.patchNode({ name: 'a100-0', body: { spec: { unschedulable: true } } }, mergePatch);
    await until('delta after the outage', () => latest('a100-0', mark)?.unschedulable === true, 30_000);
    await core.patchNode({ name: 'a100-0', body: { spec: { unschedulable: null } } }, mergePatch);
  });
});
