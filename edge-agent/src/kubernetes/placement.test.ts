// Placement on Kubernetes: the hub's nodes are a hard pin, and an attempt runs only when every task has started.
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { DispatchCommand, NodeInfo as NodeInfoSchema, type NodeInfo } from '@meridian/protocol/agent-protocol';
import { GANG_GATE, gangDemand, gangRoom } from './gang.ts';
import { buildJob, RESERVATION_LABEL, shareReplicas } from './jobs.ts';
import { jobStatus } from './status.ts';

const cmd = (o: Record<string, unknown> = {}) =>
  DispatchCommand.parse({ kind: 'dispatch', jobId: '9', attempt: 1, project: 'p', name: 'gang', tasks: 4, perTask: { cpuMilli: 0, memoryMiB: 0, gpus: 2, rdma: 0 }, maxRuntimeSec: 60, ...o });

describe('pinning', () => {
  it('requires the nodes the hub reserved (by node name) and labels the pods with the reservation', () => {
    const j = buildJob(cmd({ nodes: ['n1', 'n1', 'n2', 'n3'] }));
    const spec = j.spec!.template.spec!;
    // one term per node (the apiserver takes one value per metadata.name field requirement; terms are ORed)
    expect(spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms).toEqual(
      ['n1', 'n2', 'n3'].map((n) => ({ matchFields: [{ key: 'metadata.name', operator: 'In', values: [n] }] })),
    );
    expect(spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution).toBeUndefined();
    expect(j.spec!.template.metadata!.labels![RESERVATION_LABEL]).toBe('mj-9-a1');
  });

  it('leaves a dispatch without nodes unpinned', () => {
    expect(buildJob(cmd({ nodes: [] })).spec!.template.spec!.affinity).toBeUndefined();
  });
});

describe('a gang runs only when every task has started', () => {
  const job: V1Job = { metadata: { name: 'mj-9-a1', namespace: 'ns' }, spec: { completions: 4, parallelism: 4, backoffLimit: 0, template: {} }, status: {} };
  const running = (i: number): V1Pod => ({ metadata: { name: `p${i}`, annotations: { 'batch.kubernetes.io/job-completion-index': String(i) } }, spec: { nodeName: `n${i}`, containers: [] }, status: { phase: 'Running' } });
  const unschedulable = (i: number): V1Pod => ({
    metadata: { name: `p${i}`, annotations: { 'batch.kubernetes.io/job-completion-index': String(i) } },
    spec: { containers: [] },
    status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/4 nodes are available: 1 Insufficient nvidia.com/gpu, 3 node(s) didn\'t match Pod\'s node affinity/selector.' }] },
  });
  const ref = { jobId: '9', attempt: 1 };

  it('3 of 4 bound is Pending with the Unschedulable message as the pending reason', () => {
    const s = jobStatus(ref, job, [running(0), running(1), running(2), unschedulable(3)]);
    expect(s.phase).toBe('Pending');
    expect(s.startedAt).toBeUndefined();
    expect(s.pendingReason).toBe("3 of 4 tasks started; Unschedulable: 0/4 nodes are available: 1 Insufficient nvidia.com/gpu, 3 node(s) didn't match Pod's node affinity/selector.");
  });

  it('4 of 4 is Running, with no pending reason', () => {
    const s = jobStatus(ref, job, [0, 1, 2, 3].map(running));
    expect(s).toMatchObject({ phase: 'Running' });
    expect(s.pendingReason).toBeUndefined();
  });

  it('pods the Job controller has not made yet are a pending reason too', () => {
    expect(jobStatus(ref, job, [running(0)]).pendingReason).toBe('1 of 4 tasks started; 3 pod(s) not yet created by the Job controller');
  });

  it('an array runs as soon as one index has started', () => {
    const array: V1Job = { ...job, spec: { ...job.spec!, parallelism: 2, backoffLimitPerIndex: 0 } };
    expect(jobStatus(ref, array, [running(0), unschedulable(1)]).phase).toBe('Running');
  });
});

