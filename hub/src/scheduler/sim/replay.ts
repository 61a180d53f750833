// Trace replay with a virtual clock. Tasks arrive at their trace creation time (divided by `load` to
// push the cluster harder), run for their traced duration, and are scheduled by the production Engine
// in cycles every `cycleSec` of virtual time, like the hub's scheduler loop. Datasets are synthetic (the
// trace has none): when a job lands away from its data, the copy delays its start and the cache then
// stays warm on that cluster, so locality and cost policies have real consequences.
import type { ClusterSpec, DatasetRef, JobSpec, NodeStrategy, PolicyName, SchedulerConfig } from '../model.ts';
import { taskMilli } from '../model.ts';
import { Engine } from '../engine.ts';
import type { WorkloadType } from '../workload.ts';
import { clusterFragmentation } from '../fit.ts';
import { hash32, makeRng } from '../rng.ts';
import type { TracePod } from './trace.ts';
import { gpuCapacityMilli, podJob } from './setup.ts';

export interface ReplayOptions {
  clusters: ClusterSpec[];
  pods: TracePod[];
  workload: WorkloadType[];
  strategy: NodeStrategy;
  policy: PolicyName;
  seed: number;
  /**
   * Arrival-time compression: 1000 means tasks arrive 1000× faster than traced (durations unchanged).
   * In real time the trace keeps well under 1% of its GPUs busy (tasks spread over ~150 days), so a
   * replay that should show queueing must compress arrivals.
   */
  compression: number;
  cycleSec?: number;
  /** Queue entries looked at per cycle (oldest first), as a real loop bounds its work. */
  maxQueueScan?: number;
  /** Give jobs synthetic datasets (only meaningful with several regions). */
  datasets?: boolean;
  /** Stop admitting arrivals after this many tasks (for --quick). */
  maxTasks?: number;
  /** Scheduler settings beyond the above. */
  config?: Partial<SchedulerConfig>;
}

export interface ReplayResult {
  tasks: number;
  peakAllocatedShare: number;
  started: number;
  neverStarted: number;
  meanQueueDelaySec: number;
  p95QueueDelaySec: number;
  meanJctSec: number;
  /** Time-weighted mean share of GPUs allocated while work was queued (the saturated periods). */
  meanAllocatedShareWhenQueued: number;
  /** Time-weighted mean share of GPUs allocated from first to last arrival. */
  meanAllocatedShare: number;
  /** Mean FGD fragmentation as a share of all GPU capacity, sampled every 50 cycles. */
  meanFragmentationShare: number;
  gpuUsd: number;
  egressUsd: number;
  /** Allocation over time: ~40 samples of [virtual hours, allocated share]. */
  allocation: [number, number][];
}

interface Running {
  end: number;
  id: string;
}

/** Binary min-heap of running jobs by end time. */
class EndHeap {
  private readonly a: Running[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): Running | undefined {
    return this.a[0];
  }
  push(x: Running): void {
    const a = this.a;
    a.push(x);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (a[p]!.end <= a[i]!.end) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): Running | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length && last) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]!.end < a[m]!.end) m = l;
        if (r < a.length && a[r]!.end < a[m]!.end) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

function makeDatasets(clusters: ClusterSpec[], seed: number): DatasetRef[] {
  const rng = makeRng(seed ^ 0xda7a);
  return Array.from({ length: 30 }, (_, i) => {
    const home = clusters[Math.floor(rng() * clusters.length)]!;
    // Log-uniform 5 GB .. 1 TB.
    const sizeBytes = Math.round(5e9 * Math.pow(200, rng()));
    return { name: `ds${i}`, sizeBytes, cachedIn: [home.id], homeRegion: home.region };
  });
}

