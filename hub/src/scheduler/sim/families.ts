// Workload families: variants of an OpenB pod list in the manner of the FGD paper's (Weng et al., ATC '23,
// §6: gpushare, multigpu, gpuspec and non-GPU variants), each derived from the default list by turning a
// seeded random choice of pods into another kind, so a family level moves one share and keeps the rest
// of the trace. A converted pod takes the shape of a random pod of the kind it becomes; its name, QoS and
// timestamps stay. Same base list, family, level and seed: the same pods, byte for byte.
import { makeRng } from '../rng.ts';
import type { TraceNode, TracePod } from './trace.ts';

export const FAMILIES = ['share', 'multi', 'pinned', 'cpu'] as const;
export type Family = (typeof FAMILIES)[number];

/** What each family's level measures, and the levels the benchmark runs. */
export const FAMILY_LEVELS: Record<Family, { measure: string; levels: number[] }> = {
  share: { measure: 'GPU-sharing pods / GPU pods', levels: [0.2, 0.4, 0.6, 0.8, 1.0] },
  multi: { measure: 'multi-GPU pods / GPU pods', levels: [0.05, 0.1, 0.2, 0.3, 0.5] },
  pinned: { measure: 'GPU-model-pinned pods / GPU pods', levels: [0.1, 0.2, 0.33, 0.5, 0.7] },
  cpu: { measure: 'CPU-only pods / all pods', levels: [0.1, 0.2, 0.3, 0.4, 0.5] },
};

const isGpu = (p: TracePod): boolean => p.numGpu > 0;
const isShare = (p: TracePod): boolean => p.numGpu === 1 && p.gpuMilli > 0 && p.gpuMilli < 1000;
const isMulti = (p: TracePod): boolean => p.numGpu > 1;
const isSingleWhole = (p: TracePod): boolean => p.numGpu === 1 && !isShare(p);

/** A seeded shuffle of indexes (Fisher–Yates). */
function shuffled(n: number, rng: () => number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/**
 * Turn pods matching `from` into copies of random pods matching `to` (shape only) until `count` of the
 * list match `to`; pods are picked in a seeded random order. Never overshoots; stops when `from` runs out.
 */
function convert(pods: TracePod[], from: (p: TracePod) => boolean, to: (p: TracePod) => boolean, count: number, rng: () => number): void {
  const templates = pods.filter(to).map((p) => ({ ...p }));
  if (templates.length === 0) throw new Error('workload family: the base pod list has no pod of the kind to convert to');
  let have = pods.filter(to).length;
  for (const i of shuffled(pods.length, rng)) {
    if (have >= count) return;
    const p = pods[i]!;
    if (!from(p) || to(p)) continue;
    const t = templates[Math.floor(rng() * templates.length)]!;
    pods[i] = { ...p, cpuMilli: t.cpuMilli, memoryMiB: t.memoryMiB, numGpu: t.numGpu, gpuMilli: t.gpuMilli, gpuModels: t.gpuModels };
    have++;
  }
}

/**
 * One family variant of `base` at `level` (see FAMILY_LEVELS). `nodes` is the cluster the variant is for:
 * pinned pods name a GPU model drawn by that cluster's GPU count, among models with a node big enough.
 */
export function deriveFamily(base: readonly TracePod[], nodes: readonly TraceNode[], family: Family, level: number, seed: number): TracePod[] {
  if (!(level >= 0 && level <= 1)) throw new Error(`workload family ${family}: level must be a share between 0 and 1, got ${level}`);
  const rng = makeRng(seed ^ 0xfa3111e5);
  const pods = base.map((p) => ({ ...p, gpuModels: [...p.gpuModels] }));
  const gpuPods = pods.filter(isGpu).length;
  switch (family) {
    case 'share': {
      const want = Math.round(level * gpuPods);
      if (want >= pods.filter(isShare).length) convert(pods, isSingleWhole, isShare, want, rng);
      else convert(pods, isShare, isSingleWhole, gpuPods - pods.filter(isMulti).length - want, rng);
      break;
    }
    case 'multi':
      convert(pods, (p) => p.numGpu === 1, isMulti, Math.round(level * gpuPods), rng);
      break;
    case 'cpu': {
      const want = Math.round(level * pods.length);
      const cpuOnly = (p: TracePod): boolean => !isGpu(p);
      if (want >= pods.filter(cpuOnly).length) convert(pods, isGpu, cpuOnly, want, rng);
      else convert(pods, cpuOnly, isGpu, pods.length - want, rng);
      break;
    }
    case 'pinned': {
      const gpusByModel = new Map<string, { gpus: number; maxPerNode: number }>();
      for (const n of nodes) {
        if (n.gpus === 0) continue;
        const m = gpusByModel.get(n.model) ?? { gpus: 0, maxPerNode: 0 };
        m.gpus += n.gpus;
        m.maxPerNode = Math.max(m.maxPerNode, n.gpus);
        gpusByModel.set(n.model, m);
      }
      const models = [...gpusByModel.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
      let have = pods.filter((p) => isGpu(p) && p.gpuModels.length > 0).length;
      const want = Math.round(level * gpuPods);
      for (const i of shuffled(pods.length, rng)) {
        if (have >= want) break;
        const p = pods[i]!;
        if (!isGpu(p) || p.gpuModels.length > 0) continue;
        const fit = models.filter(([, m]) => m.maxPerNode >= p.numGpu);
        const total = fit.reduce((s, [, m]) => s + m.gpus, 0);
        let x = rng() * total;
        const pick = fit.find(([, m]) => (x -= m.gpus) < 0) ?? fit[fit.length - 1]!;
        pods[i] = { ...p, gpuModels: [pick[0]] };
        have++;
      }
      break;
    }
  }
  return pods;
}

/** The shares a family level moves, measured on a pod list (for reports and tests). */
export function familyShares(pods: readonly TracePod[]): Record<Family, number> {
  const gpu = pods.filter(isGpu);
  const per = (f: (p: TracePod) => boolean): number => (gpu.length ? gpu.filter(f).length / gpu.length : 0);
  return {
    share: per(isShare),
    multi: per(isMulti),
    pinned: per((p) => p.gpuModels.length > 0),
    cpu: pods.length ? (pods.length - gpu.length) / pods.length : 0,
  };
}
