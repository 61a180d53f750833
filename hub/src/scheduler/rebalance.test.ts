import { describe, expect, it } from 'vitest';
import { runCycle } from './cycle.ts';
import { cluster, job, node, runningOn } from './fixtures.ts';

describe('rebalancing and migration', () => {
  it('reports a queued job moving to where stock appeared', () => {
    const a = cluster('a', [node('a1', 1)]);
    const b = cluster('b', [node('b1', 1)]);
    a.nodes[0]!.gpus[0]!.milliUsed = 1000;
    const out = runCycle({ now: 0, clusters: [a, b], jobs: [job('j', { targetCluster: 'a' })] });
    expect(out.placements[0]!.clusterId).toBe('b');
    expect(out.requeues).toEqual([{ jobId: 'j', from: 'a', to: 'b', reason: expect.stringContaining('placed on b') }]);
  });

  it('suggests migrating a checkpointable job when the saving passes the threshold, and not otherwise', () => {
    const dear = cluster('dear', [node('d', 4)], { prices: { A100: { onDemand: 10 } } });
    const cheap = cluster('cheap', [node('c', 4)], { prices: { A100: { onDemand: 1 } } });
    const running = [runningOn(dear, 'd', [0, 1, 2, 3], { jobId: 'ck', tier: 'batch', checkpointable: true, expectedRuntimeSec: 10 * 3600 })];
    const input = { now: 0, clusters: [dear, cheap], jobs: [], running, config: { migration: { enabled: true, minSavingUsd: 100, minSavingFraction: 0.3 } } };
    const out = runCycle(input);
    expect(out.migrations).toHaveLength(1);
    expect(out.migrations[0]).toMatchObject({ jobId: 'ck', from: 'dear', to: 'cheap', gpuModel: 'A100' });
    // $400 to finish on dear vs 4 GPUs × (10 h + 10 min restart) × $1 on cheap.
    expect(out.migrations[0]!.savingUsd).toBeCloseTo(400 - 4 * (10 + 1 / 6), 1);
    expect(runCycle({ ...input, config: { migration: { enabled: true, minSavingUsd: 1000 } } }).migrations).toEqual([]);
    expect(runCycle({ ...input, config: {} }).migrations).toEqual([]);
    running[0]!.checkpointable = false;
    expect(runCycle(input).migrations).toEqual([]);
  });
});

describe('admission signal', () => {
  it('says 429 when a tier or project queue is past its bound, with Retry-After from the ETAs', () => {
    const c = cluster('c', [node('n', 1)]);
    const running = [runningOn(c, 'n', [0], { jobId: 'r', tier: 'realtime', expectedRuntimeSec: 120 })];
    const out = runCycle({
      now: 0,
      clusters: [c],
      running,
      jobs: [job('a'), job('b', { submittedAt: 1 }), job('c', { submittedAt: 2 })],
      projects: [{ name: 'p', weight: 1, maxPending: 2 }],
      config: { admission: { maxPendingPerTier: { batch: 5 } } },
    });
    const batch = out.admission.find((s) => s.scope === 'tier' && s.key === 'batch')!;
    expect(batch).toMatchObject({ pending: 3, bound: 5, admit: true });
    const p = out.admission.find((s) => s.scope === 'project' && s.key === 'p')!;
    expect(p).toMatchObject({ pending: 3, bound: 2, admit: false, retryAfterSec: 120 });
  });
});
