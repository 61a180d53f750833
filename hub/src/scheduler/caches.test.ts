// Property tests of the cycle's speed structures: each must give exactly what the plain computation
// gives (lazy ranking = full sort, victim lists = filter then sort, cached target aggregates = fresh).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ClusterSpec, JobSpec, PolicyName, RunningAllocation, Tier } from './model.ts';
import { POLICIES, TIERS } from './model.ts';
import type { Candidate } from './policies.ts';
import { bestCandidate, rankCandidates, scoreCandidates, sortCandidates } from './policies.ts';
import type { RunningEntry } from './preemption.ts';
import { VictimLists, victimOrder } from './preemption.ts';
import { Engine, shapeOf } from './engine.ts';
import { CandidateScratch, buildCandidates } from './candidates.ts';
import { eligibleTargets } from './filters.ts';
import { hash32 } from './rng.ts';
import type { ClusterState } from './snapshot.ts';
import { IntSet } from './fit.ts';

const num = fc.oneof(fc.constantFrom(0, 1, 2, Number.POSITIVE_INFINITY), fc.integer({ min: 0, max: 5 }), fc.double({ min: 0, max: 10, noNaN: true }));
// Costs are always finite (validated prices × finite hours + egress); waits and transfers may be unknown.
const finite = fc.oneof(fc.constantFrom(0, 1, 2), fc.double({ min: 0, max: 10, noNaN: true }));
const candArb = fc.record({ free: fc.integer({ min: 0, max: 4 }), fits: fc.boolean(), wait: num, transfer: num, missing: num, cost: finite, tie: fc.integer({ min: 0, max: 3 }) });

type Row = typeof candArb extends fc.Arbitrary<infer T> ? T : never;

function toCandidates(rows: Row[]): Candidate[] {
  const cluster = { id: 'c' } as ClusterState;
  return rows.map((r) => ({
    cluster,
    model: 'A100',
    pool: null,
    indexes: [],
    freeMilli: r.free * 1000,
    totalMilli: 4000,
    fitsNow: r.fits,
    gpuWaitSec: r.fits ? 0 : r.wait,
    data: { missingBytes: r.missing, transferSec: r.transfer, egressUsd: 0, missing: [] },
    readySec: Math.max(r.fits ? 0 : r.wait, r.transfer),
    gpuUsd: r.cost,
    costUsd: r.cost,
    maxCostUsd: r.cost,
    tie: r.tie,
    rank: 0,
  }));
}

describe('lazy candidate ranking', () => {
  it('the best candidate and the in-place sort agree with a full ranking, ties and infinities included', () => {
    fc.assert(
      fc.property(fc.array(candArb, { minLength: 1, maxLength: 12 }), fc.constantFrom(...POLICIES), (rows, policy: PolicyName) => {
        const cands = toCandidates(rows);
        const ranked = rankCandidates(cands, policy);
        scoreCandidates(cands, policy);
        expect(cands[bestCandidate(cands, policy)]).toBe(ranked[0]);
        const inPlace = cands.slice();
        sortCandidates(inPlace, policy);
        expect(inPlace).toEqual(ranked);
        inPlace.forEach((c, i) => expect(c).toBe(ranked[i]));
      }),
      { numRuns: 500 },
    );
  });
});

describe('victim lists', () => {
  it('filtering the presorted per-cluster and per-model lists gives the filtered pool sorted', () => {
    const entryArb = fc.record({ rank: fc.integer({ min: 0, max: 3 }), ck: fc.boolean(), lost: fc.integer({ min: 0, max: 3 }), milli: fc.constantFrom(500, 1000, 2000), model: fc.constantFrom('A100', 'H100', ''), preempted: fc.boolean() });
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: 30 }), fc.integer({ min: 0, max: 3 }), fc.constantFrom<string | null>('A100', 'H100', null), (rows, rank, model) => {
        const cluster = { id: 'c' } as ClusterState;
        const entries: RunningEntry[] = rows.map((r, i) => ({
          spec: { jobId: `r${(i * 7) % 31}`, checkpointable: r.ck } as RunningAllocation,
          cluster,
          model: r.model,
          allocs: [],
          rank: r.rank,
          milli: r.milli,
          lostWork: r.lost,
          preempted: r.preempted,
        }));
        const lists = new VictimLists(new Map([['c', entries]]));
        const keep = (e: RunningEntry): boolean => !e.preempted && e.rank > rank && (model === null || e.model === model);
        expect(lists.get(cluster, model).filter(keep)).toEqual(entries.filter(keep).sort(victimOrder));
      }),
      { numRuns: 300 },
    );
  });
});

