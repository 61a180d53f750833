// The engine's memos (failed fits, failed preemption plans, static filters, cached target aggregates)
// may make a decision faster, never different; and a job that fits somewhere when the cycle ends is
// never left pending under a capacity reason.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runCycle } from './cycle.ts';
import { Engine } from './engine.ts';
import type { ClusterSpec, CycleInput, CycleOutput, JobSpec, ProjectSpec, RunningAllocation, Tier } from './model.ts';
import { NODE_STRATEGIES, POLICIES, TIERS } from './model.ts';

const MODELS = ['A100', 'H100', 'T4'];
const PROJECTS = ['p0', 'p1'];

const usedArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.constant(1000) },
  { weight: 2, arbitrary: fc.constantFrom(250, 500, 700) },
);
const nodeArb = fc.record({
  model: fc.constantFrom('', ...MODELS),
  used: fc.array(usedArb, { maxLength: 8 }),
  tier: fc.constantFrom(...TIERS),
  cpu: fc.integer({ min: 2, max: 32 }),
  memGiB: fc.integer({ min: 8, max: 128 }),
});
const clusterArb = fc.record({ nodes: fc.array(nodeArb, { minLength: 1, maxLength: 6 }), price: fc.integer({ min: 1, max: 4 }), region: fc.constantFrom('us', 'eu') });
// Jobs draw their shape from a short list, so shapes repeat and the memos are actually consulted.
const shapeArb = fc.record({
  tasks: fc.integer({ min: 1, max: 3 }),
  gpus: fc.constantFrom(0, 0, 1, 1, 2, 4),
  milli: fc.constantFrom(0, 250, 500, 700),
  cpu: fc.integer({ min: 0, max: 16 }),
  memGiB: fc.integer({ min: 0, max: 48 }),
});
const jobArb = fc.record({
  shape: fc.nat(),
  tier: fc.constantFrom(...TIERS),
  project: fc.constantFrom(...PROJECTS),
  models: fc.oneof({ weight: 3, arbitrary: fc.constant([] as string[]) }, { weight: 2, arbitrary: fc.subarray(MODELS, { minLength: 1 }) }),
  region: fc.option(fc.constantFrom('us', 'eu'), { nil: undefined, freq: 4 }),
  runtime: fc.integer({ min: 60, max: 20_000 }),
  policy: fc.option(fc.constantFrom(...POLICIES), { nil: undefined }),
});
const projectArb = fc.record({ quota: fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined, freq: 2 }), usd: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined, freq: 2 }) });

type Of<A> = A extends fc.Arbitrary<infer T> ? T : never;

