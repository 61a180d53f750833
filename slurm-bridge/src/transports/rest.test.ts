import { describe, expect, it } from 'vitest';
import { nodeFromRest } from './rest.ts';

describe('slurmrestd node', () => {
  it('GPUs in use join whole GPUs and GPUs holding shards by index', () => {
    const n = (gres_used: string | undefined) => nodeFromRest({ name: 'gpu-0', gres: 'gpu:a100:4,shard:a100:40', gres_used }).gresUsed;
    expect(n('gpu:a100:1(IDX:0),shard:a100:5(IDX:2)')).toEqual([{ name: 'gpu', type: 'a100', count: 2 }]);
    expect(n('gpu:a100:0(IDX:N/A),shard:a100:0(IDX:N/A)')).toEqual([{ name: 'gpu', type: 'a100', count: 0 }]);
    expect(n(undefined)).toEqual([{ name: 'gpu', type: 'a100', count: 0 }]);
    expect(nodeFromRest({ name: 'cpu-0', gres: '' }).gresUsed).toEqual([]);
  });
});