describe('GPU shares', () => {
  it('a 500-milli share takes 5 of 10 time-slicing replicas, on the GPU the hub chose, its part in the environment', () => {
    const j = buildJob(cmd({ tasks: 1, perTask: { cpuMilli: 0, memoryMiB: 0, gpus: 0, rdma: 0, milliGpu: 500 }, nodes: ['ts-0'], gpuIndices: [0] }));
    const c = j.spec!.template.spec!.containers[0]!;
    expect(c.resources!.limits).toEqual({ 'nvidia.com/gpu.shared': '5' });
    const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ MERIDIAN_GPU_SHARE_MILLI: '500', NVIDIA_VISIBLE_DEVICES: '0', MERIDIAN_GPU_INDICES: '0', CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: '50', MERIDIAN_GPU_MEMORY_FRACTION: '0.5' });
    expect(j.spec!.template.metadata!.annotations!['meridian.dev/gpu-index']).toBe('0');
  });

  it('rounds a share up to whole replicas; tasks on different GPUs get the per-rank list only', () => {
    expect(shareReplicas(600, 10)).toBe(6);
    expect(shareReplicas(1, 10)).toBe(1);
    expect(shareReplicas(250, 4)).toBe(1);
    const j = buildJob(cmd({ tasks: 2, perTask: { cpuMilli: 0, memoryMiB: 0, gpus: 0, rdma: 0, milliGpu: 300 }, nodes: ['a', 'a'], gpuIndices: [0, 1] }));
    const env = Object.fromEntries(j.spec!.template.spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
    expect(env.NVIDIA_VISIBLE_DEVICES).toBeUndefined();
    expect(env.MERIDIAN_GPU_INDICES).toBe('0,1');
    expect(j.spec!.template.metadata!.annotations!['meridian.dev/gpu-index']).toBeUndefined();
  });
});

describe('the gang gate', () => {
  const node = (name: string, gpus: number, used: number): NodeInfo =>
    NodeInfoSchema.parse({ name, capacity: { cpuMilli: 64000, memoryMiB: 512000, gpus }, allocatable: { cpuMilli: 64000, memoryMiB: 512000, gpus }, requested: { cpuMilli: 0, memoryMiB: 0, gpus: used }, unschedulable: false, ready: true });

  it('gates a pinned gang (not a single task, not an unpinned one) and reads its demand back from the Job', () => {
    const j = buildJob(cmd({ nodes: ['n1', 'n1', 'n2', 'n2'] }));
    expect(j.spec!.template.spec!.schedulingGates).toEqual([{ name: GANG_GATE }]);
    expect(gangDemand(j, 'nvidia.com/gpu')).toEqual({ tasks: 4, gpus: 2, cpuMilli: 0, memoryMiB: 0, nodes: ['n1', 'n2'] });
    expect(buildJob(cmd({ tasks: 1, nodes: ['n1'] })).spec!.template.spec!.schedulingGates).toBeUndefined();
    expect(buildJob(cmd({ nodes: [] })).spec!.template.spec!.schedulingGates).toBeUndefined();
  });

  it('counts room for tasks on the reserved nodes as the member reports them (foreign pods included)', () => {
    const d = { tasks: 4, gpus: 2, cpuMilli: 1000, memoryMiB: 1024, nodes: ['a', 'b'] };
    expect(gangRoom(d, [node('a', 4, 0), node('b', 4, 0)]).fits).toBe(4);
    const short = gangRoom(d, [node('a', 4, 0), node('b', 4, 2)]);
    expect(short.fits).toBe(3);
    expect(short.detail).toBe('held at the gang gate: room for 3 of 4 tasks on the reserved nodes (a: 4 GPUs free, b: 2 GPUs free; each task needs 2 GPUs)');
    expect(gangRoom(d, [node('a', 4, 0)]).detail).toMatch(/b: no such node/);
  });
});
