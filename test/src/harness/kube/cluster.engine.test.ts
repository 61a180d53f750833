import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { KubeCluster } from './cluster.ts';
import { GPU_PRODUCT_LABEL, GPU_RESOURCE, gpuPool } from './nodes.ts';

function gpuJob(name: string, opts: { completions: number; gpus: number; runDuration: string; exitCode?: number }): k8s.V1Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: {
      completionMode: 'Indexed',
      completions: opts.completions,
      parallelism: opts.completions,
      backoffLimit: 0,
      template: {
        metadata: {
          annotations: {
            'kwok.meridian.dev/run-duration': opts.runDuration,
            ...(opts.exitCode !== undefined ? { 'kwok.meridian.dev/exit-code': String(opts.exitCode) } : {}),
          },
        },
        spec: {
          restartPolicy: 'Never',
          nodeSelector: { [GPU_PRODUCT_LABEL]: 'NVIDIA-A100-SXM4-80GB' },
          tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
          containers: [{ name: 'main', image: 'busybox', resources: { limits: { [GPU_RESOURCE]: String(opts.gpus) } } }],
        },
      },
    },
  };
}

describe('Kubernetes member cluster (etcd + apiserver + controllers + scheduler + KWOK)', () => {
  let east: KubeCluster;
  let west: KubeCluster;
  beforeAll(async () => {
    east = await KubeCluster.start({ name: 'east', nodes: gpuPool('a100', 4, 8, 'NVIDIA-A100-SXM4-80GB') });
    west = await KubeCluster.start({ name: 'west', nodes: gpuPool('h100', 2, 8, 'NVIDIA-H100-80GB-HBM3') });
  });
  afterAll(async () => {
    await east?.stop();
    await west?.stop();
  });

  it('registers Ready GPU nodes with GPU capacity and model labels, separately per cluster', async () => {
    const eastNodes = (await east.core().listNode()).items;
    expect(eastNodes.map((n) => n.metadata?.name).sort()).toEqual(['a100-0', 'a100-1', 'a100-2', 'a100-3']);
    for (const n of eastNodes) {
      expect(n.status?.allocatable?.[GPU_RESOURCE]).toBe('8');
      expect(n.status?.allocatable?.['rdma/hca']).toBe('1');
      expect(n.metadata?.labels?.[GPU_PRODUCT_LABEL]).toBe('NVIDIA-A100-SXM4-80GB');
      expect(n.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    }
    const westNodes = (await west.core().listNode()).items;
    expect(westNodes.map((n) => n.metadata?.labels?.[GPU_PRODUCT_LABEL])).toEqual(['NVIDIA-H100-80GB-HBM3', 'NVIDIA-H100-80GB-HBM3']);
  });

  it("runs an indexed GPU Job's pods to Succeeded after the chosen time", async () => {
    const batch = east.kubeConfig().makeApiClient(k8s.BatchV1Api);
    const started = Date.now();
    await batch.createNamespacedJob({ namespace: 'default', body: gpuJob('gang-ok', { completions: 3, gpus: 8, runDuration: '3s' }) });
    // The Job controller counts the succeeded pods (and sets SuccessCriteriaMet) in one status update and adds
    // Complete in a later one, once the pods' finalizers are gone: wait for Complete, not for the count.
    const complete = (j: k8s.V1Job) => j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True');
    const job = await east.waitFor('job gang-ok to complete', async () => {
      const j = await batch.readNamespacedJob({ name: 'gang-ok', namespace: 'default' });
      return j.status?.succeeded === 3 && complete(j) ? j : undefined;
    }, 90_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect(job.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True')).toBe(true);
    const pods = (await east.core().listNamespacedPod({ namespace: 'default', labelSelector: 'job-name=gang-ok' })).items;
    expect(new Set(pods.map((p) => p.spec?.nodeName)).size).toBe(3); // 8 GPUs each: one pod per node
    for (const p of pods) {
      expect(p.status?.phase).toBe('Succeeded');
      expect(p.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(0);
    }
  });

  it('fails a pod with the chosen exit code', async () => {
    const batch = east.kubeConfig().makeApiClient(k8s.BatchV1Api);
    await batch.createNamespacedJob({ namespace: 'default', body: gpuJob('exit-3', { completions: 1, gpus: 1, runDuration: '1s', exitCode: 3 }) });
    const pod = await east.waitFor('pod of exit-3 to fail', async () => {
      const pods = (await east.core().listNamespacedPod({ namespace: 'default', labelSelector: 'job-name=exit-3' })).items;
      return pods.find((p) => p.status?.phase === 'Failed');
    }, 60_000);
    const term = pod.status?.containerStatuses?.[0]?.state?.terminated;
    expect(term?.exitCode).toBe(3);
    expect(term?.reason).toBe('Error');
  });

  it('keeps a pod that needs more GPUs than any node has Pending as Unschedulable', async () => {
    const batch = east.kubeConfig().makeApiClient(k8s.BatchV1Api);
    await batch.createNamespacedJob({ namespace: 'default', body: gpuJob('too-big', { completions: 1, gpus: 9, runDuration: '1s' }) });
    const pod = await east.waitFor('pod of too-big to be marked unschedulable', async () => {
      const pods = (await east.core().listNamespacedPod({ namespace: 'default', labelSelector: 'job-name=too-big' })).items;
      return pods.find((p) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'));
    }, 60_000);
    expect(pod.status?.phase).toBe('Pending');
  });

  it('can lose and regain its apiserver', async () => {
    await west.stopComponent('kube-apiserver');
    await expect(west.core().listNode()).rejects.toThrow();
    await west.startComponent('kube-apiserver');
    expect((await west.core().listNode()).items).toHaveLength(2);
  });
});
