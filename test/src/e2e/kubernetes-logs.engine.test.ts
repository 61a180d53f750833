// Logs from a Kubernetes member whose nodes are simulated (KWOK): a pod "runs" there without a container, so
// the agent says so — the hub answers 409 no_container naming the node, for a plain read, a follower and the
// CLI — instead of an empty log or a kubelet connection error. (A log that comes back from a real container
// needs a real worker node in the region.)
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
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

type Err = { code: string; message: string; details: { path: string; message: string }[] };

describe('job logs from a KWOK Kubernetes member', () => {
  let pgEngine: PostgresEngine;
  let temporal: TemporalEngine;
  let east: KubeCluster;
  let hub: Hub;
  let admin: Api;
  let runDir: RunDir;
  let agent: KubeAgentProcess;

  beforeAll(async () => {
    [pgEngine, temporal, east] = await Promise.all([PostgresEngine.start(), TemporalEngine.start(), KubeCluster.start({ name: 'logs-east', nodes: gpuPool('a100', 1, 8, 'NVIDIA-A100-SXM4-80GB') })]);
    hub = await startHub({ databaseUrl: pgEngine.url, temporalAddress: temporal.address, ...FAST });
    admin = new Api(hub.url, ADMIN_TOKEN);
    expect((await admin.post('/api/v1/projects', { name: 'ml' })).status).toBe(201);
    const r = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'east', region: 'east', kind: 'kubernetes', prices: {} });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    runDir = RunDir.create('e2e-kube-logs');
    agent = await new KubeAgentProcess({ hubUrl: hub.url, clusterId: 'east', credential: r.body.credential, kubeconfigPath: east.kubeconfigPath, runDir }).start();
    await waitFor('inventory at the hub', async () => (await admin.get<{ items: unknown[] }>('/api/v1/nodes?cluster=east')).body.items.length === 1, 60_000);
  });
  afterAll(async () => {
    await agent?.stop();
    await hub?.stop();
    await east?.stop();
    await Promise.all([pgEngine?.stop(), temporal?.stop()]);
    runDir?.remove();
  });

  it('a task on a simulated node: 409 no_container naming the node, for read, follow and the CLI', async () => {
    const id = await admin.submitJob({
      name: 'simulated',
      project: 'ml',
      tasks: 2,
      resources: { gpus: 1, cpu: 1, memory: '1Gi' },
      workload: { image: 'busybox', command: ['sh', '-c', 'echo hello'] },
      annotations: { 'kwok.meridian.dev/run-duration': '60s' },
    });
    await admin.untilJobState(id, 'Running', { context: () => agent.logTail() });
    for (const q of ['', '?task=1', '?follow=true']) {
      const r = await admin.get<Err>(`/api/v1/jobs/${id}/logs${q}`);
      expect(r.status, `${q} ${JSON.stringify(r.body)}`).toBe(409);
      expect(r.body.code).toBe('no_container');
      expect(r.body.message).toMatch(/^cluster east: job \d+ task [01]: no container ran on a simulated node \(pod meridian-jobs\/\S+ is on a100-0, a KWOK node\), so there is no log$/);
      expect(r.body.details[0]!.path).toBe('query.task');
    }
    const range = await admin.get<Err>(`/api/v1/jobs/${id}/logs?task=2`);
    expect(range.status).toBe(400);
    expect(range.body.details).toEqual([{ path: 'query.task', message: 'task 2 is out of range: use 0..1' }]);
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', MERIDIAN_URL: hub.url, MERIDIAN_TOKEN: ADMIN_TOKEN, XDG_CONFIG_HOME: '/nonexistent' };
    const bad = await promisify(execFile)(process.execPath, [packagePath('hub', 'bin/meridian.js'), 'job', 'logs', id, '--follow'], { env, timeout: 30_000 }).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad?.code).toBe(1);
    expect(bad?.stderr).toMatch(/^error 409 \(no_container\): cluster east: job \d+ task 0: no container ran on a simulated node/);
    expect((await admin.post(`/api/v1/jobs/${id}/cancel`)).status).toBe(202);
  });
});
