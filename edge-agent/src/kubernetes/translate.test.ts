// Pure translations: quantities, pods/nodes → NodeInfo, dispatch → Job, pods/Job → status, drift.
import type { V1Job, V1Node, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { DispatchCommand } from '@meridian/protocol/agent-protocol';
import { DispatchCommand as DispatchSchema, NodeInfo as NodeInfoSchema } from '@meridian/protocol/agent-protocol';
import { detectDrift } from './drift.ts';
import { NODE_ANNOTATIONS, nodeInfo, podUsage } from './inventory.ts';
import type { PodUsage } from './inventory.ts';
import { buildJob, jobName, labelValue } from './jobs.ts';
import { cpuMilli, memoryMiB, parseQuantity } from './quantity.ts';
import { jobStatus, taskStatus } from './status.ts';

const node = (o: Partial<{ name: string; gpus: number; alloc: number; unschedulable: boolean; ready: boolean; taints: V1Node['spec'] extends infer S ? S extends { taints?: infer T } ? T : never : never; annotations: Record<string, string> }> = {}): V1Node => ({
  metadata: { name: o.name ?? 'n0', labels: { 'nvidia.com/gpu.product': 'A100' }, ...(o.annotations ? { annotations: o.annotations } : {}) },
  spec: { ...(o.unschedulable ? { unschedulable: true } : {}), ...(o.taints ? { taints: o.taints } : {}) },
  status: {
    capacity: { cpu: '64', memory: '512Gi', 'nvidia.com/gpu': String(o.gpus ?? 8), 'rdma/hca': '1' },
    allocatable: { cpu: '63500m', memory: '500Gi', 'nvidia.com/gpu': String(o.alloc ?? o.gpus ?? 8), 'rdma/hca': '1' },
    conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True', reason: o.ready === false ? 'KubeletNotReady' : 'KubeletReady' }],
  },
});

const pod = (name: string, res: Record<string, string>, o: Partial<{ node: string; phase: string; jobId: string }> = {}): V1Pod => ({
  metadata: { name, namespace: 'ns', labels: o.jobId ? { 'meridian.dev/job-id': o.jobId } : {} },
  spec: { nodeName: o.node ?? 'n0', containers: [{ name: 'main', resources: { limits: res } }] },
  status: { phase: o.phase ?? 'Running' },
});

describe('quantities', () => {
  it('parses CPU, memory and plain counts', () => {
    expect(cpuMilli('500m')).toBe(500);
    expect(cpuMilli('2')).toBe(2000);
    expect(memoryMiB('8Gi')).toBe(8192);
    expect(memoryMiB('1G')).toBeCloseTo(953.674, 2);
    expect(parseQuantity('1e3')).toBe(1000);
    expect(parseQuantity('garbage')).toBe(0);
  });
});

describe('inventory translation', () => {
  it('turns a node and its pods into NodeInfo: requested, GPU use by job, unhealthy withdrawn GPUs', () => {
    const usages = [pod('a', { cpu: '2', memory: '4Gi', 'nvidia.com/gpu': '2' }, { jobId: '7' }), pod('b', { 'nvidia.com/gpu': '1' })].map((p) => podUsage(p)!) as PodUsage[];
    const info = nodeInfo(node({ gpus: 8, alloc: 7 }), usages);
    expect(NodeInfoSchema.parse(info)).toEqual(info);
    expect(info).toMatchObject({ name: 'n0', gpuModel: 'A100', ready: true, unschedulable: false, capacity: { cpuMilli: 64000, memoryMiB: 524288, gpus: 8, rdma: 1 }, allocatable: { cpuMilli: 63500, gpus: 7 }, requested: { cpuMilli: 2000, memoryMiB: 4096, gpus: 3 } });
    expect(info.gpus.filter((g) => g.jobId === '7')).toHaveLength(2);
    expect(info.gpus.filter((g) => g.milliUsed === 1000)).toHaveLength(3);
    expect(info.gpus[7]).toMatchObject({ index: 7, healthy: false });
  });

  it('ignores finished and unbound pods, packs fractional GPU shares', () => {
    expect(podUsage(pod('x', { 'nvidia.com/gpu': '1' }, { phase: 'Succeeded' }))).toBeNull();
    expect(podUsage({ ...pod('y', {}), spec: { containers: [] } })).toBeNull();
    // time-slicing: 10 replicas per GPU, a replica is 100 milli-GPU
    const shares = [pod('s1', { 'nvidia.com/gpu.shared': '3' }), pod('s2', { 'nvidia.com/gpu.shared': '5' }), pod('s3', { 'nvidia.com/gpu.shared': '4' })].map((p) => podUsage(p)!);
    const sliced = node({ gpus: 0 });
    sliced.status!.capacity!['nvidia.com/gpu.shared'] = sliced.status!.allocatable!['nvidia.com/gpu.shared'] = '20';
    const info = nodeInfo(sliced, shares);
    expect(info.gpus.map((g) => g.milliUsed)).toEqual([800, 400]);
    expect(info.capacity.gpus).toBe(2);
    expect(info.labels['meridian.dev/gpu-share']).toBe('time-slicing');
    expect(nodeInfo(node({ gpus: 2 }), []).labels['meridian.dev/gpu-share']).toBeUndefined();
  });

  it('marks cordoned, NoSchedule-tainted and not-ready nodes with a reason', () => {
    expect(nodeInfo(node({ unschedulable: true }), [])).toMatchObject({ unschedulable: true, reason: 'cordoned' });
    expect(nodeInfo(node({ unschedulable: true, annotations: { [NODE_ANNOTATIONS.hubCordon]: 'XID 79' } }), [])).toMatchObject({ reason: 'cordoned by the hub: XID 79' });
    expect(nodeInfo(node({ taints: [{ key: 'gpu', value: 'bad', effect: 'NoSchedule' }] }), [])).toMatchObject({ unschedulable: true, reason: 'taint gpu=bad:NoSchedule' });
    expect(nodeInfo(node({ taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] }), [])).toMatchObject({ unschedulable: false });
    expect(nodeInfo(node({ ready: false }), [])).toMatchObject({ ready: false, reason: 'not ready: KubeletNotReady' });
  });
});