function input(o: { clusters: Of<typeof clusterArb>[]; shapes: Of<typeof shapeArb>[]; jobs: Of<typeof jobArb>[]; projects: Of<typeof projectArb>[]; seed: number; strategy: string; policy: string; cap: number; backfill: boolean }): CycleInput {
  const running: RunningAllocation[] = [];
  const clusters: ClusterSpec[] = o.clusters.map((c, ci) => ({
    id: `c${ci}`,
    region: c.region,
    kind: 'kubernetes',
    prices: { A100: { onDemand: c.price, spot: c.price / 2 }, H100: { onDemand: c.price * 2 }, T4: { onDemand: c.price / 4 } },
    links: [],
    nodes: c.nodes.map((n, ni) => {
      const gpus = n.model === '' ? [] : n.used.map((u, gi) => {
        if (u > 0)
          running.push({ jobId: `r${ci}-${ni}-${gi}`, project: PROJECTS[gi % 2]!, tier: n.tier, clusterId: `c${ci}`, gpuModel: n.model, cpuMilli: 0, memoryMiB: 0, gpus: u === 1000 ? 1 : 0, ...(u < 1000 ? { milliGpu: u } : {}), tasks: [u === 1000 ? { node: `n${ni}`, gpuIndices: [gi] } : { node: `n${ni}`, gpuIndex: gi, milli: u }], checkpointable: gi % 2 === 0, startedAt: 0, expectedRuntimeSec: 300 * (gi + 1) });
        return { healthy: true, milliUsed: u };
      });
      return { name: `n${ni}`, gpuModel: n.model, gpus, cpuMilli: n.cpu * 1000, memoryMiB: n.memGiB * 1024, cpuAllocatedMilli: 0, memoryAllocatedMiB: 0, schedulable: true };
    }),
  }));
  const jobs: JobSpec[] = o.jobs.map((j, i) => {
    const s = o.shapes[j.shape % o.shapes.length]!;
    return {
      id: `j${i}`,
      project: j.project,
      tier: j.tier as Tier,
      tasks: s.tasks,
      cpuMilli: s.cpu * 1000,
      memoryMiB: s.memGiB * 1024,
      gpus: s.gpus,
      ...(s.gpus === 0 && s.milli > 0 ? { milliGpu: s.milli } : {}),
      ...(j.models.length ? { gpuModels: j.models } : {}),
      ...(j.region ? { regions: [j.region] } : {}),
      ...(j.policy ? { policy: j.policy } : {}),
      expectedRuntimeSec: j.runtime,
      submittedAt: i,
    };
  });
  const projects: ProjectSpec[] = o.projects.map((p, i) => ({ name: PROJECTS[i]!, weight: 1, ...(p.quota !== undefined ? { quota: { totalGpus: p.quota } } : {}), ...(p.usd !== undefined ? { budget: { usd: p.usd } } : {}) }));
  return { now: 1000, clusters, jobs, running, projects, config: { seed: o.seed, nodeStrategy: o.strategy as 'fgd', defaultPolicy: o.policy as 'balanced', maxNodesScored: o.cap, backfill: o.backfill } };
}

const inputArb = fc
  .record({
    clusters: fc.array(clusterArb, { minLength: 1, maxLength: 3 }),
    shapes: fc.array(shapeArb, { minLength: 1, maxLength: 5 }),
    jobs: fc.array(jobArb, { maxLength: 40 }),
    projects: fc.tuple(projectArb, projectArb),
    seed: fc.integer(),
    strategy: fc.constantFrom(...NODE_STRATEGIES),
    policy: fc.constantFrom(...POLICIES),
    cap: fc.constantFrom(0, 1, 2, 128),
    backfill: fc.boolean(),
  })
  .map(input);

/** The clusters as the cycle leaves them: victims gone, placements in. */
function endState(inp: CycleInput, out: CycleOutput): ClusterSpec[] {
  const state = structuredClone(inp.clusters);
  const node = (cid: string, name: string) => state.find((c) => c.id === cid)!.nodes.find((n) => n.name === name)!;
  const evicted = new Set(out.preemptions.flatMap((p) => p.victims));
  for (const r of inp.running ?? []) {
    if (!evicted.has(r.jobId)) continue;
    for (const t of r.tasks) {
      const n = node(r.clusterId, t.node);
      if ('gpuIndex' in t) n.gpus[t.gpuIndex]!.milliUsed -= t.milli;
      else for (const g of t.gpuIndices) n.gpus[g]!.milliUsed -= 1000;
    }
  }
  for (const p of out.placements) {
    const j = inp.jobs.find((x) => x.id === p.jobId)!;
    for (const t of p.tasks) {
      const n = node(p.clusterId, t.node);
      n.cpuAllocatedMilli += j.cpuMilli;
      n.memoryAllocatedMiB += j.memoryMiB;
      if ('gpuIndex' in t) n.gpus[t.gpuIndex]!.milliUsed += t.milli;
      else for (const g of t.gpuIndices) n.gpus[g]!.milliUsed += 1000;
    }
  }
  return state;
}

/** Reasons that name something other than free capacity: a reservation, a quota, a budget, the data. */
const NAMED_BLOCKERS = new Set(['HeldForReservation', 'QuotaExceeded', 'BudgetExhausted', 'WaitingForLocalData', 'Prewarming', 'ReservedForGpus']);

