import { describe, expect, it } from 'vitest';
import { runCycle } from './cycle.ts';
import type { ClusterSpec, CycleInput, DatasetRef, PolicyName } from './model.ts';
import { cluster, job, node } from './fixtures.ts';

// Three clusters: cheap (2 free GPUs), dear (8 free GPUs), and one holding the dataset.
function fed(): ClusterSpec[] {
  return [
    cluster('cheap', [node('c1', 2)], { region: 'us', prices: { A100: { onDemand: 1 } } }),
    cluster('dear', [node('d1', 8)], { region: 'eu', prices: { A100: { onDemand: 5 } } }),
    cluster('data', [node('x1', 4)], {
      region: 'ap',
      prices: { A100: { onDemand: 3 } },
      links: [
        { region: 'us', bandwidthBytesPerSec: 1e9, egressUsdPerGB: 0.1 },
        { region: 'eu', bandwidthBytesPerSec: 1e9, egressUsdPerGB: 0.1 },
      ],
    }),
  ];
}
const ds: DatasetRef = { name: 'imagenet', sizeBytes: 10e9, cachedIn: ['data'], homeRegion: 'ap' };
const withPolicy = (policy: PolicyName, extra: Partial<CycleInput> = {}): CycleInput => ({
  now: 0,
  clusters: fed(),
  jobs: [job('j', { datasets: [ds] })],
  projects: [{ name: 'p', weight: 1, policy }],
  config: { maxPrewarmHoldSec: 1e9 },
  ...extra,
});

describe('cluster policies', () => {
  it('cost-first picks the cheapest $ including egress', () => {
    expect(runCycle(withPolicy('cost-first')).placements[0]!.clusterId).toBe('cheap');
  });
  it('inventory-first picks the cluster with the most free matching GPUs', () => {
    expect(runCycle(withPolicy('inventory-first')).placements[0]!.clusterId).toBe('dear');
  });
  it('locality-first picks the cluster already holding the data', () => {
    const out = runCycle(withPolicy('locality-first'));
    expect(out.placements[0]!.clusterId).toBe('data');
    expect(out.prewarms).toEqual([]);
  });
  it('balanced weights are per project: all weight on cost behaves like cost-first', () => {
    const input = withPolicy('balanced');
    input.projects = [{ name: 'p', weight: 1, policy: 'balanced', weights: { cost: 1, locality: 0, inventory: 0 } }];
    expect(runCycle(input).placements[0]!.clusterId).toBe('cheap');
    input.projects = [{ name: 'p', weight: 1, policy: 'balanced', weights: { cost: 0, locality: 1, inventory: 0 } }];
    expect(runCycle(input).placements[0]!.clusterId).toBe('data');
  });
  it("a job's own policy overrides its project's", () => {
    const input = withPolicy('inventory-first');
    input.jobs = [job('j', { datasets: [ds], policy: 'cost-first' })];
    expect(runCycle(input).placements[0]!.clusterId).toBe('cheap');
    input.jobs = [job('j', { datasets: [ds], policy: 'locality-first' })];
    expect(runCycle(input).placements[0]!.clusterId).toBe('data');
  });
  it('refuses an unknown per-job policy with the field named', () => {
    const input = withPolicy('inventory-first');
    input.jobs = [job('j', { policy: 'fastest' as PolicyName })];
    expect(runCycle(input).pending[0]!.reason).toMatch(/jobs\[0\]\.policy/);
  });
  it('cost counts egress: a big dataset makes the cheap-GPU cluster dearer', () => {
    const input = withPolicy('cost-first');
    // 100 TB × $0.1/GB = $10,000 egress outweighs $2/h of GPU savings.
    input.jobs = [job('j', { datasets: [{ ...ds, sizeBytes: 100e12 }] })];
    expect(runCycle(input).placements[0]!.clusterId).toBe('data');
  });
  it('uses spot prices for interruptible work', () => {
    const clusters = [
      cluster('od', [node('a', 1)], { prices: { A100: { onDemand: 1, spot: 0.9 } } }),
      cluster('sp', [node('b', 1)], { prices: { A100: { onDemand: 2, spot: 0.2 } } }),
    ];
    const run = (tier: 'batch' | 'interruptible') =>
      runCycle({ now: 0, clusters, jobs: [job('j', { tier })], config: { defaultPolicy: 'cost-first' } }).placements[0]!.clusterId;
    expect(run('batch')).toBe('od');
    expect(run('interruptible')).toBe('sp');
  });
  it('honours region and cluster allow-lists and GPU-model constraints', () => {
    const clusters = [cluster('a', [node('a1', 2)], { region: 'us' }), cluster('b', [node('b1', 2, 'H100')], { region: 'eu' })];
    const out = runCycle({
      now: 0,
      clusters,
      jobs: [job('r', { regions: ['eu'], gpuModels: ['A100|H100'.split('|')[1]!] }), job('c', { clusters: ['a'] }), job('m', { regions: ['us'], gpuModels: ['H100'] })],
    });
    expect(out.placements.find((p) => p.jobId === 'r')!.clusterId).toBe('b');
    expect(out.placements.find((p) => p.jobId === 'c')!.clusterId).toBe('a');
    expect(out.pending.find((p) => p.jobId === 'm')!.reason).toBe('NoGPUModel(H100) in regions [us]');
  });
});

