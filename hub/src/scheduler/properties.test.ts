// Property tests of the scheduler's invariants over random federations, queues and running sets.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runCycle } from './cycle.ts';
import type { ClusterSpec, CycleInput, JobSpec, ProjectSpec, RunningAllocation, Tier } from './model.ts';
import { TIER_RANK, TIERS } from './model.ts';

const MODELS = ['A100', 'H100', 'T4'];
const PROJECTS = ['p0', 'p1', 'p2'];

const gpuArb = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ kind: 'free' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('whole' as const), tier: fc.constantFrom(...TIERS), ck: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('frac' as const), milli: fc.integer({ min: 1, max: 999 }), tier: fc.constantFrom(...TIERS) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'bad' as const }) },
);
const nodeArb = fc.record({
  model: fc.constantFrom(...MODELS),
  gpus: fc.array(gpuArb, { maxLength: 8 }),
  cpu: fc.integer({ min: 4, max: 64 }),
  cordoned: fc.boolean()
});
const clusterArb = fc.record({
  nodes: fc.array(nodeArb, { minLength: 1, maxLength: 5 }),
  price: fc.integer({ min: 1, max: 5 }),
  region: fc.constantFrom('us', 'eu'),
});
const jobArb = fc.record({
  tier: fc.constantFrom(...TIERS),
  project: fc.constantFrom(...PROJECTS),
  tasks: fc.integer({ min: 1, max: 3 }),
  gpus: fc.integer({ min: 0, max: 4 }),
  milli: fc.integer({ min: 0, max: 999 }),
  cpu: fc.integer({ min: 0, max: 8 }),
  models: fc.subarray(MODELS),
  runtime: fc.integer({ min: 60, max: 20_000 }),
  priority: fc.integer({ min: 0, max: 2 }),
  ck: fc.boolean(),
});
const projectArb = fc.record({
  weight: fc.integer({ min: 1, max: 4 }),
  quota: fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined }),
  usd: fc.option(fc.integer({ min: 0, max: 50 }), { nil: undefined }),
  policy: fc.constantFrom('inventory-first', 'cost-first', 'locality-first', 'balanced') as fc.Arbitrary<ProjectSpec['policy']>,
});

const inputArb = fc
  .record({
    clusters: fc.array(clusterArb, { minLength: 1, maxLength: 3 }),
    jobs: fc.array(jobArb, { maxLength: 14 }),
    projects: fc.tuple(projectArb, projectArb, projectArb),
    seed: fc.integer(),
    strategy: fc.constantFrom('fgd', 'best-fit', 'first-fit', 'random') as fc.Arbitrary<'fgd'>,
  })
  .map(({ clusters, jobs, projects, seed, strategy }): CycleInput => {
    const running: RunningAllocation[] = [];
    const specs: ClusterSpec[] = clusters.map((c, ci) => ({
      id: `c${ci}`,
      region: c.region,
      kind: 'kubernetes',
      prices: { A100: { onDemand: c.price, spot: c.price / 2 }, H100: { onDemand: c.price * 2 }, T4: { onDemand: c.price / 4 } },
      links: [],
      nodes: c.nodes.map((n, ni) => {
        let cpuAlloc = 0;
        const name = `n${ni}`;
        const gpus = n.gpus.map((g, gi) => {
          if (g.kind === 'bad') return { healthy: false, milliUsed: 0 };
          if (g.kind === 'free') return { healthy: true, milliUsed: 0 };
          cpuAlloc += 1000;
          const milli = g.kind === 'whole' ? 1000 : g.milli;
          running.push({
            jobId: `run-${ci}-${ni}-${gi}`,
            project: PROJECTS[gi % 3]!,
            tier: g.tier,
            clusterId: `c${ci}`,
            gpuModel: n.model,
            cpuMilli: 1000,
            memoryMiB: 0,
            gpus: g.kind === 'whole' ? 1 : 0,
            ...(g.kind === 'frac' ? { milliGpu: g.milli } : {}),
            tasks: [g.kind === 'whole' ? { node: name, gpuIndices: [gi] } : { node: name, gpuIndex: gi, milli: g.milli }],
            checkpointable: g.kind === 'whole' ? g.ck : false,
            startedAt: 0,
            expectedRuntimeSec: 600 * (gi + 1),
          });
          return { healthy: true, milliUsed: milli };
        });
        return { name, gpuModel: n.model, gpus, cpuMilli: Math.max(n.cpu * 1000, cpuAlloc), memoryMiB: 1 << 20, cpuAllocatedMilli: cpuAlloc, memoryAllocatedMiB: 0, schedulable: !n.cordoned };
      }),
    }));
    const js: JobSpec[] = jobs.map((j, i) => ({
      id: `j${i}`,
      project: j.project,
      tier: j.tier,
      priority: j.priority,
      tasks: j.tasks,
      cpuMilli: j.cpu * 1000,
      memoryMiB: 1024,
      gpus: j.gpus,
      ...(j.gpus === 0 && j.milli > 0 ? { milliGpu: j.milli } : {}),
      gpuModels: j.models,
      expectedRuntimeSec: j.runtime,
      checkpointable: j.ck,
      submittedAt: i,
    }));
    const ps: ProjectSpec[] = projects.map((p, i) => ({
      name: PROJECTS[i]!,
      weight: p.weight,
      ...(p.quota !== undefined ? { quota: { totalGpus: p.quota } } : {}),
      ...(p.usd !== undefined ? { budget: { usd: p.usd } } : {}),
      policy: p.policy,
    }));
    return { now: 1000, clusters: specs, jobs: js, running, projects: ps, config: { seed, nodeStrategy: strategy } };
  });

