// The Helm charts, installed for real with Helm into a Kubernetes control plane with KWOK nodes:
// schema errors name the field, and the rendered objects are accepted and become running pods.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { goBinary, repoRoot } from '../harness/engines.ts';
import { KubeCluster } from '../harness/kube/cluster.ts';
import { gpuPool } from '../harness/kube/nodes.ts';

const helmBin = goBinary('helm', 'helm');
const chart = (name: string) => join(repoRoot, 'charts', name);

describe('Helm charts', () => {
  let cluster: KubeCluster;
  const helm = (...args: string[]) => {
    const r = spawnSync(helmBin, [...args, '--kubeconfig', cluster.kubeconfigPath], {
      encoding: 'utf8',
      env: { ...process.env, HELM_CACHE_HOME: join(cluster.kubeconfigPath, '..', 'helm-cache'), HELM_CONFIG_HOME: join(cluster.kubeconfigPath, '..', 'helm-config') },
    });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };

  beforeAll(async () => {
    cluster = await KubeCluster.start({ name: 'charts', nodes: gpuPool('gpu', 2, 8, 'NVIDIA-A100-SXM4-80GB', { labels: { 'nvidia.com/gpu.present': 'true' } }) });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('lint both charts', () => {
    const hub = helm('lint', chart('hub'), '--set', 'database.url=postgres://meridian@db/meridian');
    expect(hub.out).toContain('1 chart(s) linted, 0 chart(s) failed');
    const agent = helm('lint', chart('edge-agent'), '--set', 'hub.url=https://hub.example', '--set', 'clusterId=us-east', '--set', 'credential.value=secret');
    expect(agent.out).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it('refuse bad values with the field named', () => {
    const noDb = helm('template', 'x', chart('hub'));
    expect(noDb.code).not.toBe(0);
    expect(noDb.out).toContain('database.url is required');
    const badReplicas = helm('template', 'x', chart('hub'), '--set', 'database.url=postgres://db/m', '--set', 'replicas=0');
    expect(badReplicas.code).not.toBe(0);
    expect(badReplicas.out).toMatch(/replicas.*(minimum|greater)/i);
    const badCluster = helm('template', 'x', chart('edge-agent'), '--set', 'hub.url=https://h', '--set', 'clusterId=US_East', '--set', 'credential.value=s');
    expect(badCluster.code).not.toBe(0);
    expect(badCluster.out).toContain('clusterId');
  });

  it('install into a real control plane and their pods run', async () => {
    const hub = helm('install', 'mrd', chart('hub'), '--namespace', 'meridian', '--create-namespace', '--set', 'database.url=postgres://meridian@db/meridian', '--wait', '--timeout', '90s');
    expect(hub.code, hub.out).toBe(0);
    const agent = helm('install', 'mrd-agent', chart('edge-agent'), '--namespace', 'meridian', '--set', 'hub.url=http://mrd-hub:8080', '--set', 'clusterId=charts', '--set', 'credential.value=secret', '--wait', '--timeout', '90s');
    expect(agent.code, agent.out).toBe(0);
    const apps = cluster.kubeConfig().makeApiClient(k8s.AppsV1Api);
    const dep = await apps.readNamespacedDeployment({ name: 'mrd-hub', namespace: 'meridian' });
    expect(dep.status?.readyReplicas).toBe(2);
    const agentDep = await apps.readNamespacedDeployment({ name: 'mrd-agent-edge-agent', namespace: 'meridian' });
    expect(agentDep.status?.readyReplicas).toBe(1);
    const rbac = cluster.kubeConfig().makeApiClient(k8s.RbacAuthorizationV1Api);
    const role = await rbac.readClusterRole({ name: 'mrd-agent-edge-agent' });
    expect(role.rules?.some((r) => r.resources?.includes('pods/eviction'))).toBe(true);
  });
});
