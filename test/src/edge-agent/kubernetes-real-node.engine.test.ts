// The Kubernetes driver with containers that really run: a region with a real worker node (containerd + runc
// + kubelet) beside a KWOK GPU node. A CPU job pinned to the real node prints through the agent's logs path;
// a failing command's exit code and last lines reach the job status; an image that cannot be pulled and a
// command that does not exist fail the attempt within seconds, with the kubelet's reason.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentEvent, DispatchCommand, JobStatusEvent } from '@meridian/protocol/agent-protocol';
import { KubernetesDriver } from '@meridian/edge-agent/kubernetes/driver';
import { taskLogs } from '@meridian/edge-agent/kubernetes/logs';
import { KubeCluster } from '../harness/kube/cluster.ts';
import { gpuPool } from '../harness/kube/nodes.ts';
import { A100, dispatchCommand } from './dispatch-command.ts';

const NS = 'meridian-jobs';
const REGION = 'realjobs';
const NODE = `${REGION}-real`;

describe('Kubernetes driver on a real worker node', () => {
  let cluster: KubeCluster;
  let driver: KubernetesDriver;
  let core: k8s.CoreV1Api;
  let image: string;
  const events: AgentEvent[] = [];

  const statuses = (jobId: string): JobStatusEvent[] => events.filter((e): e is JobStatusEvent => e.type === 'job.status' && e.jobId === jobId);
  const finished = async (jobId: string, ms: number): Promise<JobStatusEvent> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = statuses(jobId).find((e) => e.phase === 'Succeeded' || e.phase === 'Failed' || e.phase === 'Cancelled');
      if (s) return s;
      if (Date.now() > deadline) {
        throw new Error(`job ${jobId} did not finish in ${ms} ms; its statuses: ${JSON.stringify(statuses(jobId)).slice(0, 2000)}\n--- kubelet ---\n${cluster.realNode?.logTail('kubelet', 15)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  /** A CPU job on the real node (the hub's reservation pins it by node name, as for any placement). */
  const onRealNode = (jobId: string, over: Partial<DispatchCommand>): DispatchCommand =>
    dispatchCommand(jobId, { perTask: { cpuMilli: 100, memoryMiB: 64, gpus: 0, rdma: 0 }, nodes: [NODE], image, ...over });

  beforeAll(async () => {
    cluster = await KubeCluster.start({ name: REGION, nodes: gpuPool('a100', 1, 8, A100), realNode: true });
    image = cluster.realNode!.image('job-runner');
    core = cluster.core();
    driver = new KubernetesDriver({ kubeConfig: cluster.kubeConfig(), namespace: NS, emit: (e) => events.push(e), deltaIntervalMs: 100, statusDebounceMs: 50, dispatchRetryMs: 60_000 });
    await driver.start();
  }, 240_000);
  afterAll(async () => {
    await driver?.stop();
    await cluster?.stop();
  }, 60_000);

  it('reports the real node in the inventory beside the simulated GPU node', () => {
    const snap = events.find((e) => e.type === 'inventory.snapshot');
    if (snap?.type !== 'inventory.snapshot') throw new Error('no inventory snapshot');
    const real = snap.nodes.find((n) => n.name === NODE);
    expect(real).toMatchObject({ ready: true, unschedulable: false, capacity: { gpus: 0 } });
    expect(snap.nodes.map((n) => n.name).sort()).toEqual(['a100-0', NODE]);
  });

  it('runs a job for real: it prints hello, and the log comes back through the agent', async () => {
    const t0 = Date.now();
    await driver.handle(onRealNode('9001', { command: ['bash', '-c', 'echo hello; echo "rank $MERIDIAN_RANK of $MERIDIAN_WORLD_SIZE"'] }));
    const s = await finished('9001', 60_000);
    expect(s).toMatchObject({ phase: 'Succeeded', exitCode: 0 });
    expect(s.tasks[0]).toMatchObject({ node: NODE, phase: 'Succeeded', exitCode: 0 });
    console.log(`hello job: dispatch → Succeeded in ${Date.now() - t0} ms`);
    const logs = await taskLogs(core, NS, { jobId: '9001', task: 0, tailLines: 100 });
    expect(logs.ok, logs.error).toBe(true);
    expect((logs.detail as { text: string }).text).toBe('hello\nrank 0 of 1\n');
  });

  // stderr joins stdout in the script: two pipes give no order between streams
  it('fails a job whose command exits 3 with exit code 3 and its last lines', async () => {
    await driver.handle(onRealNode('9002', { command: ['bash', '-c', 'exec 2>&1; for i in 1 2 3; do echo "step $i"; done; echo "disk full" >&2; exit 3'] }));
    const s = await finished('9002', 60_000);
    expect(s).toMatchObject({ phase: 'Failed', exitCode: 3, reason: 'Error: exit code 3' });
    expect(s.tasks[0]).toMatchObject({ phase: 'Failed', exitCode: 3 });
    expect(s.message).toBe('last lines of task 0:\nstep 1\nstep 2\nstep 3\ndisk full');
  });

  it('fails a job whose command does not exist within seconds, saying so', async () => {
    const t0 = Date.now();
    await driver.handle(onRealNode('9003', { command: ['no-such-program', '--flag'] }));
    const s = await finished('9003', 20_000);
    expect(s.phase).toBe('Failed');
    expect(s.reason).toMatch(/^(StartError|RunContainerError|CreateContainerError): .*"no-such-program": executable file not found in \$PATH/);
    console.log(`missing command: dispatch → Failed in ${Date.now() - t0} ms (${s.reason})`);
  });

  it('fails a job whose image cannot be pulled within seconds, with the pull error, and deletes its Job', async () => {
    const t0 = Date.now();
    await driver.handle(onRealNode('9004', { image: 'meridian.local/no-such-image:1', command: ['true'] }));
    const s = await finished('9004', 30_000);
    expect(s.phase).toBe('Failed');
    expect(s.reason).toMatch(/^ImagePullBackOff: .*meridian\.local\/no-such-image:1/);
    console.log(`missing image: dispatch → Failed in ${Date.now() - t0} ms (${s.reason})`);
    const batch = cluster.kubeConfig().makeApiClient(k8s.BatchV1Api);
    await cluster.waitFor('the unstartable Job to be deleted', async () =>
      (await batch.listNamespacedJob({ namespace: NS })).items.every((j) => j.metadata?.annotations?.['meridian.dev/job-id'] !== '9004'), 30_000);
    // it stays Failed while its Job goes: no Pending or Cancelled after it
    await new Promise((r) => setTimeout(r, 500));
    expect(statuses('9004').at(-1)?.phase).toBe('Failed');
  });
});