describe('engine memos', () => {
  it('never change a decision: every cycle output is identical with memos on and off', () => {
    fc.assert(
      fc.property(inputArb, (inp) => {
        expect(runCycle(structuredClone(inp))).toEqual(runCycle(structuredClone(inp), { memo: false }));
      }),
      { numRuns: 400 },
    );
  }, 60_000);

  it('never change a decision over a long fill of one engine (the trace simulator path)', () => {
    fc.assert(
      fc.property(inputArb, fc.integer({ min: 1, max: 4 }), (inp, rounds) => {
        const run = (memo: boolean): string[] => {
          const e = new Engine(inp, { memo });
          e.beginCycle();
          const seen: string[] = [];
          for (let r = 0; r < rounds; r++)
            for (const j of inp.jobs) {
              const o = e.scheduleJob({ ...j, id: `${j.id}.${r}` });
              if (o.kind === 'placed') e.admitPlaced(o);
              seen.push(o.kind === 'placed' ? `${o.cand.cluster.id}/${o.model}/${o.allocs.map((a) => `${a.node.name}:${a.gpuIndices.join(',')}`).join(';')}/${o.victims.map((v) => v.spec.jobId).join(',')}` : `${o.pend.code}:${o.pend.reason}`);
            }
          return seen;
        };
        expect(run(true)).toEqual(run(false));
      }),
      { numRuns: 200 },
    );
  }, 60_000);

  it('a pinned task that fails does not stop an unpinned task of the same shape from being tried', () => {
    // One cluster: one T4 node with a free GPU, one A100 node full. The A100-pinned job fails first.
    const gpu = (used: number) => ({ healthy: true, milliUsed: used });
    const cluster: ClusterSpec = {
      id: 'c',
      region: 'us',
      kind: 'kubernetes',
      prices: { A100: { onDemand: 2 }, T4: { onDemand: 1 } },
      links: [],
      nodes: [
        { name: 'a', gpuModel: 'A100', gpus: [gpu(1000)], cpuMilli: 8000, memoryMiB: 8192, cpuAllocatedMilli: 0, memoryAllocatedMiB: 0, schedulable: true },
        { name: 't', gpuModel: 'T4', gpus: [gpu(0)], cpuMilli: 8000, memoryMiB: 8192, cpuAllocatedMilli: 0, memoryAllocatedMiB: 0, schedulable: true },
      ],
    };
    const e = new Engine({ now: 0, clusters: [cluster], config: { backfill: false, preemption: false } });
    e.beginCycle();
    const job = (id: string, models?: string[]): JobSpec => ({ id, project: 'p', tier: 'batch', tasks: 1, cpuMilli: 1000, memoryMiB: 1024, gpus: 1, ...(models ? { gpuModels: models } : {}), expectedRuntimeSec: 60, submittedAt: 0 });
    expect(e.scheduleJob(job('pinned', ['A100'])).kind).toBe('pending');
    const o = e.scheduleJob(job('free'));
    expect(o.kind).toBe('placed');
    expect(o.kind === 'placed' && o.model).toBe('T4');
  });
});

describe('pending reasons at the end of a cycle', () => {
  it('a job that fits somewhere now is placed, or its reason names what blocks it', () => {
    fc.assert(
      fc.property(inputArb, (inp) => {
        const out = runCycle(structuredClone(inp));
        const end = endState(inp, out);
        for (const p of out.pending) {
          if (NAMED_BLOCKERS.has(p.code)) continue;
          const job = inp.jobs.find((j) => j.id === p.jobId)!;
          // Would an empty-handed engine (no reservations, quotas, budgets or preemption) start it now?
          const probe = new Engine({ now: inp.now, clusters: structuredClone(end), config: { backfill: false, preemption: false, nodeStrategy: 'first-fit', maxNodesScored: 0 } });
          probe.beginCycle();
          const o = probe.scheduleJob({ ...job, project: 'probe', policy: 'inventory-first' });
          if (o.kind === 'placed') expect.fail(`${job.id} fits on ${o.cand.cluster.id} (${o.model}) at the end of the cycle but is pending: ${p.reason}`);
        }
      }),
      { numRuns: 300 },
    );
  }, 60_000);
});
