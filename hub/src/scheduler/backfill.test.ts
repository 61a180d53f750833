import { describe, expect, it } from 'vitest';
import { runCycle } from './cycle.ts';
import { cluster, job, node, runningOn } from './fixtures.ts';

// 8 GPUs: 6 busy with realtime work ending in 1 h, so 2 free now. A gang of 8 waits for the hour.
function setup() {
  const c = cluster('c', [node('n', 8)]);
  const running = [runningOn(c, 'n', [0, 1, 2, 3, 4, 5], { jobId: 'rt', tier: 'realtime', expectedRuntimeSec: 3600 })];
  return { c, running };
}

describe('backfill around the head-of-line gang', () => {
  it('lets short jobs run in the gap but holds long ones that would delay the gang', () => {
    const { c, running } = setup();
    const out = runCycle({
      now: 0,
      clusters: [c],
      running,
      jobs: [
        job('gang', { gpus: 8, submittedAt: 0 }),
        job('short', { expectedRuntimeSec: 1800, submittedAt: 1 }),
        job('long', { expectedRuntimeSec: 7200, submittedAt: 2 }),
      ],
    });
    expect(out.placements.map((p) => p.jobId)).toEqual(['short']);
    const gang = out.pending.find((p) => p.jobId === 'gang')!;
    expect(gang.code).toBe('WaitingForGang');
    expect(gang.etaSec).toBe(3600);
    const long = out.pending.find((p) => p.jobId === 'long')!;
    expect(long.code).toBe('HeldForReservation');
    expect(long.reason).toContain('reserved for gang gang');
  });

  it('lets long jobs use capacity the gang will not need (extra)', () => {
    const c = cluster('c', [node('n', 8), node('m', 2)]);
    const running = [runningOn(c, 'n', [0, 1, 2, 3, 4, 5], { jobId: 'rt', tier: 'realtime', expectedRuntimeSec: 3600 })];
    const out = runCycle({ now: 0, clusters: [c], running, jobs: [job('gang', { gpus: 8 }), job('long', { expectedRuntimeSec: 7200, submittedAt: 2 })] });
    expect(out.placements.map((p) => p.jobId)).toEqual(['long']);
  });

  it('filler may soak up reserved GPUs (it is evicted first when the gang is ready)', () => {
    const { c, running } = setup();
    const out = runCycle({ now: 0, clusters: [c], running, jobs: [job('gang', { gpus: 8 }), job('fill', { tier: 'filler', expectedRuntimeSec: 1e6 })] });
    expect(out.placements.map((p) => p.jobId)).toEqual(['fill']);
  });

  it('without backfill, long jobs take the gap and the gang reservation is not enforced', () => {
    const { c, running } = setup();
    const out = runCycle({ now: 0, clusters: [c], running, config: { backfill: false }, jobs: [job('gang', { gpus: 8 }), job('long', { expectedRuntimeSec: 7200, submittedAt: 2 })] });
    expect(out.placements.map((p) => p.jobId)).toEqual(['long']);
  });
});
