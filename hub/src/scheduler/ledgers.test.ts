import { describe, expect, it } from 'vitest';
import { runCycle } from './cycle.ts';
import { cluster, job, node, runningOn } from './fixtures.ts';

describe('quotas', () => {
  it('caps total GPUs per project, counting running jobs and this cycle', () => {
    const c = cluster('c', [node('n', 8)]);
    const running = [runningOn(c, 'n', [0, 1], { jobId: 'r', project: 'p', tier: 'realtime' })];
    const out = runCycle({
      now: 0,
      clusters: [c],
      running,
      jobs: [job('a', { gpus: 2 }), job('b', { gpus: 1 })],
      projects: [{ name: 'p', weight: 1, quota: { totalGpus: 4 } }],
    });
    expect(out.placements.map((p) => p.jobId)).toEqual(['a']);
    expect(out.pending[0]).toMatchObject({ jobId: 'b', code: 'QuotaExceeded', reason: 'QuotaExceeded(project p: 4/4 GPUs in use, job needs 1)' });
  });

  it('names the quota, not capacity, when the only model with room is the one over quota', () => {
    // H100 is full; A100 has room but the project's A100 quota is spent.
    const c = cluster('c', [node('a', 2), node('h', 1, 'H100')]);
    const running = [runningOn(c, 'h', [0], { jobId: 'r', project: 'q', tier: 'batch', gpuModel: 'H100' })];
    const out = runCycle({ now: 0, clusters: [c], running, jobs: [job('j')], projects: [{ name: 'p', weight: 1, quota: { perModel: { A100: 0 } } }, { name: 'q', weight: 1 }] });
    expect(out.placements).toEqual([]);
    expect(out.pending[0]).toMatchObject({ jobId: 'j', code: 'QuotaExceeded' });
    expect(out.pending[0]!.reason).toMatch(/^QuotaExceeded\(project p: .*A100.*\); within it: InsufficientGPU\(1 GPU H100/);
  });

  it('caps per GPU model and lets the job use another model', () => {
    const c = cluster('c', [node('a', 2), node('h', 2, 'H100')]);
    const out = runCycle({
      now: 0,
      clusters: [c],
      jobs: [job('j1'), job('j2', { submittedAt: 1 })],
      projects: [{ name: 'p', weight: 1, quota: { perModel: { A100: 1, H100: 1 } } }],
    });
    expect(out.placements.map((p) => p.gpuModel).sort()).toEqual(['A100', 'H100']);
  });

  it('counts fractional GPUs as fractions', () => {
    const c = cluster('c', [node('n', 1)]);
    const out = runCycle({
      now: 0,
      clusters: [c],
      jobs: [job('a', { gpus: 0, milliGpu: 500 }), job('b', { gpus: 0, milliGpu: 500, submittedAt: 1 }), job('c', { gpus: 0, milliGpu: 100, submittedAt: 2 })],
      projects: [{ name: 'p', weight: 1, quota: { totalGpus: 1 } }],
    });
    expect(out.placements.map((p) => p.jobId)).toEqual(['a', 'b']);
    expect(out.pending[0]!.code).toBe('QuotaExceeded');
  });
});

describe('budgets', () => {
  it('stops placing when GPU-hours run out, spending within the cycle', () => {
    const c = cluster('c', [node('n', 8)]);
    const out = runCycle({
      now: 0,
      clusters: [c],
      jobs: [job('a', { gpus: 2 }), job('b', { gpus: 2, submittedAt: 1 })],
      projects: [{ name: 'p', weight: 1, budget: { gpuHours: 3 } }],
    });
    expect(out.placements.map((p) => p.jobId)).toEqual(['a']);
    expect(out.pending[0]!.reason).toBe('BudgetExhausted(project p: 1.0 GPU-hours left, job needs ~2.0)');
  });

  it('stops on money and picks a cheaper cluster that still fits the budget', () => {
    const dear = cluster('dear', [node('d', 8)], { prices: { A100: { onDemand: 10 } } });
    const cheap = cluster('cheap', [node('c', 1)], { prices: { A100: { onDemand: 1 } } });
    const out = runCycle({
      now: 0,
      clusters: [dear, cheap],
      jobs: [job('a'), job('b', { submittedAt: 1 })],
      projects: [{ name: 'p', weight: 1, policy: 'inventory-first', budget: { usd: 5 } }],
    });
    expect(out.placements).toMatchObject([{ jobId: 'a', clusterId: 'cheap' }]);
    // b can now afford only the cheap cluster, which is full: it waits for it rather than overspending,
    // and the reason names the budget (the dear cluster has room) before the capacity it waits for.
    expect(out.pending[0]).toMatchObject({ jobId: 'b', code: 'BudgetExhausted' });
    expect(out.pending[0]!.reason).toMatch(/^BudgetExhausted\(project p: \$4\.00 left, job needs ~\$10\.00\); within it: InsufficientGPU\(1 GPU A100/);
    const broke = runCycle({ now: 0, clusters: [dear], jobs: [job('x')], projects: [{ name: 'p', weight: 1, budget: { usd: 5 } }] });
    expect(broke.pending[0]!.reason).toBe('BudgetExhausted(project p: $5.00 left, job needs ~$10.00)');
  });
});
