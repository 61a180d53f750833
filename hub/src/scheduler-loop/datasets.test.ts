import { describe, expect, it } from 'vitest';
import type { ClusterSpec, JobSpec } from '../scheduler/index.ts';
import type { CacheFact } from '../store/repos/datasets.ts';
import { applyLocality } from './datasets.ts';

const job = (id: string): JobSpec => ({ id, project: 'p', tier: 'batch', tasks: 1, cpuMilli: 1000, memoryMiB: 1024, gpus: 1, expectedRuntimeSec: 60, submittedAt: 0 });
const cluster = (id: string): ClusterSpec => ({ id, region: `${id}-r`, kind: 'kubernetes', prices: {}, links: [], nodes: [] });

describe('applyLocality', () => {
  const facts: CacheFact[] = [
    { name: 'imagenet', sizeBytes: 100, homeRegion: 'a-r', clusterId: 'b', state: 'cached', percent: 100 },
    { name: 'imagenet', sizeBytes: 100, homeRegion: 'a-r', clusterId: 'a', state: 'cached', percent: 100 },
    { name: 'imagenet', sizeBytes: 100, homeRegion: 'a-r', clusterId: 'c', state: 'prewarming', percent: 62 },
    { name: 'laion', sizeBytes: 7, homeRegion: 'x', clusterId: null, state: null, percent: null },
    { name: 'laion', sizeBytes: 7, homeRegion: 'x', clusterId: 'c', state: 'failed', percent: 0 },
  ];

  it('gives jobs the registry view of their datasets and clusters their copies in flight', () => {
    const jobs = [job('1'), job('2'), job('3')];
    const clusters = [cluster('a'), cluster('c')];
    const requested = new Map([
      ['1', [{ name: 'imagenet' }, { name: 'unregistered', sizeBytes: 5 }]],
      ['2', [{ name: 'laion', sizeBytes: 9 }]],
    ]);
    applyLocality(jobs, requested, clusters, facts);
    expect(jobs[0]!.datasets).toEqual([{ name: 'imagenet', sizeBytes: 100, homeRegion: 'a-r', cachedIn: ['a', 'b'] }]);
    // a failed copy is no cache; the job's own size wins over the registry's
    expect(jobs[1]!.datasets).toEqual([{ name: 'laion', sizeBytes: 9, homeRegion: 'x', cachedIn: [] }]);
    expect(jobs[2]!.datasets).toBeUndefined();
    expect(clusters[0]!.prewarming).toBeUndefined();
    expect(clusters[1]!.prewarming).toEqual([{ dataset: 'imagenet', percent: 62 }]);
  });
});
