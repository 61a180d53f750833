// Slurm semantics at the hub: cluster eligibility of Slurm-only requests and dependency verdicts.
import { describe, expect, it } from 'vitest';
import { dependencyJobIds, eligibleClusters, evaluateDependency, knownPartitions, NO_CLUSTER, parseDependency, type ClusterNodes, type PrereqState } from './slurm-rules.ts';
import { toSchedulerJob } from './input.ts';
import { JobSpecSchema } from '@meridian/protocol/job-spec';

const ann = (o: Record<string, string>) => ({ annotations: Object.fromEntries(Object.entries(o).map(([k, v]) => [`slurm.meridian.dev/${k}`, v])) });
const clusters: ClusterNodes[] = [
  { id: 'us-east', kind: 'kubernetes', nodes: [{ name: 'k0', labels: {} }] },
  { id: 'hpc', kind: 'slurm', nodes: [{ name: 'node0', labels: { 'slurm.meridian.dev/partitions': 'gpu,debug', 'slurm.meridian.dev/feature.a100': 'true' } }, { name: 'node1', labels: { 'slurm.meridian.dev/partitions': 'gpu' } }] },
  { id: 'hpc2', kind: 'slurm', nodes: [{ name: 'cn1', labels: { 'slurm.meridian.dev/partitions': 'long' } }] },
];

describe('Slurm-only requests place on Slurm clusters only', () => {
  it('no request: anywhere', () => {
    expect(eligibleClusters(ann({ jobName: 'x', output: 'o' }), clusters)).toBeUndefined();
  });
  it('partition, nodelist and a single-feature constraint pick the clusters that have them', () => {
    expect(eligibleClusters(ann({ partition: 'gpu' }), clusters)).toEqual(['hpc']);
    expect(eligibleClusters(ann({ partition: 'long,debug' }), clusters)).toEqual(['hpc', 'hpc2']);
    expect(eligibleClusters(ann({ partition: 'nowhere' }), clusters)).toEqual([]);
    expect(eligibleClusters(ann({ nodelist: 'node0,node1' }), clusters)).toEqual(['hpc']);
    expect(eligibleClusters(ann({ nodelist: 'node[0-1]' }), clusters)).toEqual(['hpc', 'hpc2']);
    expect(eligibleClusters(ann({ constraint: 'a100' }), clusters)).toEqual(['hpc']);
    expect(eligibleClusters(ann({ constraint: 'a100|h100' }), clusters)).toEqual(['hpc', 'hpc2']);
    expect([...knownPartitions(clusters)].sort()).toEqual(['debug', 'gpu', 'long']);
    expect(eligibleClusters(ann({ array: '0-3', nodes: '2' }), clusters)).toEqual(['hpc', 'hpc2']);
    expect(eligibleClusters(ann({ array: '0-3', nodes: '1' }), clusters)).toBeUndefined();
  });
  it('the scheduler job carries the restriction, intersected with placement.clusters; none left = a cluster that does not exist', () => {
    const spec = JobSpecSchema.parse({ name: 'j', workload: { script: '#!/bin/sh\ntrue\n' }, ...ann({ partition: 'gpu' }) });
    const row = { id: '1', project: 'p', tier: 'batch' as const, priority: 0, spec, submitted_ms: 0 };
    expect(toSchedulerJob(row, ['hpc']).clusters).toEqual(['hpc']);
    expect(toSchedulerJob({ ...row, spec: { ...spec, placement: { clusters: ['us-east'] } } }, ['hpc']).clusters).toEqual([NO_CLUSTER]);
    expect(toSchedulerJob(row).clusters).toBeUndefined();
  });
});

describe('dependencies', () => {
  const jobs: Record<string, PrereqState> = {
    '10': { state: 'Succeeded', startedMs: 1000 },
    '11': { state: 'Failed', startedMs: 1000 },
    '12': { state: 'Running', startedMs: 1000 },
    '13': { state: 'Queued', startedMs: null },
    '14': { state: 'Cancelled', startedMs: null },
  };
  const v = (s: string, now = 2000, busy = false) => evaluateDependency(parseDependency(s), (id) => jobs[id], busy, now);

  it('parses every form and names the bad part', () => {
    expect(parseDependency('afterok:1:2,afterany:3')).toEqual({ op: 'all', terms: [{ type: 'afterok', jobs: [{ id: '1', plusMin: 0 }, { id: '2', plusMin: 0 }] }, { type: 'afterany', jobs: [{ id: '3', plusMin: 0 }] }] });
    expect(parseDependency('afterok:4?singleton').op).toBe('any');
    expect(dependencyJobIds(parseDependency('after:5+10,afterok:5:6_2'))).toEqual(['5', '6']);
    expect(() => parseDependency('afterok:1,afterok:2?afterok:3')).toThrow(/mixes/);
    expect(() => parseDependency('before:1')).toThrow(/"before:1" is not type:jobid/);
    expect(() => parseDependency('afterok:x')).toThrow(/"x" in "afterok:x" is not a job id/);
  });
  it('afterok / afternotok / afterany / after', () => {
    expect(v('afterok:10')).toBe('ready');
    expect(v('afterok:12')).toBe('wait');
    expect(v('afterok:11')).toBe('never');
    expect(v('afterok:14')).toBe('never');
    expect(v('afternotok:11')).toBe('ready');
    expect(v('afternotok:10')).toBe('never');
    expect(v('afternotok:13')).toBe('wait');
    expect(v('afterany:11:10')).toBe('ready');
    expect(v('afterany:12')).toBe('wait');
    expect(v('after:12')).toBe('ready');
    expect(v('after:13')).toBe('wait');
    expect(v('after:14')).toBe('ready');
    expect(v('after:12+1', 1000 + 59_000)).toBe('wait');
    expect(v('after:12+1', 1000 + 60_000)).toBe('ready');
    expect(v('afterok:999')).toBe('never');
  });
  it('"," needs all, "?" needs one; singleton waits while the same name runs', () => {
    expect(v('afterok:10,afterok:12')).toBe('wait');
    expect(v('afterok:10,afterok:11')).toBe('never');
    expect(v('afterok:11?afterok:10')).toBe('ready');
    expect(v('afterok:11?afterok:12')).toBe('wait');
    expect(v('afterok:11?afternotok:10')).toBe('never');
    expect(v('singleton', 0, true)).toBe('wait');
    expect(v('singleton', 0, false)).toBe('ready');
    expect(v('afterok:10,singleton', 0, true)).toBe('wait');
  });
});
