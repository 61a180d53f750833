import { describe, expect, it } from 'vitest';
import type { SlurmJob } from '@meridian/slurm-bridge/types';
import { DEFAULT_PREWARM_COMMAND, adoptable, datasetSlug, expectedSeconds, jobProgress, outputPath, prewarmSubmitRequest, slurmPrewarmConfig } from './prewarm.ts';

const job = (over: Partial<SlurmJob>): SlurmJob => ({
  jobId: '7',
  name: 'meridian-prewarm-imagenet',
  comment: 'meridian-prewarm:imagenet',
  user: 'root',
  partition: 'gpu',
  state: 'RUNNING',
  reason: 'None',
  exitCode: 0,
  signal: 0,
  nodeList: 'gpu-0',
  numNodes: 1,
  numCpus: 1,
  stdout: '/shared/meridian-prewarm-imagenet-%j.out',
  stderr: '',
  workDir: '/shared',
  tresPerNode: '',
  ...over,
});

describe('slurmPrewarmConfig', () => {
  it('defaults: the sleep-or-copy command, a cache under the work dir, 1 GB/s capped at an hour', () => {
    expect(slurmPrewarmConfig('/shared/', {})).toEqual({ command: DEFAULT_PREWARM_COMMAND, cacheDir: '/shared/.meridian-cache', bytesPerSec: 1e9, maxSeconds: 3600, pollMs: 1000 });
  });

  it('reads partition, time limit, command and cache dir', () => {
    const env = { MERIDIAN_PREWARM_PARTITION: 'io', MERIDIAN_PREWARM_TIME_LIMIT_MIN: '90', MERIDIAN_PREWARM_COMMAND: 'rclone copy s3:b/$MERIDIAN_DATASET "$MERIDIAN_PREWARM_TARGET"', MERIDIAN_PREWARM_CACHE_DIR: '/scratch/cache' };
    expect(slurmPrewarmConfig('/shared', env)).toMatchObject({ partition: 'io', timeLimitMin: 90, command: env.MERIDIAN_PREWARM_COMMAND, cacheDir: '/scratch/cache' });
  });

  it('refuses bad values naming the variable', () => {
    expect(() => slurmPrewarmConfig('/s', { MERIDIAN_PREWARM_BYTES_PER_SEC: '0' })).toThrow(/MERIDIAN_PREWARM_BYTES_PER_SEC must be a number > 0/);
    expect(() => slurmPrewarmConfig('/s', { MERIDIAN_PREWARM_TIME_LIMIT_MIN: 'soon' })).toThrow(/MERIDIAN_PREWARM_TIME_LIMIT_MIN must be a number > 0/);
    expect(() => slurmPrewarmConfig('/s', { MERIDIAN_PREWARM_PARTITION: 'a b' })).toThrow(/MERIDIAN_PREWARM_PARTITION must be one partition name/);
    expect(() => slurmPrewarmConfig('/s', { MERIDIAN_PREWARM_CACHE_DIR: 'cache' })).toThrow(/MERIDIAN_PREWARM_CACHE_DIR must be an absolute path/);
  });
});

