import { describe, expect, it } from 'vitest';
import { meridianView, parseDescribeGpus, parseSinfoGpus } from './agreement.ts';

describe('sinfo -N -O NodeList,Gres,GresUsed', () => {
  it('counts whole GPUs by index and a GPU with any shard in use once', () => {
    const text = [
      'gpu-0    gpu:a100:1(S:0),shard:a100:10(S:0)    gpu:a100:0(IDX:N/A),shard:a100:5(IDX:0)   ',
      'gpu-1    gpu:a100:4(S:0)                       gpu:a100:3(IDX:0-1,3)                      ',
      'gpu-2    gpu:a100:4,shard:a100:40              gpu:a100:1(IDX:0),shard:a100:2(0/10,2/10,0/10,0/10)',
      'cpu-0    (null)                                (null)',
    ].join('\n');
    expect(parseSinfoGpus(text)).toEqual({ 'gpu-0': { gpus: 1, used: 1 }, 'gpu-1': { gpus: 4, used: 3 }, 'gpu-2': { gpus: 4, used: 2 }, 'cpu-0': { gpus: 0, used: 0 } });
  });
  it('reads a node listed once per partition once, and skips blank or cut lines', () => {
    expect(parseSinfoGpus('gpu-0 gpu:4 gpu:2(IDX:0-1)\ngpu-0 gpu:4 gpu:2(IDX:0-1)\n\ngarbage\n')).toEqual({ 'gpu-0': { gpus: 4, used: 2 } });
  });
});

describe('kubectl describe nodes', () => {
  const node = (name: string, alloc: string, requested: string) =>
    `Name:               ${name}\nRoles:              agent\nCapacity:\n  cpu:                8\n${alloc}Allocatable:\n  cpu:                8\n${alloc}System Info:\n  Machine ID:\n` +
    `Non-terminated Pods:          (1 in total)\n  Namespace  Name  CPU Requests\n  ---------  ----  ------------\n  x          p     1 (12%)\n` +
    `Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n  Resource           Requests    Limits\n  --------           --------    ------\n  cpu                1 (12%)     0 (0%)\n${requested}Events:              <none>\n`;
  it('allocatable GPUs and the GPUs requested by non-terminated pods; time-sliced replicas by the GPU', () => {
    const text =
      node('a100-0', '  nvidia.com/gpu:     4\n', '  nvidia.com/gpu     3           3\n') +
      node('ts-0', '  nvidia.com/gpu.shared:  10\n', '  nvidia.com/gpu.shared  6      6\n') +
      node('cpu-0', '', '');
    expect(parseDescribeGpus(text)).toEqual({ 'a100-0': { gpus: 4, used: 3 }, 'ts-0': { gpus: 1, used: 1 }, 'cpu-0': { gpus: 0, used: 0 } });
    expect(parseDescribeGpus('')).toEqual({});
  });
});

describe('meridian nodes columns', () => {
  it('gpus is allocatable, used counts GPUs with any milli-GPU in use', () => {
    const g = (milliUsed: number) => ({ index: 0, healthy: true, milliUsed });
    expect(meridianView([{ name: 'n', allocatable: { cpuMilli: 0, memoryMiB: 0, gpus: 3, rdma: 0 }, gpus: [g(1000), g(500), g(0)] }])).toEqual({ n: { gpus: 3, used: 2 } });
  });
});
