import { describe, expect, it } from 'vitest';
import { runCycle } from './cycle.ts';
import type { RunningAllocation, Tier } from './model.ts';
import { cluster, job, node, runningOn } from './fixtures.ts';

// One node of 4 GPUs, fully used by the given running jobs (one GPU each).
function full(tiers: { tier: Tier; checkpointable?: boolean; startedAt?: number }[]) {
  const c = cluster('c', [node('n', tiers.length)]);
  const running: RunningAllocation[] = tiers.map((t, i) => runningOn(c, 'n', [i], { jobId: `v${i}`, ...t }));
  return { c, running };
}

describe('preemption', () => {
  it('evicts only strictly lower tiers', () => {
    const { c, running } = full([{ tier: 'batch' }, { tier: 'batch' }]);
    const out = runCycle({ now: 0, clusters: [c], running, jobs: [job('b', { tier: 'batch' })] });
    expect(out.preemptions).toEqual([]);
    expect(out.pending[0]!.code).toBe('InsufficientGPU');
    const rt = runCycle({ now: 0, clusters: [c], running, jobs: [job('r', { tier: 'realtime' })] });
    expect(rt.preemptions).toHaveLength(1);
    expect(rt.placements[0]!.jobId).toBe('r');
  });

  it('never evicts realtime, and filler never preempts anyone', () => {
    const { c, running } = full([{ tier: 'realtime' }, { tier: 'filler' }]);
    const out = runCycle({ now: 0, clusters: [c], running, jobs: [job('r', { tier: 'realtime', gpus: 2 })] });
    expect(out.preemptions).toEqual([]);
    const f = full([{ tier: 'filler' }]);
    const out2 = runCycle({ now: 0, clusters: [f.c], running: f.running, jobs: [job('f', { tier: 'filler' })] });
    expect(out2.preemptions).toEqual([]);
  });

  it('prefers filler, then checkpointable, then least lost work, and evicts no more than needed', () => {
    const { c, running } = full([
      { tier: 'interruptible', startedAt: 0 },
      { tier: 'interruptible', checkpointable: true, startedAt: 0 },
      { tier: 'filler', startedAt: 0 },
      { tier: 'interruptible', startedAt: 3_000_000 },
    ]);
    const now = 3_600_000;
    const one = runCycle({ now, clusters: [c], running, jobs: [job('b', { tier: 'batch' })] });
    expect(one.preemptions[0]!.victims).toEqual(['v2']);
    const two = runCycle({ now, clusters: [c], running, jobs: [job('b', { tier: 'batch', gpus: 2 })] });
    expect(two.preemptions[0]!.victims).toEqual(['v2', 'v1']);
    const three = runCycle({ now, clusters: [c], running, jobs: [job('b', { tier: 'batch', gpus: 3 })] });
    // v3 started 10 min ago loses less than v0 (1 h).
    expect(three.preemptions[0]!.victims).toEqual(['v2', 'v1', 'v3']);
  });

  it('chooses the cluster needing the fewest victims', () => {
    const a = cluster('a', [node('a1', 2)]);
    const b = cluster('b', [node('b1', 2)]);
    const running = [runningOn(a, 'a1', [0], { jobId: 'a0' }), runningOn(a, 'a1', [1], { jobId: 'a1' }), runningOn(b, 'b1', [0, 1], { jobId: 'b01' })];
    const out = runCycle({ now: 0, clusters: [a, b], running, jobs: [job('r', { tier: 'realtime', gpus: 2 })] });
    expect(out.preemptions[0]).toMatchObject({ clusterId: 'b', victims: ['b01'] });
  });

  it('can be turned off', () => {
    const { c, running } = full([{ tier: 'filler' }]);
    const out = runCycle({ now: 0, clusters: [c], running, jobs: [job('r', { tier: 'realtime' })], config: { preemption: false } });
    expect(out.preemptions).toEqual([]);
  });
});
