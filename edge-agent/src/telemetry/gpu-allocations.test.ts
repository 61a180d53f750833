import { describe, expect, it } from 'vitest';
import {
  allocationsFromPodResources,
  allocationsFromSlurmJobs,
  combineAllocationSources,
  gpuIndexKey,
  gpuIndicesOfGres,
  gpuUuidOfDevice,
  isGpuResource,
  parseIndexList,
  parseSlurmGpuJobs,
} from './gpu-allocations.ts';
import { StaticGpuSource, TelemetryCollector } from './collector.ts';
import type { GpuReading } from './collector.ts';
import { SCONTROL_JOBS } from './testing/scontrol-sample.ts';

function testGpu(index: number): GpuReading {
  return { index, uuid: `GPU-${index}-0000`, name: 'NVIDIA A100', pciBusId: `00000000:1${index}:00.0`, health: 'ok', metrics: { gpu_util: 40 } };
}

describe('PodResources → GPU allocations', () => {
  it('maps nvidia.com/gpu device ids (GPU UUIDs) to namespace/pod/container and ignores other resources', () => {
    const m = allocationsFromPodResources({
      pod_resources: [
        {
          name: 'train-0',
          namespace: 'team-a',
          containers: [
            { name: 'main', devices: [{ resource_name: 'nvidia.com/gpu', device_ids: ['GPU-aaaa', 'GPU-bbbb'] }, { resource_name: 'rdma/hca', device_ids: ['mlx5_0'] }] },
            { name: 'sidecar', devices: [] },
          ],
        },
        { name: 'infer-1', namespace: 'team-b', containers: [{ name: 'srv', devices: [{ resource_name: 'nvidia.com/gpu.shared', device_ids: ['GPU-cccc::3'] }] }] },
        { name: 'mig', namespace: 'team-c', containers: [{ name: 'x', devices: [{ resource_name: 'nvidia.com/mig-1g.10gb', device_ids: ['MIG-1234'] }] }] },
      ],
    });
    expect(Object.fromEntries(m)).toEqual({
      'GPU-aaaa': { namespace: 'team-a', pod: 'train-0', container: 'main' },
      'GPU-bbbb': { namespace: 'team-a', pod: 'train-0', container: 'main' },
      'GPU-cccc': { namespace: 'team-b', pod: 'infer-1', container: 'srv' },
    });
  });

  it('a GPU shared by several containers goes to the first in namespace/pod/container order, whatever the answer order', () => {
    const dev = (id: string) => [{ resource_name: 'nvidia.com/gpu', device_ids: [id] }];
    const pods = [
      { name: 'b', namespace: 'ns', containers: [{ name: 'c', devices: dev('GPU-x::1') }] },
      { name: 'a', namespace: 'ns', containers: [{ name: 'z', devices: dev('GPU-x::0') }] },
    ];
    expect(allocationsFromPodResources({ pod_resources: pods }).get('GPU-x')).toEqual({ namespace: 'ns', pod: 'a', container: 'z' });
    expect(allocationsFromPodResources({ pod_resources: [...pods].reverse() }).get('GPU-x')).toEqual({ namespace: 'ns', pod: 'a', container: 'z' });
  });

  it('tolerates empty and partial answers (proto3 leaves unset fields out)', () => {
    expect(allocationsFromPodResources({}).size).toBe(0);
    expect(allocationsFromPodResources({ pod_resources: [{ name: 'p' }, { namespace: 'n' }, { name: 'p', namespace: 'n', containers: [{ devices: [{ device_ids: ['GPU-1'] }] }] }] }).size).toBe(0);
    expect(allocationsFromPodResources({ pod_resources: [{ name: 'p', namespace: 'n', containers: [{ devices: [{ resource_name: 'nvidia.com/gpu', device_ids: ['', 'GPU-1'] }] }] }] })).toEqual(new Map([['GPU-1', { namespace: 'n', pod: 'p' }]]));
    expect(gpuUuidOfDevice('GPU-1::12')).toBe('GPU-1');
    expect(isGpuResource('nvidia.com/gpu')).toBe(true);
    expect(isGpuResource('nvidia.com/gpus')).toBe(false);
    expect(isGpuResource('amd.com/gpu')).toBe(false);
  });
});

