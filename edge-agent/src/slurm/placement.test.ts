// What the Slurm driver adds to a dispatch's sbatch request: the Meridian job ID, the submitter's account,
// the hub's nodes (--nodelist) and GPU shares as gres/shard; broken inputs are refused naming the fix.
import { describe, expect, it } from 'vitest';
import type { DispatchCommand } from '@meridian/protocol/agent-protocol';
import { pinnedNodes, shardGres, slurmJobIdFor, submitRequestFor } from './translate.ts';

const base: DispatchCommand = {
  kind: 'dispatch', jobId: '42', attempt: 1, project: 'p', name: 'train', tasks: 2,
  perTask: { cpuMilli: 1000, memoryMiB: 1024, gpus: 1, rdma: 0 }, nodes: ['gpu-1', 'gpu-0'], env: {},
  maxRuntimeSec: 60, annotations: {}, script: '#!/bin/bash\ntrue\n',
};
const opts = { runtime: 'host' as const, defaultWorkDir: '/w' };

describe('job IDs', () => {
  it('a numeric Meridian ID Slurm can hold is asked for; anything else is left to Slurm', () => {
    expect(slurmJobIdFor('42')).toBe('42');
    expect(slurmJobIdFor('67108863')).toBe('67108863');
    for (const bad of ['0', '067', '67108864', '123456789', 'abc', '', '4 2']) expect(slurmJobIdFor(bad)).toBeUndefined();
    expect(submitRequestFor(base, { ...opts, jobIds: true }).jobId).toBe('42');
    expect('jobId' in submitRequestFor(base, opts)).toBe(false);
  });
});

describe('identity', () => {
  it('runAs becomes uid/gid; without it the request names no account', () => {
    expect(submitRequestFor(base, { ...opts, runAs: { uid: 1001, gid: 1002 } })).toMatchObject({ uid: 1001, gid: 1002 });
    const r = submitRequestFor(base, opts);
    expect('uid' in r || 'gid' in r).toBe(false);
  });
});

describe('pinning', () => {
  it('the hub’s nodes, once each, as --nodelist; none when the hub named none or pinning is off', () => {
    expect(submitRequestFor({ ...base, nodes: ['gpu-1', 'gpu-1'] }, opts).nodeList).toBe('gpu-1');
    expect(submitRequestFor(base, opts).nodeList).toBe('gpu-1,gpu-0');
    expect(submitRequestFor({ ...base, nodes: [] }, opts).nodeList).toBeUndefined();
    expect(submitRequestFor(base, { ...opts, pin: false }).nodeList).toBeUndefined();
  });
  it('an array over several nodes is not pinned (each task is its own Slurm job); on one node it is', () => {
    expect(pinnedNodes(base, true)).toBeUndefined();
    expect(pinnedNodes({ ...base, nodes: ['gpu-0'] }, true)).toBe('gpu-0');
  });
});

describe('GPU shares', () => {
  const share = (milliGpu: number): DispatchCommand => ({ ...base, tasks: 1, nodes: ['gpu-0'], perTask: { cpuMilli: 1000, memoryMiB: 512, gpus: 0, rdma: 0, milliGpu } });
  it('milli-GPU → shard count of one GPU, rounded up', () => {
    expect(shardGres(500, 10, '1')).toBe('shard:5');
    expect(shardGres(600, 10, '1')).toBe('shard:6');
    expect(shardGres(1, 10, '1')).toBe('shard:1');
    expect(shardGres(999, 4, '1')).toBe('shard:4');
    expect(submitRequestFor(share(500), { ...opts, shardsPerGpu: 10 })).toMatchObject({ nodes: 1, tasks: 1, tasksPerNode: 1, gres: 'shard:5', memoryPerNodeMiB: 512, nodeList: 'gpu-0' });
  });
  it('a cluster without shards refuses a share, naming the setting', () => {
    expect(() => submitRequestFor(share(500), opts)).toThrow('job 42 asks for 500 milli-GPU, but this Slurm cluster offers no GPU shares (gres/shard); start the agent with --slurm-shards-per-gpu matching gres.conf');
  });
});