export function runReplay(o: ReplayOptions): ReplayResult {
  const cycleSec = o.cycleSec ?? 10;
  const maxScan = o.maxQueueScan ?? 256;
  const clusters = structuredClone(o.clusters);
  const engine = new Engine({
    now: 0,
    clusters,
    config: { seed: o.seed, nodeStrategy: o.strategy, defaultPolicy: o.policy, maxPrewarmHoldSec: 300, preemption: false, ...o.config },
  });
  engine.setWorkload(o.workload);
  const capacity = gpuCapacityMilli(clusters);
  const datasets = o.datasets ? makeDatasets(clusters, o.seed) : [];

  // Tasks that ran in the trace, by arrival.
  const pods = o.pods
    .filter((p) => p.scheduled > 0 && p.deletion > p.scheduled)
    .sort((a, b) => a.creation - b.creation || (a.name < b.name ? -1 : 1))
    .slice(0, o.maxTasks ?? Number.POSITIVE_INFINITY);
  const t0 = pods[0]?.creation ?? 0;
  const load = o.compression;
  const jobs: { job: JobSpec; arrive: number; start: number; end: number }[] = pods.map((p) => {
    const arrive = (p.creation - t0) / load;
    const job = podJob(p, p.name, arrive * 1000, p.deletion - p.scheduled);
    if (datasets.length && hash32(p.name) % 2 === 0) job.datasets = [datasets[hash32(p.name, 7) % datasets.length]!];
    return { job, arrive, start: -1, end: -1 };
  });
  const byId = new Map(jobs.map((j) => [j.job.id, j]));

  const ends = new EndHeap();
  const cacheReady: { at: number; ds: DatasetRef; cluster: string }[] = [];
  const queue: typeof jobs = [];
  let next = 0;
  let t = 0;
  let allocated = 0;
  let gpuUsd = 0;
  let egressUsd = 0;
  let weighted = 0;
  let weightedQueued = 0;
  let timeQueued = 0;
  let fragSum = 0;
  let fragSamples = 0;
  let cycles = 0;
  let peak = 0;
  const samples: [number, number][] = [];
  const horizon = jobs.length ? jobs[jobs.length - 1]!.arrive : 0;

  while (next < jobs.length || queue.length > 0 || ends.size > 0) {
    // Advance the clock to the next cycle boundary at which something can have changed.
    const nextEvent = Math.min(next < jobs.length ? jobs[next]!.arrive : Infinity, ends.peek()?.end ?? Infinity, cacheReady.length ? Math.min(...cacheReady.map((c) => c.at)) : Infinity);
    if (!Number.isFinite(nextEvent)) break; // only unplaceable jobs are left
    const nt = Math.max(t + cycleSec, Math.ceil(nextEvent / cycleSec) * cycleSec);
    // Allocation is averaged over the arrival window; the long drain afterwards would dilute it.
    const dt = Math.max(0, Math.min(nt, horizon) - t);
    weighted += (allocated / capacity) * dt;
    if (queue.length) {
      weightedQueued += (allocated / capacity) * dt;
      timeQueued += dt;
    }
    t = nt;
    while (ends.size && ends.peek()!.end <= t) {
      const r = ends.pop()!;
      engine.finish(r.id);
      allocated -= byId.get(r.id)!.job.tasks * taskMilli(byId.get(r.id)!.job);
    }
    for (let i = cacheReady.length - 1; i >= 0; i--)
      if (cacheReady[i]!.at <= t) {
        const c = cacheReady.splice(i, 1)[0]!;
        if (!c.ds.cachedIn.includes(c.cluster)) c.ds.cachedIn.push(c.cluster);
      }
    while (next < jobs.length && jobs[next]!.arrive <= t) queue.push(jobs[next++]!);

    engine.now = t * 1000;
    engine.beginCycle();
    const placedIdx: number[] = [];
    for (let i = 0; i < queue.length && i < maxScan; i++) {
      const q = queue[i]!;
      const out = engine.scheduleJob(q.job);
      if (out.kind === 'placed') {
        engine.admitPlaced(out);
        const transfer = out.cand.data.transferSec;
        q.start = t + transfer;
        q.end = q.start + q.job.expectedRuntimeSec;
        ends.push({ end: q.end, id: q.job.id });
        allocated += q.job.tasks * taskMilli(q.job);
        gpuUsd += out.usd - out.cand.data.egressUsd;
        egressUsd += out.cand.data.egressUsd;
        for (const m of out.cand.data.missing) {
          const ds = q.job.datasets!.find((d) => d.name === m.name)!;
          cacheReady.push({ at: t + transfer, ds, cluster: out.cand.cluster.id });
        }
        placedIdx.push(i);
      } else if (out.prewarm && out.target) {
        // The hub prewarms while the job waits; the cache is warm once the copy finishes.
        const target = out.target;
        let fresh = false;
        for (const m of target.data.missing) {
          const ds = q.job.datasets!.find((d) => d.name === m.name)!;
          if (cacheReady.some((c) => c.ds === ds && c.cluster === target.cluster.id)) continue;
          cacheReady.push({ at: t + target.data.transferSec, ds, cluster: target.cluster.id });
          fresh = true;
        }
        if (fresh) egressUsd += target.data.egressUsd;
      }
    }
    for (let k = placedIdx.length - 1; k >= 0; k--) queue.splice(placedIdx[k]!, 1);
    peak = Math.max(peak, allocated / capacity);
    if (++cycles % 50 === 0) {
      let f = 0;
      for (const c of engine.snap.clusters) f += clusterFragmentation(c, o.workload);
      fragSum += f / capacity;
      fragSamples++;
    }
    if (horizon > 0 && samples.length < 40 && t >= (samples.length / 40) * horizon) samples.push([Math.round((t / 3600) * 10) / 10, Math.round((allocated / capacity) * 1000) / 1000]);
  }

  const started = jobs.filter((j) => j.start >= 0);
  const delays = started.map((j) => j.start - j.arrive).sort((a, b) => a - b);
  const mean = (xs: number[]): number => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : 0);
  return {
    tasks: jobs.length,
    peakAllocatedShare: Math.round(peak * 1000) / 1000,
    started: started.length,
    neverStarted: jobs.length - started.length,
    meanQueueDelaySec: Math.round(mean(delays)),
    p95QueueDelaySec: Math.round(delays[Math.floor(delays.length * 0.95)] ?? 0),
    meanJctSec: Math.round(mean(started.map((j) => j.end - j.arrive))),
    meanAllocatedShareWhenQueued: timeQueued > 0 ? Math.round((weightedQueued / timeQueued) * 1000) / 1000 : 0,
    meanAllocatedShare: horizon > 0 ? Math.round((weighted / horizon) * 1000) / 1000 : 0,
    meanFragmentationShare: fragSamples ? Math.round((fragSum / fragSamples) * 1000) / 1000 : 0,
    gpuUsd: Math.round(gpuUsd),
    egressUsd: Math.round(egressUsd),
    allocation: samples,
  };
}