const milliOf = (j: { gpus: number; milliGpu?: number }): number => (j.gpus > 0 ? j.gpus * 1000 : (j.milliGpu ?? 0));

describe('scheduler invariants (fast-check)', () => {
  it('never over-allocates a node or GPU, and only uses healthy GPUs on schedulable nodes', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const out = runCycle(input);
        const state = structuredClone(input.clusters);
        const nodeOf = (cid: string, name: string) => state.find((c) => c.id === cid)!.nodes.find((n) => n.name === name)!;
        const evicted = new Set(out.preemptions.flatMap((p) => p.victims));
        for (const r of input.running!) {
          if (!evicted.has(r.jobId)) continue;
          for (const t of r.tasks) {
            const n = nodeOf(r.clusterId, t.node);
            n.cpuAllocatedMilli -= r.cpuMilli;
            if ('gpuIndex' in t) n.gpus[t.gpuIndex]!.milliUsed -= t.milli;
            else for (const g of t.gpuIndices) n.gpus[g]!.milliUsed -= 1000;
          }
        }
        const jobs = new Map(input.jobs.map((j) => [j.id, j]));
        for (const p of out.placements) {
          const j = jobs.get(p.jobId)!;
          for (const t of p.tasks) {
            const n = nodeOf(p.clusterId, t.node);
            expect(n.schedulable).toBe(true);
            n.cpuAllocatedMilli += j.cpuMilli;
            n.memoryAllocatedMiB += j.memoryMiB;
            const gs = 'gpuIndex' in t ? [[t.gpuIndex, t.milli]] : t.gpuIndices.map((g) => [g, 1000]);
            for (const [g, m] of gs) {
              expect(n.gpus[g!]!.healthy).toBe(true);
              n.gpus[g!]!.milliUsed += m!;
            }
          }
        }
        for (const c of state)
          for (const n of c.nodes) {
            expect(n.cpuAllocatedMilli).toBeLessThanOrEqual(n.cpuMilli);
            expect(n.memoryAllocatedMiB).toBeLessThanOrEqual(n.memoryMiB);
            for (const g of n.gpus) expect(g.milliUsed).toBeLessThanOrEqual(1000);
          }
      }),
      { numRuns: 300 },
    );
  }, 120_000);

  it('places gangs all-or-nothing on one cluster with the requested shape, and accounts for every job', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const out = runCycle(input);
        const seen = [...out.placements.map((p) => p.jobId), ...out.pending.map((p) => p.jobId)].sort();
        expect(seen).toEqual(input.jobs.map((j) => j.id).sort());
        for (const p of out.placements) {
          const j = input.jobs.find((x) => x.id === p.jobId)!;
          expect(p.tasks).toHaveLength(j.tasks);
          if (j.gpuModels?.length && milliOf(j) > 0) expect(j.gpuModels).toContain(p.gpuModel);
          for (const t of p.tasks) {
            if (j.gpus > 0) expect('gpuIndices' in t && t.gpuIndices.length).toBe(j.gpus);
            else if (j.milliGpu) expect('gpuIndex' in t && t.milli).toBe(j.milliGpu);
          }
        }
      }),
      { numRuns: 300 },
    );
  }, 120_000);

  it('never preempts an equal or higher tier', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const out = runCycle(input);
        const tierOf = new Map<string, Tier>([...input.running!.map((r) => [r.jobId, r.tier] as const), ...input.jobs.map((j) => [j.id, j.tier] as const)]);
        for (const p of out.preemptions) for (const v of p.victims) expect(TIER_RANK[tierOf.get(v)!]).toBeGreaterThan(TIER_RANK[tierOf.get(p.jobId)!]);
      }),
      { numRuns: 300 },
    );
  }, 120_000);

  it('never exceeds a quota or budget with new placements', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const out = runCycle(input);
        const evicted = new Set(out.preemptions.flatMap((p) => p.victims));
        for (const proj of input.projects!) {
          const placed = out.placements.filter((p) => input.jobs.find((j) => j.id === p.jobId)!.project === proj.name);
          if (placed.length === 0) continue;
          if (proj.quota?.totalGpus !== undefined) {
            let used = 0;
            let added = 0;
            for (const r of input.running!) if (r.project === proj.name && !evicted.has(r.jobId)) used += r.tasks.length * milliOf(r);
            for (const p of placed) {
              const j = input.jobs.find((x) => x.id === p.jobId)!;
              added += j.tasks * milliOf(j);
            }
            // CPU-only placements add no GPUs, so they are fine even for a project already at its quota.
            if (added > 0) expect(used + added).toBeLessThanOrEqual(proj.quota.totalGpus * 1000 + 1e-6);
          }
          if (proj.budget?.usd !== undefined) expect(placed.reduce((s, p) => s + p.estimatedUsd, 0)).toBeLessThanOrEqual(proj.budget.usd + 0.01 * placed.length);
        }
      }),
      { numRuns: 300 },
    );
  }, 120_000);

  it('is deterministic: same input, same output, and the input is not mutated', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const copy = structuredClone(input);
        const a = runCycle(input);
        expect(input).toEqual(copy);
        expect(runCycle(copy)).toEqual(a);
      }),
      { numRuns: 300 },
    );
  }, 120_000);
});