const clusterArb = fc.array(fc.record({ model: fc.constantFrom('A100', 'H100'), used: fc.array(fc.constantFrom(0, 0, 300, 1000), { minLength: 1, maxLength: 4 }) }), { minLength: 1, maxLength: 4 });
const jobArb = fc.record({
  tasks: fc.integer({ min: 1, max: 3 }),
  gpus: fc.integer({ min: 0, max: 3 }),
  milli: fc.constantFrom(0, 200, 500),
  models: fc.subarray(['A100', 'H100']),
  tier: fc.constantFrom(...TIERS),
  policy: fc.constantFrom(...POLICIES),
});

describe('cached target aggregates', () => {
  it('after every decision, candidates built from the caches equal candidates built with every cache dropped', () => {
    fc.assert(
      fc.property(fc.array(clusterArb, { minLength: 1, maxLength: 3 }), fc.array(jobArb, { minLength: 1, maxLength: 12 }), (cls, js) => {
        const running: RunningAllocation[] = [];
        const clusters: ClusterSpec[] = cls.map((nodes, ci) => ({
          id: `c${ci}`,
          region: 'r',
          kind: 'kubernetes',
          prices: { A100: { onDemand: 2 + ci, spot: 1 }, H100: { onDemand: 4 } },
          links: [],
          nodes: nodes.map((n, ni) => ({
            name: `n${ni}`,
            gpuModel: n.model,
            gpus: n.used.map((u, gi) => {
              if (u > 0)
                running.push({ jobId: `r${ci}-${ni}-${gi}`, project: 'p', tier: 'filler', clusterId: `c${ci}`, gpuModel: n.model, cpuMilli: 0, memoryMiB: 0, gpus: u === 1000 ? 1 : 0, ...(u < 1000 ? { milliGpu: u } : {}), tasks: [u === 1000 ? { node: `n${ni}`, gpuIndices: [gi] } : { node: `n${ni}`, gpuIndex: gi, milli: u }], checkpointable: true, startedAt: 0, expectedRuntimeSec: 100 * (gi + 1) });
              return { healthy: true, milliUsed: u };
            }),
            cpuMilli: 64_000,
            memoryMiB: 1 << 20,
            cpuAllocatedMilli: 0,
            memoryAllocatedMiB: 0,
            schedulable: true,
          })),
        }));
        const engine = new Engine({ now: 0, clusters, running });
        engine.beginCycle();
        const jobs: JobSpec[] = js.map((j, i) => ({ id: `j${i}`, project: 'p', tier: j.tier as Tier, tasks: j.tasks, cpuMilli: 1000, memoryMiB: 1024, gpus: j.gpus, ...(j.gpus === 0 && j.milli > 0 ? { milliGpu: j.milli } : {}), gpuModels: j.models, expectedRuntimeSec: 600, submittedAt: i, policy: j.policy }));
        const figures = (c: Candidate) => [c.cluster.id, c.model, c.pool, c.freeMilli, c.totalMilli, c.fitsNow, c.gpuWaitSec, c.costUsd, c.tie];
        for (const job of jobs) {
          const shape = shapeOf(job);
          const f = eligibleTargets(engine.snap, job, shape);
          if (f.ok) {
            const need = job.tasks * (job.gpus > 0 ? job.gpus * 1000 : (job.milliGpu ?? 0));
            const h = hash32(job.id, engine.cfg.seed);
            const cached = buildCandidates(engine, new CandidateScratch(), job, shape, f.targets, job.policy!, h, need).map(figures);
            for (const c of engine.snap.clusters) {
              c.poolMemo.clear();
              for (const mi of c.models.values()) mi.memo.clear();
            }
            for (const t of f.targets) delete t.memo;
            const fresh = buildCandidates(engine, new CandidateScratch(), job, shape, f.targets, job.policy!, h, need).map(figures);
            expect(cached).toEqual(fresh);
          }
          const o = engine.scheduleJob(job);
          if (o.kind === 'placed') engine.admitPlaced(o);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('IntSet (the node scan dedupe)', () => {
  it('answers like a Set of int32 keys through adds, growth and clears', () => {
    const op = fc.oneof({ weight: 20, arbitrary: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) }, { weight: 20, arbitrary: fc.integer({ min: -3, max: 3 }) }, { weight: 1, arbitrary: fc.constant('clear' as const) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 6000 }), (ops) => {
        const a = new IntSet();
        const b = new Set<number>();
        for (const o of ops) {
          if (o === 'clear') {
            a.clear();
            b.clear();
          } else {
            expect(a.add(o)).toBe(!b.has(o));
            b.add(o);
          }
        }
      }),
      { numRuns: 40 },
    );
  });

  it('keeps every key across growth', () => {
    const a = new IntSet();
    for (let i = 0; i < 10_000; i++) expect(a.add(Math.imul(i, 0x45d9f3b))).toBe(true);
    for (let i = 0; i < 10_000; i++) expect(a.add(Math.imul(i, 0x45d9f3b))).toBe(false);
    a.clear();
    expect(a.add(0)).toBe(true);
  });
});
