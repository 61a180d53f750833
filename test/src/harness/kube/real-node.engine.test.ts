import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as k8s from '@kubernetes/client-node';
import { KubeCluster } from './cluster.ts';
import { gpuPool } from './nodes.ts';
import { REAL_NODE_LABEL, REAL_NODE_VALUE } from './real-node.ts';

function pod(name: string, image: string, command: string[]): k8s.V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      restartPolicy: 'Never',
      nodeSelector: { [REAL_NODE_LABEL]: REAL_NODE_VALUE },
      containers: [{ name: 'main', image, command }],
    },
  };
}

describe('real worker node (containerd + runc + bridge CNI + kubelet) beside KWOK nodes', () => {
  let cluster: KubeCluster;
  beforeAll(async () => {
    const t0 = Date.now();
    cluster = await KubeCluster.start({ name: 'realnode', nodes: gpuPool('a100', 1, 8, 'NVIDIA-A100-SXM4-80GB'), realNode: true });
    console.log(`region with a real node up in ${Date.now() - t0} ms`);
  }, 240_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);

  const phase = (name: string) =>
    cluster.waitFor(`pod ${name} to finish`, async () => {
      const p = await cluster.core().readNamespacedPod({ name, namespace: 'default' });
      return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' ? p : undefined;
    }, 60_000);

  it('registers a Ready node that KWOK leaves alone, beside the simulated ones', async () => {
    const nodes = (await cluster.core().listNode()).items;
    const real = nodes.find((n) => n.metadata?.name === 'realnode-real');
    expect(real?.metadata?.labels?.[REAL_NODE_LABEL]).toBe(REAL_NODE_VALUE);
    expect(real?.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\/1\./);
    expect(real?.status?.nodeInfo?.kubeletVersion).toBe('v1.33.4');
    expect(nodes.map((n) => n.metadata?.name).sort()).toEqual(['a100-0', 'realnode-real']);
  });

  it('runs a container for real: its output comes back as the pod log', async () => {
    const image = cluster.realNode!.image('job-runner');
    await cluster.core().createNamespacedPod({ namespace: 'default', body: pod('hello', image, ['bash', '-c', 'echo hello; python3 -c "print(6*7)"']) });
    const p = await phase('hello');
    expect(p.status?.phase).toBe('Succeeded');
    expect(p.spec?.nodeName).toBe('realnode-real');
    const log = await cluster.core().readNamespacedPodLog({ name: 'hello', namespace: 'default' });
    expect(log).toBe('hello\n42\n');
  });

  it('reports a container exit code as the kubelet saw it', async () => {
    const image = cluster.realNode!.image('job-runner');
    await cluster.core().createNamespacedPod({ namespace: 'default', body: pod('exit3', image, ['bash', '-c', 'echo last words; exit 3']) });
    const p = await phase('exit3');
    expect(p.status?.phase).toBe('Failed');
    expect(p.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(3);
  });
});
