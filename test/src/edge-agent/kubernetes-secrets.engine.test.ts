// Job secrets on Kubernetes (a real control plane with KWOK nodes): the driver creates one Secret per attempt,
// owned by the attempt's Job, and the Job reads it with envFrom, so the values are in the Secret only, never
// in the Job or Pod spec, nor in any event for the hub; deleting the Job (cancel) takes the Secret with it.
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentEvent, DispatchCommand } from '@meridian/protocol/agent-protocol';
import { KubeCluster } from '../harness/kube/cluster.ts';
import { gpuPool } from '../harness/kube/nodes.ts';
import { KubernetesDriver } from '@meridian/edge-agent/kubernetes/driver';
import { jobName, secretName } from '@meridian/edge-agent/kubernetes/jobs';
import { A100, kubeDispatch } from './dispatch-command.ts';

const NS = 'meridian-jobs';

const dispatch = (jobId: string, o: Partial<DispatchCommand> = {}): DispatchCommand =>
  kubeDispatch(jobId, '60s', { command: ['sh', '-c', 'echo "$API_KEY"'], env: { FOO: 'bar' }, ...o });

describe('Kubernetes driver: job secrets', () => {
  let cluster: KubeCluster;
  let driver: KubernetesDriver;
  let core: k8s.CoreV1Api;
  let batch: k8s.BatchV1Api;
  const events: AgentEvent[] = [];
  const logs: string[] = [];

  const until = async <T>(what: string, fn: () => Promise<T | undefined | false | null>, ms = 60_000): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await fn().catch(() => undefined);
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  beforeAll(async () => {
    cluster = await KubeCluster.start({ name: 'secrets', nodes: gpuPool('a100', 1, 8, A100) });
    core = cluster.core();
    batch = cluster.kubeConfig().makeApiClient(k8s.BatchV1Api);
    const push = (o: object, m?: string) => void logs.push(`${m} ${JSON.stringify(o)}`);
    const log = { info: push, warn: push, debug: push, error: push };
    driver = new KubernetesDriver({ kubeConfig: cluster.kubeConfig(), namespace: NS, emit: (e) => events.push(e), deltaIntervalMs: 100, statusDebounceMs: 50, dispatchRetryMs: 60_000, log: log as never });
    await driver.start();
  });
  afterAll(async () => {
    await driver?.stop();
    await cluster?.stop();
  });

  it('puts the values in a Job-owned Secret read by envFrom, never in the Job or Pod spec', async () => {
    const value = `s3cr3t-${randomBytes(8).toString('hex')}`;
    const out = await driver.handle(dispatch('sec-1', { secrets: { API_KEY: value, DB_PASSWORD: `${value}-db` } }));
    expect(out).toMatchObject({ ok: true });
    const name = jobName('sec-1', 1);
    const job = await batch.readNamespacedJob({ name, namespace: NS });
    const container = job.spec!.template.spec!.containers[0]!;
    expect(container.envFrom).toEqual([{ secretRef: { name: secretName('sec-1', 1) } }]);
    expect(container.env!.map((e) => e.name)).toContain('FOO');
    expect(JSON.stringify(job)).not.toContain(value);

    const secret = await core.readNamespacedSecret({ name: secretName('sec-1', 1), namespace: NS });
    expect(Buffer.from(secret.data!.API_KEY!, 'base64').toString()).toBe(value);
    expect(Buffer.from(secret.data!.DB_PASSWORD!, 'base64').toString()).toBe(`${value}-db`);
    expect(secret.metadata!.ownerReferences).toEqual([expect.objectContaining({ apiVersion: 'batch/v1', kind: 'Job', name, uid: job.metadata!.uid, controller: true })]);

    const pods = await until('the Job\'s pod', async () => {
      const list = (await core.listNamespacedPod({ namespace: NS, labelSelector: `job-name=${name}` })).items;
      return list.length ? list : undefined;
    });
    expect(pods[0]!.spec!.containers[0]!.envFrom).toEqual([{ secretRef: { name: secretName('sec-1', 1) } }]);
    expect(JSON.stringify(pods)).not.toContain(value);

    // a resent dispatch adopts the Job and keeps the Secret's owner
    expect(await driver.handle(dispatch('sec-1', { secrets: { API_KEY: value, DB_PASSWORD: `${value}-db` } }))).toMatchObject({ ok: true, detail: { adopted: true } });
    const again = await core.readNamespacedSecret({ name: secretName('sec-1', 1), namespace: NS });
    expect(again.metadata!.ownerReferences?.[0]?.uid).toBe(job.metadata!.uid);

    // cancel deletes the Job; the garbage collector deletes the Secret it owns
    expect(await driver.handle({ kind: 'cancel', jobId: 'sec-1', graceSeconds: 0 } as never)).toMatchObject({ ok: true });
    await until('the Secret to be collected with its Job', async () => {
      try {
        await core.readNamespacedSecret({ name: secretName('sec-1', 1), namespace: NS });
        return false;
      } catch (err) {
        return (err as { code?: number }).code === 404;
      }
    });

    expect(JSON.stringify(events)).not.toContain(value);
    expect(logs.join('\n')).not.toContain(value);
  });

  it('a job without secrets gets no Secret and no envFrom', async () => {
    expect(await driver.handle(dispatch('plain-1'))).toMatchObject({ ok: true });
    const job = await batch.readNamespacedJob({ name: jobName('plain-1', 1), namespace: NS });
    expect(job.spec!.template.spec!.containers[0]!.envFrom).toBeUndefined();
    await expect(core.readNamespacedSecret({ name: secretName('plain-1', 1), namespace: NS })).rejects.toMatchObject({ code: 404 });
  });

  it('refuses a secret name that is not a variable name, naming it', async () => {
    const out = await driver.handle(dispatch('bad-1', { secrets: { 'not a name': 'x' } }));
    expect(out).toMatchObject({ ok: false });
    expect((out as { error: string }).error).toMatch(/secrets: "not a name" is not a variable name/);
  });
});
