// The `signal` command through the Kubernetes driver on a KWOK cluster: the live pods of the attempt get the
// checkpoint annotation and an Event, the job keeps running; an attempt without a running pod is refused.
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentEvent, DispatchCommand } from '@meridian/protocol/agent-protocol';
import { KubeCluster } from '../harness/kube/cluster.ts';
import { gpuPool } from '../harness/kube/nodes.ts';
import { CHECKPOINT_ANNOTATION } from '@meridian/edge-agent/kubernetes/checkpoint-signal';
import { jobSelector } from '@meridian/edge-agent/kubernetes/cancel';
import { KubernetesDriver } from '@meridian/edge-agent/kubernetes/driver';
import { A100, kubeDispatch } from './dispatch-command.ts';

const NS = 'meridian-jobs';

const dispatch = (jobId: string, tasks: number): DispatchCommand =>
  kubeDispatch(jobId, '120s', { tasks, command: ['sh', '-c', 'train'], checkpointSignal: 'SIGUSR1' });

describe('Kubernetes checkpoint request (signal command) on KWOK', () => {
  let cluster: KubeCluster;
  let driver: KubernetesDriver;
  let core: k8s.CoreV1Api;
  const events: AgentEvent[] = [];

  beforeAll(async () => {
    cluster = await KubeCluster.start({ name: 'ckpt', nodes: gpuPool('a100', 2, 8, A100) });
    core = cluster.core();
    driver = new KubernetesDriver({ kubeConfig: cluster.kubeConfig(), namespace: NS, emit: (e) => events.push(e), holdMs: 0 });
    await driver.start();
  });
  afterAll(async () => {
    await driver?.stop();
    await cluster?.stop();
  });

  const pods = async (jobId: string) => (await core.listNamespacedPod({ namespace: NS, labelSelector: jobSelector(jobId, 1) })).items;

  it('annotates every running pod of the attempt and records an Event on each; the pods keep running', async () => {
    expect(await driver.handle(dispatch('ck1', 2))).toMatchObject({ ok: true });
    const deadline = Date.now() + 60_000;
    while ((await pods('ck1')).filter((p) => p.status?.phase === 'Running').length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const before = Date.now();
    const r = await driver.handle({ kind: 'signal', jobId: 'ck1', attempt: 1, signal: 'SIGUSR1', reason: 'node a100-0 is being quarantined' });
    expect(r).toMatchObject({ ok: true, detail: { delivery: 'annotation' } });
    const now = await pods('ck1');
    expect(now).toHaveLength(2);
    for (const p of now) {
      expect(p.status?.phase).toBe('Running');
      expect(p.metadata?.deletionTimestamp).toBeUndefined();
      const v = p.metadata!.annotations![CHECKPOINT_ANNOTATION]!;
      expect(v).toMatch(/^SIGUSR1@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(Date.parse(v.split('@')[1]!)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      const ev = (await core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${p.metadata!.name}` })).items.filter((e) => e.reason === 'CheckpointRequested');
      expect(ev).toHaveLength(1);
      expect(ev[0]).toMatchObject({ type: 'Warning', message: 'Meridian requests a checkpoint (SIGUSR1): node a100-0 is being quarantined', involvedObject: { kind: 'Pod', uid: p.metadata!.uid } });
    }
    await driver.handle({ kind: 'cancel', jobId: 'ck1', attempt: 1, graceSeconds: 0, reason: 'done' });
  });

  it('refuses an attempt that has no running pod, naming the job and namespace', async () => {
    expect(await driver.handle({ kind: 'signal', jobId: 'nope', attempt: 3, signal: 'SIGUSR2', reason: '' })).toEqual({
      ok: false,
      error: `signal: job nope attempt 3 has no running pod in namespace ${NS}`,
    });
  });
});
