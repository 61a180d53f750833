// Benchmark: one scheduling cycle with 10,000 pending jobs over 50 clusters / 20,000 nodes.
// Usage: npm run bench:scheduler [-- --quick] [-- --runs N] [-- --digest]
// --digest adds a sha256 of the cycle output to the JSON line, so an optimisation can be checked to
// leave every decision unchanged.
// Prints a table, then (last line) one JSON object: cycleSeconds, placementsPerSecond, peakRssMiB.
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { runCycle } from '../src/scheduler/index.ts';
import type { ClusterSpec, CycleInput, JobSpec, NodeSpec, RunningAllocation, Tier } from '../src/scheduler/index.ts';
import { makeRng } from '../src/scheduler/rng.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const runsArg = args.indexOf('--runs');
const RUNS = runsArg >= 0 ? Number(args[runsArg + 1]) : quick ? 2 : 5;
const CLUSTERS = 50;
const NODES_PER_CLUSTER = quick ? 100 : 400;
const JOBS = quick ? 2_500 : 10_000;

const MODELS = [
  { model: 'H100', gpus: 8, price: 4.0 },
  { model: 'A100', gpus: 8, price: 2.5 },
  { model: 'L40S', gpus: 4, price: 1.4 },
  { model: 'T4', gpus: 2, price: 0.5 },
];
const REGIONS = ['us-east', 'us-west', 'eu-west', 'eu-central', 'ap-south'];
const NOW = Date.UTC(2026, 10, 22, 10, 0, 0);
const TIERS: Tier[] = ['realtime', 'batch', 'batch', 'batch', 'interruptible', 'filler'];

function build(seed: number): CycleInput {
  const rnd = makeRng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const clusters: ClusterSpec[] = [];
  const running: RunningAllocation[] = [];
  for (let c = 0; c < CLUSTERS; c++) {
    const region = REGIONS[c % REGIONS.length]!;
    const id = `c${String(c).padStart(2, '0')}`;
    const nodes: NodeSpec[] = [];
    // Each cluster carries two GPU models (plus the prices of all, spot at ~40%).
    const here = [MODELS[c % 4]!, MODELS[(c + 1) % 4]!];
    for (let n = 0; n < NODES_PER_CLUSTER; n++) {
      const m = here[n % 2]!;
      const name = `${id}-n${n}`;
      const gpus = Array.from({ length: m.gpus }, () => ({ healthy: rnd() > 0.005, milliUsed: 0 }));
      let cpuAlloc = 0;
      // About 35% of GPUs already run something (whole or shared).
      for (let g = 0; g < m.gpus; g++) {
        if (!gpus[g]!.healthy || rnd() > 0.35) continue;
        const shared = rnd() < 0.2;
        const milli = shared ? 100 * (1 + Math.floor(rnd() * 9)) : 1000;
        gpus[g]!.milliUsed = milli;
        cpuAlloc += 4000;
        running.push({
          jobId: `run-${name}-${g}`,
          project: `proj${Math.floor(rnd() * 20)}`,
          tier: pick(TIERS),
          clusterId: id,
          gpuModel: m.model,
          cpuMilli: 4000,
          memoryMiB: 16_384,
          gpus: shared ? 0 : 1,
          ...(shared ? { milliGpu: milli } : {}),
          tasks: [shared ? { node: name, gpuIndex: g, milli } : { node: name, gpuIndices: [g] }],
          checkpointable: rnd() < 0.5,
          startedAt: NOW - Math.floor(rnd() * 3600_000),
          expectedRuntimeSec: 600 + Math.floor(rnd() * 36_000),
        });
      }
      nodes.push({
        name,
        gpuModel: m.model,
        gpus,
        cpuMilli: 128_000,
        memoryMiB: 1_048_576,
        cpuAllocatedMilli: cpuAlloc,
        memoryAllocatedMiB: (cpuAlloc / 4000) * 16_384,
        schedulable: rnd() > 0.01,
      });
    }
    clusters.push({
      id,
      region,
      kind: c % 5 === 4 ? 'slurm' : 'kubernetes',
      prices: Object.fromEntries(MODELS.map((m) => [m.model, { onDemand: m.price * (0.8 + rnd() * 0.4), spot: m.price * 0.4 }])),
      links: REGIONS.filter((r) => r !== region).map((r) => ({ region: r, bandwidthBytesPerSec: 1e9 + rnd() * 4e9, egressUsdPerGB: 0.02 + rnd() * 0.07 })),
      nodes,
    });
  }
  const jobs: JobSpec[] = [];
  for (let i = 0; i < JOBS; i++) {
    const kind = rnd();
    const shape =
      kind < 0.35
        ? { tasks: 1, gpus: 1 }
        : kind < 0.55
          ? { tasks: 1, gpus: 0, milliGpu: 100 * (1 + Math.floor(rnd() * 9)) }
          : kind < 0.75
            ? { tasks: 1, gpus: pick([2, 4, 8]) }
            : kind < 0.9
              ? { tasks: pick([2, 4, 8, 16]), gpus: 8 }
              : { tasks: 1, gpus: 0 };
    const withModels = rnd() < 0.5;
    jobs.push({
      id: `job-${i}`,
      project: `proj${Math.floor(rnd() * 20)}`,
      tier: pick(TIERS),
      priority: Math.floor(rnd() * 3),
      cpuMilli: 4000,
      memoryMiB: 16_384,
      ...shape,
      ...(withModels ? { gpuModels: [pick(MODELS).model, pick(MODELS).model] } : {}),
      ...(rnd() < 0.3 ? { regions: [pick(REGIONS), pick(REGIONS)] } : {}),
      ...(rnd() < 0.4
        ? { datasets: [{ name: `ds${Math.floor(rnd() * 50)}`, sizeBytes: Math.floor(rnd() * 2e12), cachedIn: [clusters[Math.floor(rnd() * CLUSTERS)]!.id], homeRegion: pick(REGIONS) }] }
        : {}),
      expectedRuntimeSec: 300 + Math.floor(rnd() * 86_400),
      checkpointable: rnd() < 0.5,
      submittedAt: NOW - Math.floor(rnd() * 86_400_000),
    });
  }
  const projects = Array.from({ length: 20 }, (_, i) => ({
    name: `proj${i}`,
    weight: 1 + (i % 4),
    policy: (['balanced', 'cost-first', 'inventory-first', 'locality-first'] as const)[i % 4],
    ...(i % 5 === 0 ? { quota: { totalGpus: 2_000 } } : {}),
    ...(i % 7 === 0 ? { budget: { usd: 50_000 } } : {}),
  }));
  return { now: NOW, clusters, jobs, running, projects, config: { seed: 42 } };
}