describe('Slurm → GPU allocations', () => {
  it('reads the GPU indices each running job holds on this node from scontrol show job -d -o', () => {
    const gpu0 = parseSlurmGpuJobs(SCONTROL_JOBS, 'gpu-0');
    expect([...gpu0].map(([i, j]) => [i, j.jobId])).toEqual([
      [0, '1'],
      [1, '1'],
      [2, '2'],
      [3, '3'],
    ]);
    expect(gpu0.get(0)).toEqual({ jobId: '1', state: 'RUNNING', federationJobId: 'job-7f3a' });
    const gpu1 = parseSlurmGpuJobs(SCONTROL_JOBS, 'gpu-1');
    expect([...gpu1].map(([i, j]) => [i, j.jobId])).toEqual([
      [0, '3'],
      [1, '6'],
      [2, '6'],
    ]);
    expect(gpu1.get(1)).toMatchObject({ jobId: '6', arrayJobId: '5', arrayTaskId: '0' });
    expect(parseSlurmGpuJobs(SCONTROL_JOBS, 'gpu-9').size).toBe(0);
  });

  it('skips pending and finished jobs, garbage lines and unreadable GRES', () => {
    const text = [
      'JobId=9 JobState=COMPLETED NodeList=gpu-0   Nodes=gpu-0 CPU_IDs=0 Mem=1 GRES=gpu:1(IDX:0)',
      'JobId=10 JobState=COMPLETING NodeList=gpu-0   Nodes=gpu-0 CPU_IDs=0 Mem=1 GRES=gpu:1(IDX:1)',
      'JobId=11 JobState=RUNNING NodeList=gpu-0   Nodes=gpu-0 CPU_IDs=0 Mem=1 GRES=gpu:1(IDX:N/A)',
      'JobId=x JobState=RUNNING   Nodes=gpu-0 GRES=gpu:1(IDX:2)',
      'slurm_load_jobs error: Invalid job id specified',
      'JobId=12 JobState=RUNNING NodeList=gpu-0   Nodes=gpu-0 CPU_IDs=0 Mem=1 GRES=gpu(IDX:3),mps:100(IDX:3)',
      '',
    ].join('\n');
    expect([...parseSlurmGpuJobs(text, 'gpu-0')].map(([i, j]) => [i, j.jobId])).toEqual([
      [1, '10'],
      [3, '12'],
    ]);
  });

  it('parses GRES index lists', () => {
    expect(gpuIndicesOfGres('gpu:a100:1(IDX:3),gpu:v100:2(IDX:0,5)')).toEqual([3, 0, 5]);
    expect(gpuIndicesOfGres('gpu:4(IDX:0-1,3)')).toEqual([0, 1, 3]);
    expect(gpuIndicesOfGres('gres/gpu:2(IDX:6-7)')).toEqual([6, 7]);
    expect(gpuIndicesOfGres('mps:200(IDX:0)')).toEqual([]);
    expect(gpuIndicesOfGres('gpu:2')).toEqual([]);
    expect(gpuIndicesOfGres('')).toEqual([]);
    expect(parseIndexList('3-1')).toBeNull();
    expect(parseIndexList('0-1,x')).toBeNull();
  });

  it('labels a Slurm job GPU with slurm_job_id, hpc_job and the federation job id through the collector', async () => {
    const allocs = allocationsFromSlurmJobs(parseSlurmGpuJobs(SCONTROL_JOBS, 'gpu-0'));
    expect(allocs.get(gpuIndexKey(0))).toEqual({ slurmJobId: '1', hpcJob: '1', jobId: 'job-7f3a' });
    const c = new TelemetryCollector({
      gpus: new StaticGpuSource([testGpu(0), testGpu(2)]),
      allocations: combineAllocationSources([
        { allocations: async () => new Map([['GPU-2-0000', { namespace: 'ns', pod: 'p' }]]) },
        { allocations: async () => allocs },
      ]),
      hostname: 'gpu-0',
      cluster: 'hpc',
    });
    const scrape = await c.collect();
    const util = scrape.series
      .filter((s) => s.labels.some((l) => l.value === 'DCGM_FI_DEV_GPU_UTIL'))
      .map((s) => Object.fromEntries(s.labels.map((l) => [l.name, l.value])));
    expect(util.find((l) => l.gpu === '0')).toMatchObject({ slurm_job_id: '1', hpc_job: '1', meridian_job_id: 'job-7f3a' });
    // the UUID match wins over the index match
    expect(util.find((l) => l.gpu === '2')).toMatchObject({ namespace: 'ns', pod: 'p' });
    expect(util.find((l) => l.gpu === '2')).not.toHaveProperty('slurm_job_id');
    expect(await c.registry.metrics()).toMatch(/DCGM_FI_DEV_GPU_UTIL\{[^}]*slurm_job_id="1"/);
  });

  const bad0 = () => ({ allocations: async (): Promise<never> => Promise.reject(new Error('down')) });

  it('combineAllocationSources keeps what works when one source fails, and fails only when all do', async () => {
    const none = { allocations: async () => new Map() };
    expect((await combineAllocationSources([bad0(), none]).allocations()).size).toBe(0);
    const ok = { allocations: async () => new Map([['GPU-1', { pod: 'p' }]]) };
    const bad = { allocations: async (): Promise<never> => Promise.reject(new Error('kubelet gone')) };
    expect((await combineAllocationSources([bad, ok]).allocations()).get('GPU-1')).toEqual({ pod: 'p' });
    await expect(combineAllocationSources([bad]).allocations()).rejects.toThrow('kubelet gone');
  });
});
