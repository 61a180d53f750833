import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runCycle } from './cycle.ts';
import { SchedulerInputError, jobProblem, validateJob } from './validate.ts';
import type { CycleInput, JobSpec } from './model.ts';
import { parseGpuModels } from './model.ts';
import { cluster, job, node } from './fixtures.ts';

const base = (): CycleInput => ({ now: 0, clusters: [cluster('c', [node('n', 2)])], jobs: [] });

describe('input validation', () => {
  it('rejects broken cluster data with an error naming each field', () => {
    const input = base();
    input.clusters[0]!.nodes[0]!.cpuMilli = -5;
    input.clusters[0]!.nodes[0]!.gpus[1]!.milliUsed = 1200;
    try {
      runCycle(input);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SchedulerInputError);
      const paths = (e as SchedulerInputError).issues.map((i) => i.path);
      expect(paths).toEqual(['clusters[0].nodes[0].cpuMilli', 'clusters[0].nodes[0].gpus[1].milliUsed']);
      expect((e as Error).message).toContain('clusters[0].nodes[0].cpuMilli: must be a number >= 0 (got -5)');
    }
  });

  it('rejects non-array top-level fields and duplicate cluster ids', () => {
    expect(() => runCycle({ now: 0, clusters: 'x', jobs: [] } as unknown as CycleInput)).toThrow(/clusters: must be an array/);
    const input = base();
    input.clusters.push(cluster('c', []));
    expect(() => runCycle(input)).toThrow(/clusters\[1\]\.id: duplicate cluster id "c"/);
  });

  it('a broken job fails alone with an Invalid reason naming the field; others still schedule', () => {
    const input = base();
    input.jobs = [
      job('neg', { gpus: -1 }),
      job('both', { gpus: 1, milliGpu: 500 }),
      job('frac', { gpus: 0, milliGpu: 1500 }),
      { id: 'nulls' } as unknown as JobSpec,
      job('ok'),
      job('ok'),
    ];
    const out = runCycle(input);
    const r = Object.fromEntries(out.pending.map((p) => [p.jobId, p.reason]));
    expect(r.neg).toBe('Invalid(jobs[0].gpus: must be an integer >= 0 (got -1))');
    expect(r.both).toBe('Invalid(jobs[1].milliGpu: set either gpus (whole) or milliGpu (fractional), not both)');
    expect(r.frac).toBe('Invalid(jobs[2].milliGpu: must be an integer in 1..999 (got 1500))');
    expect(r.nulls).toMatch(/^Invalid\(jobs\[3\]\.project: must be a non-empty string/);
    expect(out.placements.map((p) => p.jobId)).toEqual(['ok']);
    expect(out.pending.find((p) => p.jobId === 'ok')!.reason).toBe('Invalid(jobs[5].id: duplicate job id in this cycle)');
  });

  it('unknown GPU models and oversized gangs get clear pending reasons', () => {
    const input = base();
    input.jobs = [job('m', { gpuModels: ['H200'] }), job('g', { tasks: 3 }), job('t', { gpus: 4 })];
    const r = Object.fromEntries(runCycle(input).pending.map((p) => [p.jobId, p.reason]));
    expect(r.m).toBe('NoGPUModel(H200) in the federation (model unknown to the federation)');
    expect(r.g).toBe('GangTooLarge(3 tasks need 3 GPUs on one cluster; the largest eligible cluster has 2 healthy GPUs)');
    expect(r.t).toBe('GangTooLarge(4 GPUs per task; the largest eligible node has 2 healthy GPUs)');
  });

  it('parses the A|B GPU-model form', () => {
    expect(parseGpuModels('V100M16|V100M32')).toEqual(['V100M16', 'V100M32']);
    expect(parseGpuModels(' A100 | ')).toEqual(['A100']);
    expect(parseGpuModels('')).toEqual([]);
  });
});

describe('job validation fast path', () => {
  it('accepts a job exactly when the full check finds no problem', () => {
    const anything = fc.constantFrom<unknown>(undefined, null, 0, -1, 1, 0.5, 999, 1000, 1e9, Number.NaN, Number.POSITIVE_INFINITY, '', 'x', 'batch', 'balanced', [], ['a'], [1], {});
    const field = <T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ weight: 4, arbitrary: good }, { weight: 1, arbitrary: anything });
    const jobArb = fc.record({
      id: field(fc.constant('j')),
      project: field(fc.constant('p')),
      tier: field(fc.constantFrom('realtime', 'batch', 'interruptible', 'filler')),
      tasks: field(fc.integer({ min: 1, max: 4 })),
      cpuMilli: field(fc.integer({ min: 0, max: 4000 })),
      memoryMiB: field(fc.integer({ min: 0, max: 4096 })),
      gpus: field(fc.integer({ min: 0, max: 8 })),
      milliGpu: field(fc.constantFrom(undefined, 0, 250)),
      priority: field(fc.constantFrom(undefined, -2, 3)),
      policy: field(fc.constantFrom(undefined, 'cost-first')),
      gpuModels: field(fc.constantFrom(undefined, ['A100'])),
      regions: field(fc.constantFrom(undefined, ['us'])),
      expectedRuntimeSec: field(fc.integer({ min: 1, max: 10_000 })),
      submittedAt: field(fc.integer({ min: 0, max: 10 })),
      datasets: field(fc.constantFrom(undefined, [{ name: 'd', sizeBytes: 10, cachedIn: ['c'], homeRegion: 'us' }], [{ name: 'd', sizeBytes: -1, cachedIn: [], homeRegion: 'us' }], [null])),
    });
    fc.assert(
      fc.property(jobArb, (j) => {
        expect(validateJob(j as JobSpec, 0)).toBe(jobProblem(j as JobSpec, 0));
      }),
      { numRuns: 2000 },
    );
  });
});