const t0 = performance.now();
const input = build(7);
const buildSec = (performance.now() - t0) / 1000;
const gpus = input.clusters.reduce((s, c) => s + c.nodes.reduce((t, n) => t + n.gpus.length, 0), 0);

// Wall time and this process's CPU time per cycle: on a loaded 2-core machine the CPU time is the
// honest single-thread cost, the wall time what a caller would have seen.
const times: number[] = [];
const cpus: number[] = [];
let out = runCycle(input);
for (let r = 0; r < RUNS; r++) {
  if (global.gc) global.gc();
  const s = performance.now();
  const c = process.cpuUsage();
  out = runCycle(input);
  const dc = process.cpuUsage(c);
  times.push((performance.now() - s) / 1000);
  cpus.push((dc.user + dc.system) / 1e6);
}
const cold = times.length ? times[0]! : 0;
times.sort((a, b) => a - b);
cpus.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)]!;
const cpuMedian = cpus[Math.floor(cpus.length / 2)]!;
const load = (await import('node:os')).loadavg()[0]!;
const peakRssMiB = process.resourceUsage().maxRSS / 1024;
const byCode = new Map<string, number>();
for (const p of out.pending) byCode.set(p.code, (byCode.get(p.code) ?? 0) + 1);

const row = (k: string, v: string | number): string => `${k.padEnd(34)} ${String(v)}`;
console.log('Meridian scheduler: one cycle' + (quick ? ' (--quick)' : ''));
console.log(row('clusters / nodes / GPUs', `${CLUSTERS} / ${CLUSTERS * NODES_PER_CLUSTER} / ${gpus}`));
console.log(row('pending jobs / running allocations', `${input.jobs.length} / ${input.running!.length}`));
console.log(row('input build (not timed)', `${buildSec.toFixed(2)} s`));
console.log(row('cycle time, first of runs', `${cold.toFixed(3)} s`));
console.log(row(`cycle time, median of ${RUNS}`, `${median.toFixed(3)} s`));
console.log(row(`cycle CPU time, median of ${RUNS}`, `${cpuMedian.toFixed(3)} s`));
console.log(row('machine load average (1 min)', load.toFixed(2)));
console.log(row('placements / preemption events / prewarms', `${out.placements.length} / ${out.preemptions.length} / ${out.prewarms.length}`));
console.log(row('pending by reason', [...byCode].map(([k, v]) => `${k}=${v}`).join(' ')));
console.log(row('placements per second (wall)', Math.round(out.placements.length / median)));
console.log(row('placements per CPU-second', Math.round(out.placements.length / cpuMedian)));
console.log(row('jobs decided per second', Math.round(input.jobs.length / median)));
console.log(row('peak RSS (process)', `${peakRssMiB.toFixed(0)} MiB`));
console.log(
  JSON.stringify({
    bench: 'scheduler-cycle',
    quick,
    clusters: CLUSTERS,
    nodes: CLUSTERS * NODES_PER_CLUSTER,
    gpus,
    pendingJobs: input.jobs.length,
    placements: out.placements.length,
    cycleSeconds: Number(median.toFixed(4)),
    cycleCpuSeconds: Number(cpuMedian.toFixed(4)),
    loadAverage: Number(load.toFixed(2)),
    placementsPerSecond: Math.round(out.placements.length / median),
    placementsPerCpuSecond: Math.round(out.placements.length / cpuMedian),
    peakRssMiB: Math.round(peakRssMiB),
    ...(args.includes('--digest') ? { digest: createHash('sha256').update(JSON.stringify(out)).digest('hex').slice(0, 16) } : {}),
  }),
);