const cmd = (o: Partial<DispatchCommand> = {}): DispatchCommand =>
  DispatchSchema.parse({ kind: 'dispatch', jobId: '42', attempt: 2, project: 'Vision Team', name: 'train', tasks: 4, perTask: { cpuMilli: 8000, memoryMiB: 65536, gpus: 8, rdma: 1 }, gpuModel: 'H100', image: 'pytorch:2', command: ['torchrun'], args: ['train.py'], maxRuntimeSec: 3600, annotations: { 'team.io/owner': 'ana', 'bad key!': 'x' }, env: { A: '1' }, ...o });

describe('dispatch → Job', () => {
  it('builds an Indexed gang Job with labels, GPU limits, model selector, env and annotations', () => {
    const j = buildJob(cmd(), { namespace: 'ml', gpuModelLabel: 'nvidia.com/gpu.product', gpuResource: 'nvidia.com/gpu', rdmaResource: 'rdma/hca', sharedGpuResource: 'nvidia.com/gpu.shared', sharedGpuReplicas: 10, defaultImage: 'busybox', tolerations: [], ttlSecondsAfterFinished: 60 });
    expect(j.metadata).toMatchObject({ name: 'mj-42-a2', namespace: 'ml', labels: { 'meridian.dev/job-id': '42', 'meridian.dev/attempt': '2', 'meridian.dev/project': expect.stringMatching(/^Vision-Team-[0-9a-f]{8}$/), 'app.kubernetes.io/managed-by': 'meridian' } });
    expect(j.spec).toMatchObject({ completionMode: 'Indexed', completions: 4, parallelism: 4, backoffLimit: 0, activeDeadlineSeconds: 3600 });
    const c = j.spec!.template.spec!.containers[0]!;
    expect(c).toMatchObject({ image: 'pytorch:2', command: ['torchrun'], args: ['train.py'] });
    expect(c.resources!.limits).toEqual({ memory: '65536Mi', 'nvidia.com/gpu': '8', 'rdma/hca': '1' });
    expect(c.resources!.requests).toMatchObject({ cpu: '8000m', 'nvidia.com/gpu': '8' });
    expect(j.spec!.template.spec!.nodeSelector).toEqual({ 'nvidia.com/gpu.product': 'H100' });
    const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]));
    expect(env).toMatchObject({ MERIDIAN_JOB_ID: '42', MERIDIAN_WORLD_SIZE: '4', MERIDIAN_RANK: "metadata.annotations['batch.kubernetes.io/job-completion-index']", A: '1' });
    expect(j.spec!.template.metadata!.annotations).toEqual({ 'team.io/owner': 'ana' });
    expect(j.spec!.template.metadata!.labels).toEqual({ ...j.metadata!.labels, 'meridian.dev/reservation': 'mj-42-a2' });
  });

  it('runs a script through sh when there is no command; names stay DNS-safe', () => {
    const j = buildJob(cmd({ command: undefined, args: undefined, script: 'echo hi', image: undefined }));
    expect(j.spec!.template.spec!.containers[0]).toMatchObject({ image: 'meridian.local/job-runner:0.1.0', command: ['/bin/sh', '-c'], args: ['echo hi'] });
    expect(jobName('Run_ABC/1', 3)).toMatch(/^mj-run-abc-1-[0-9a-f]{8}-a3$/);
    expect(jobName('x'.repeat(100), 1).length).toBeLessThanOrEqual(63);
    expect(labelValue('a'.repeat(80)).length).toBeLessThanOrEqual(63);
  });
});

