// `helm install` of the edge-agent chart for real: the image built by scripts/images.mjs (loaded into the
// region's real node, never pulled), the agent pod running on that node, dialing the hub, registering and
// reporting the region's inventory; then a Meridian job submitted to the hub runs on the real node.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '@meridian/hub/main';
import { ADMIN_TOKEN, Api, FAST, waitFor } from '../hub/helpers.ts';
import { goBinary, repoRoot } from '../harness/engines.ts';
import { KubeCluster } from '../harness/kube/cluster.ts';
import { gpuPool } from '../harness/kube/nodes.ts';
import { REAL_NODE_LABEL, REAL_NODE_VALUE } from '../harness/kube/real-node.ts';
import { PostgresEngine } from '../harness/postgres.ts';
import { TemporalEngine } from '../harness/temporal.ts';

const REGION = 'helmreal';
type NodeRow = { clusterId: string; name: string; info: { ready: boolean } };

describe('edge-agent chart installed with Helm onto a real node', () => {
  let pgEngine: PostgresEngine;
  let temporal: TemporalEngine;
  let cluster: KubeCluster;
  let hub: Hub;
  let admin: Api;
  const helm = (...args: string[]) => {
    const r = spawnSync(goBinary('helm', 'helm'), [...args, '--kubeconfig', cluster.kubeconfigPath], {
      encoding: 'utf8',
      env: { ...process.env, HELM_CACHE_HOME: join(cluster.kubeconfigPath, '..', 'helm-cache'), HELM_CONFIG_HOME: join(cluster.kubeconfigPath, '..', 'helm-config') },
    });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };
  const kubectl = (...args: string[]) =>
    spawnSync(goBinary('kube', 'kubectl'), ['--kubeconfig', cluster.kubeconfigPath, ...args], { encoding: 'utf8' });

  beforeAll(async () => {
    [pgEngine, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
    cluster = await KubeCluster.start({ name: REGION, nodes: gpuPool('a100', 1, 8, 'NVIDIA-A100-SXM4-80GB'), realNode: { images: ['job-runner', 'edge-agent'] } });
    hub = await startHub({ databaseUrl: pgEngine.url, temporalAddress: temporal.address, ...FAST });
    admin = new Api(hub.url, ADMIN_TOKEN);
    expect((await admin.post('/api/v1/projects', { name: 'ml' })).status).toBe(201);
  }, 300_000);
  afterAll(async () => {
    if (cluster) helm('uninstall', 'agent', '--namespace', 'meridian-system', '--wait', '--timeout', '30s');
    await hub?.stop();
    await cluster?.stop();
    await Promise.all([pgEngine?.stop(), temporal?.stop()]);
  }, 120_000);

  it('the agent pod runs the built image on the real node, registers and reports the inventory', async () => {
    const r = await admin.post<{ credential: string }>('/api/v1/clusters', { id: REGION, region: 'test', kind: 'kubernetes' });
    expect(r.status).toBe(201);
    const t0 = Date.now();
    const install = helm('install', 'agent', join(repoRoot, 'charts', 'edge-agent'), '--namespace', 'meridian-system', '--create-namespace',
      '--set', `hub.url=${hub.url}`, '--set', `clusterId=${REGION}`, '--set', `credential.value=${r.body.credential}`,
      '--set', 'collector.enabled=false', '--set', `nodeSelector.${REAL_NODE_LABEL.replace(/\./g, '\\.')}=${REAL_NODE_VALUE}`,
      // the test region has no service proxy: the pod shares the host's network and reaches the apiserver there
      '--set', 'hostNetwork=true', '--set', 'extraEnv[0].name=KUBERNETES_SERVICE_HOST', '--set', 'extraEnv[0].value=127.0.0.1',
      '--set', 'extraEnv[1].name=KUBERNETES_SERVICE_PORT', '--set-string', `extraEnv[1].value=${cluster.apiserverPort}`,
      '--wait', '--timeout', '120s');
    const pods = kubectl('get', 'pods', '-n', 'meridian-system', '-o', 'wide');
    const logs = kubectl('logs', '-n', 'meridian-system', 'deployment/agent-edge-agent', '--tail', '30');
    expect(install.code, `${install.out}\n${pods.stdout}${pods.stderr}\n${logs.stdout}${logs.stderr}`).toBe(0);
    expect(pods.stdout).toContain(`${REGION}-real`);
    const deployment = kubectl('get', 'deployment', '-n', 'meridian-system', 'agent-edge-agent', '-o', 'jsonpath={.spec.template.spec.containers[0].image}');
    expect(deployment.stdout).toBe(cluster.realNode!.images['edge-agent']!.ref.replace(/:[0-9a-f]{16}$/, ':0.1.0'));
    const nodes = await waitFor('the inventory at the hub', async () => {
      const items = (await admin.get<{ items: NodeRow[] }>(`/api/v1/nodes?cluster=${REGION}`)).body.items;
      return items.length === 2 ? items : undefined;
    }, 60_000).catch((err: Error) => {
      const tail = kubectl('logs', '-n', 'meridian-system', 'deployment/agent-edge-agent', '--tail', '40');
      throw new Error(`${err.message}\n--- agent log ---\n${tail.stdout}${tail.stderr}`);
    });
    console.log(`helm install → agent ready → inventory at the hub in ${Date.now() - t0} ms`);
    expect(nodes.map((n) => n.name).sort()).toEqual(['a100-0', `${REGION}-real`]);
  });

  it('jobs submitted to the hub run on the real node through that agent: exit code and last lines reach the job', async () => {
    // the simulated GPU node out of the way: CPU jobs can only go to the real node
    expect(kubectl('cordon', 'a100-0').status).toBe(0);
    type NodeInfoRow = NodeRow & { info: { unschedulable: boolean } };
    await waitFor('the cordon at the hub', async () =>
      (await admin.get<{ items: NodeInfoRow[] }>(`/api/v1/nodes?cluster=${REGION}`)).body.items.find((n) => n.name === 'a100-0')?.info.unschedulable, 30_000);
    const image = cluster.realNode!.image('job-runner');
    const spec = (name: string, script: string) => ({ name, project: 'ml', tasks: 1, resources: { cpu: '500m', memory: '128Mi', gpus: 0 }, workload: { image, command: ['bash', '-c', script] } });
    type Job = { id: string; state: string; cluster: string | null; exitCode: number | null; reason: string | null };
    type Event = { type: string; message: string; data: { message?: string; tasks?: { node?: string }[] } | null };
    const ok = await admin.submitJob(spec('hello', 'echo hello'));
    const bad = await admin.submitJob(spec('doomed', 'echo "step 1"; echo "out of memory, giving up" >&2; exit 3'));
    const good = await admin.untilJobState<Job>(ok, 'Succeeded', { ms: 90_000 });
    expect(good).toMatchObject({ cluster: REGION, exitCode: 0 });
    const failed = await admin.untilJobState<Job>(bad, 'Failed', { ms: 90_000 });
    expect(failed).toMatchObject({ cluster: REGION, exitCode: 3 });
    expect(failed.reason).toMatch(/exit code 3/);
    const events = (await admin.get<{ items: Event[] }>(`/api/v1/jobs/${bad}/events`)).body.items;
    const report = events.find((e) => e.type === 'agent-status' && e.message.includes('Failed'));
    expect(report?.data?.message).toBe('last lines of task 0:\nstep 1\nout of memory, giving up');
    expect(report?.data?.tasks?.[0]?.node).toBe(`${REGION}-real`);
  });
});