describe('data locality and prewarm', () => {
  it('requests a prewarm when the chosen cluster lacks the data', () => {
    const out = runCycle(withPolicy('cost-first'));
    expect(out.prewarms).toEqual([{ dataset: 'imagenet', clusterId: 'cheap', bytes: 10e9, forJobs: ['j'] }]);
  });
  it('does not hold GPUs through a long copy: pends as Prewarming with the copy ETA', () => {
    const input = withPolicy('cost-first', { config: { maxPrewarmHoldSec: 10 } });
    const out = runCycle(input);
    expect(out.placements).toEqual([]);
    expect(out.pending[0]!.code).toBe('Prewarming');
    expect(out.pending[0]!.reason).toBe('Prewarming(imagenet, 0%) on cheap');
    expect(out.pending[0]!.etaSec).toBeCloseTo(10e9 / 100e6); // default link 100 MB/s (no us link)
    expect(out.prewarms[0]!.clusterId).toBe('cheap');
  });
  it('reports prewarm progress and counts only the missing bytes', () => {
    const clusters = fed();
    clusters[0]!.prewarming = [{ dataset: 'imagenet', percent: 62 }];
    const out = runCycle(withPolicy('cost-first', { clusters, config: { maxPrewarmHoldSec: 10 } }));
    expect(out.pending[0]!.reason).toBe('Prewarming(imagenet, 62%) on cheap');
    expect(out.prewarms[0]!.bytes).toBe(3.8e9);
  });
  it('waits for the busy cluster holding the data when that is sooner than copying', () => {
    const clusters = fed();
    // The data cluster is full until a job ends in 60 s; copying 10 GB elsewhere takes 100 s.
    for (const g of clusters[2]!.nodes[0]!.gpus) g.milliUsed = 1000;
    const running = [
      { jobId: 'r', project: 'o', tier: 'realtime' as const, clusterId: 'data', gpuModel: 'A100', cpuMilli: 0, memoryMiB: 0, gpus: 4, tasks: [{ node: 'x1', gpuIndices: [0, 1, 2, 3] }], startedAt: 0, expectedRuntimeSec: 60 },
    ];
    const out = runCycle(withPolicy('locality-first', { clusters, running }));
    expect(out.placements).toEqual([]);
    expect(out.pending[0]!.code).toBe('WaitingForLocalData');
    expect(out.pending[0]!.etaSec).toBe(60);
  });
});

describe('pooled GPU models under balanced (FGD picks the model too)', () => {
  const fed2 = () => [cluster('c', [node('a', 8, 'A100'), node('t', 1, 'T4')], { prices: { A100: { onDemand: 2 }, T4: { onDemand: 0.5 } } })];
  const jobs = () => [job('small', { submittedAt: 0 }), job('big', { gpus: 8, submittedAt: 1 })];
  it('keeps the 8-GPU node whole by sending a 1-GPU task to the small node', () => {
    const out = runCycle({ now: 0, clusters: fed2(), jobs: jobs(), config: { defaultPolicy: 'balanced' } });
    expect(out.placements.map((p) => [p.jobId, p.gpuModel])).toEqual([
      ['small', 'T4'],
      ['big', 'A100'],
    ]);
    // The estimate uses the price of the model actually chosen.
    expect(out.placements[0]!.estimatedUsd).toBe(0.5);
  });
  it('per-model policies choose the model first (inventory-first takes the most free model)', () => {
    const out = runCycle({ now: 0, clusters: fed2(), jobs: jobs(), config: { defaultPolicy: 'inventory-first' } });
    expect(out.placements.map((p) => [p.jobId, p.gpuModel])).toEqual([['small', 'A100']]);
    expect(out.pending[0]!.jobId).toBe('big');
  });
});