describe('pods/Job → status', () => {
  const jpod = (i: number, status: V1Pod['status'], nodeName = 'n0'): V1Pod => ({ metadata: { name: `p${i}`, annotations: { 'batch.kubernetes.io/job-completion-index': String(i) }, creationTimestamp: new Date(1000 + i) }, spec: { nodeName, containers: [{ name: 'main' }] }, status });
  const job = (conds: { type: string; reason?: string }[] = []): V1Job => ({ metadata: { name: 'mj-1-a1', namespace: 'ns' }, status: { conditions: conds.map((c) => ({ ...c, status: 'True', lastTransitionTime: new Date('2026-01-01T00:00:10Z') })) } });
  const ref = { jobId: '1', attempt: 1 };

  it('names the plain reasons', () => {
    expect(taskStatus(jpod(0, { phase: 'Pending', containerStatuses: [{ name: 'main', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ErrImagePull' } } }] })).reason).toBe('ImagePullBackOff');
    expect(taskStatus(jpod(0, { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }] })).reason).toBe('Unschedulable');
    expect(taskStatus(jpod(0, { phase: 'Failed', containerStatuses: [{ name: 'main', image: 'x', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 137, reason: 'OOMKilled' } } }] }))).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
    expect(taskStatus(jpod(0, { phase: 'Failed', reason: 'DeadlineExceeded' })).reason).toBe('DeadlineExceeded');
    expect(taskStatus(jpod(0, { phase: 'Failed', conditions: [{ type: 'DisruptionTarget', status: 'True', reason: 'EvictionByEvictionAPI' }] })).reason).toBe('Evicted: EvictionByEvictionAPI');
  });

  it('derives the job phase, exit code and times', () => {
    const term = (code: number) => ({ phase: code ? 'Failed' : 'Succeeded', startTime: new Date('2026-01-01T00:00:01Z'), containerStatuses: [{ name: 'main', image: 'x', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: code, reason: code ? 'Error' : 'Completed', startedAt: new Date('2026-01-01T00:00:02Z'), finishedAt: new Date('2026-01-01T00:00:09Z') } } }] });
    const ok = jobStatus(ref, { ...job([{ type: 'Complete' }]), status: { conditions: job([{ type: 'Complete' }]).status!.conditions!, completionTime: new Date('2026-01-01T00:00:10Z') } }, [jpod(0, term(0)), jpod(1, term(0), 'n1')]);
    expect(ok).toMatchObject({ phase: 'Succeeded', exitCode: 0, startedAt: '2026-01-01T00:00:02.000Z', finishedAt: '2026-01-01T00:00:10.000Z', clusterJobId: 'ns/mj-1-a1' });
    expect(ok.tasks.map((t) => t.node)).toEqual(['n0', 'n1']);
    const bad = jobStatus(ref, job([{ type: 'Failed', reason: 'BackoffLimitExceeded' }]), [jpod(0, term(3)), jpod(1, term(0))]);
    expect(bad).toMatchObject({ phase: 'Failed', exitCode: 3, reason: 'Error: exit code 3' });
    expect(jobStatus(ref, job([{ type: 'Failed', reason: 'DeadlineExceeded' }]), [])).toMatchObject({ phase: 'Failed', reason: 'DeadlineExceeded' });
    expect(jobStatus(ref, job(), [jpod(0, { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available' }] })])).toMatchObject({ phase: 'Pending', reason: 'Unschedulable', message: '0/3 nodes are available' });
    expect(jobStatus(ref, undefined, [], 'cancelled by user')).toMatchObject({ phase: 'Cancelled', reason: 'cancelled by user' });
  });
});

describe('drift', () => {
  it('reports an undone hub cordon and a removed hub taint; a hand cordon is not drift', () => {
    expect(detectDrift(node({ unschedulable: true }))).toEqual([]);
    expect(detectDrift(node({ annotations: { [NODE_ANNOTATIONS.hubCordon]: 'x' } }))).toEqual([{ node: 'n0', field: 'unschedulable', desired: true, observed: false }]);
    expect(detectDrift(node({ unschedulable: true, annotations: { [NODE_ANNOTATIONS.hubCordon]: 'x' } }))).toEqual([]);
    const want = [{ key: 'k', value: 'v', effect: 'NoSchedule' }];
    expect(detectDrift(node({ annotations: { [NODE_ANNOTATIONS.hubTaints]: JSON.stringify(want) } }))[0]).toMatchObject({ field: 'taints', desired: want, observed: [] });
    expect(detectDrift(node({ taints: want, annotations: { [NODE_ANNOTATIONS.hubTaints]: JSON.stringify(want) } }))).toEqual([]);
  });
});