describe('prewarmSubmitRequest', () => {
  const cfg = slurmPrewarmConfig('/shared', { MERIDIAN_PREWARM_BYTES_PER_SEC: '1e6' });

  it('names the job and comment after the dataset, sets the variables in the script and a time limit from the expected time', () => {
    const r = prewarmSubmitRequest({ dataset: "ima ge'net", sizeBytes: 600e6, source: 'far' }, cfg, '/shared');
    expect(r).toMatchObject({ name: 'meridian-prewarm-ima-ge-net', comment: "meridian-prewarm:ima ge'net", timeLimitMin: 25, tasks: 1, workDir: '/shared', stdout: '/shared/meridian-prewarm-ima-ge-net-%j.out' });
    expect(r.partition).toBeUndefined();
    expect(r.script).toContain(`export MERIDIAN_DATASET='ima ge'\\''net'\n`);
    expect(r.script).toContain("export MERIDIAN_PREWARM_EXPECTED_SECONDS='600'\n");
    expect(r.script).toContain("export MERIDIAN_PREWARM_TARGET='/shared/.meridian-cache/ima-ge-net'\n");
    expect(r.script).toContain("export MERIDIAN_DATASET_SOURCE='far'\n");
    expect(r.script.startsWith('#!/bin/bash\nset -eo pipefail\n')).toBe(true);
    expect(r.script.endsWith(`${DEFAULT_PREWARM_COMMAND}\n`)).toBe(true);
  });

  it('uses the configured partition and time limit', () => {
    expect(prewarmSubmitRequest({ dataset: 'd', sizeBytes: 1 }, { ...cfg, partition: 'io', timeLimitMin: 7 }, '/shared')).toMatchObject({ partition: 'io', timeLimitMin: 7 });
  });

  it('refuses a bad command naming the field', () => {
    expect(() => prewarmSubmitRequest({ dataset: ' ', sizeBytes: 1 }, cfg, '/s')).toThrow(/dataset must name a dataset/);
    expect(() => prewarmSubmitRequest({ dataset: 'd', sizeBytes: -1 }, cfg, '/s')).toThrow(/sizeBytes must be a number ≥ 0/);
  });
});

describe('pure helpers', () => {
  it('expected seconds: size / bandwidth, at least 1, capped', () => {
    expect(expectedSeconds(0, { bytesPerSec: 10, maxSeconds: 100 })).toBe(1);
    expect(expectedSeconds(55, { bytesPerSec: 10, maxSeconds: 100 })).toBe(6);
    expect(expectedSeconds(1e12, { bytesPerSec: 10, maxSeconds: 100 })).toBe(100);
  });

  it('slugs', () => {
    expect(datasetSlug('coco/2017 val')).toBe('coco-2017-val');
    expect(datasetSlug('///')).toBe('dataset');
  });

  it('adopts a live job, else a completed one; a failed copy is retried', () => {
    expect(adoptable([job({ jobId: '3', state: 'COMPLETED' }), job({ jobId: '5', state: 'PENDING' })])?.jobId).toBe('5');
    expect(adoptable([job({ jobId: '3', state: 'FAILED' }), job({ jobId: '12', state: 'COMPLETED' })])?.jobId).toBe('12');
    expect(adoptable([job({ jobId: '12', state: 'FAILED' }), job({ jobId: '3', state: 'COMPLETED' })])).toBeUndefined();
    expect(adoptable([])).toBeUndefined();
  });

  it('progress: pending 0, running elapsed / expected at most 99, then the outcome with state and exit code', () => {
    const t0 = Date.parse('2026-11-22T12:00:00Z');
    expect(jobProgress(job({ state: 'PENDING', startTime: new Date(t0 + 60_000) }), 10, t0)).toEqual({ phase: 'Running', percent: 0 });
    expect(jobProgress(job({ startTime: new Date(t0) }), 10, t0 + 4_500)).toEqual({ phase: 'Running', percent: 45 });
    expect(jobProgress(job({ startTime: new Date(t0) }), 10, t0 + 60_000)).toEqual({ phase: 'Running', percent: 99 });
    expect(jobProgress(job({ state: 'COMPLETED' }), 10, t0)).toEqual({ phase: 'Succeeded', percent: 100 });
    expect(jobProgress(job({ state: 'FAILED', exitCode: 1, reason: 'NonZeroExitCode' }), 10, t0)).toEqual({ phase: 'Failed', percent: 0, reason: 'copy job 7 FAILED ExitCode=1:0 (NonZeroExitCode)' });
    expect(jobProgress(job({ state: 'TIMEOUT', exitCode: 0, signal: 15 }), 10, t0).reason).toBe('copy job 7 TIMEOUT ExitCode=0:15');
  });

  it('output path with %j filled in, only when absolute and fully expanded', () => {
    expect(outputPath(job({}))).toBe('/shared/meridian-prewarm-imagenet-7.out');
    expect(outputPath(job({ stdout: 'rel.out' }))).toBeUndefined();
    expect(outputPath(job({ stdout: '/s/%x.out' }))).toBeUndefined();
  });
});
