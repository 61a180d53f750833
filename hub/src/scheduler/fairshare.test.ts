import { describe, expect, it } from 'vitest';
import { runCycle } from './cycle.ts';
import { FairShare, fairOrder } from './fairshare.ts';
import { cluster, job, node, runningOn } from './fixtures.ts';

describe('weighted DRF ordering', () => {
  it('gives the next slot to the project with the smallest weighted dominant share', () => {
    const fs = new FairShare({ gpuMilli: 10_000, cpu: 100, mem: 100 }, new Map([['a', 1], ['b', 1]]));
    fs.charge('a', { gpuMilli: 0, cpu: 50, mem: 0 }); // a dominates on CPU (0.5)
    fs.charge('b', { gpuMilli: 3000, cpu: 0, mem: 0 }); // b: 0.3
    const q = new Map([['a', ['a1']], ['b', ['b1']]]);
    expect([...fairOrder(q, fs, 1)]).toEqual(['b1', 'a1']);
  });

  it('weights scale the share', () => {
    const fs = new FairShare({ gpuMilli: 10_000, cpu: 1, mem: 1 }, new Map([['a', 4], ['b', 1]]));
    fs.charge('a', { gpuMilli: 4000, cpu: 0, mem: 0 }); // 0.4 / 4 = 0.1
    fs.charge('b', { gpuMilli: 2000, cpu: 0, mem: 0 }); // 0.2 / 1
    expect([...fairOrder(new Map([['a', ['a1']], ['b', ['b1']]]), fs, 1)]).toEqual(['a1', 'b1']);
  });

  it('in a cycle, an idle project gets GPUs before a heavy user even if it submitted later', () => {
    const c = cluster('c', [node('n', 4)]);
    const running = [runningOn(c, 'n', [0, 1], { jobId: 'heavy-run', project: 'heavy', tier: 'realtime' })];
    const jobs = [
      job('h1', { project: 'heavy', submittedAt: 0 }),
      job('h2', { project: 'heavy', submittedAt: 1 }),
      job('l1', { project: 'light', submittedAt: 5 }),
      job('l2', { project: 'light', submittedAt: 6 }),
    ];
    const out = runCycle({ now: 10, clusters: [c], running, jobs, projects: [{ name: 'heavy', weight: 1 }, { name: 'light', weight: 1 }] });
    expect(out.placements.map((p) => p.jobId).sort()).toEqual(['l1', 'l2']);
  });

  it('orders by tier before fair share, and by priority then age inside a project', () => {
    const c = cluster('c', [node('n', 2)]);
    const jobs = [
      job('old', { submittedAt: 0 }),
      job('young-high', { submittedAt: 9, priority: 5 }),
      job('filler', { tier: 'filler', project: 'idle' }),
      job('rt', { tier: 'realtime', submittedAt: 10 }),
    ];
    const out = runCycle({ now: 10, clusters: [c], jobs });
    expect(out.placements.map((p) => p.jobId)).toEqual(['rt', 'young-high']);
  });
});
