// The workload-family grid of `bench:trace`: for each family and level (hub/src/scheduler/sim/families.ts),
// the FGD paper's fill experiment (arrivals until GPU requests reach 130% of capacity, nothing departs, a
// task that does not fit is dropped), reporting the share of GPUs left unallocated.
//  - fgd, best-fit: the node scorers alone on the whole trace cluster as one member, every node scored
//    (the paper's setting; `fgd` is the yardstick).
//  - every Meridian policy, shipped configuration, on the same nodes dealt into three priced regions (the
//    federation case: each task must also pick a cluster).
import type { NodeStrategy, PolicyName, SchedulerConfig } from '../src/scheduler/index.ts';
import { resolveConfig } from '../src/scheduler/engine.ts';
import type { TraceNode, TracePod } from '../src/scheduler/sim/trace.ts';
import { oneCluster, threeRegions, traceWorkload } from '../src/scheduler/sim/setup.ts';
import { runFill } from '../src/scheduler/sim/fill.ts';
import type { Family } from '../src/scheduler/sim/families.ts';
import { FAMILIES, FAMILY_LEVELS, deriveFamily, familyShares } from '../src/scheduler/sim/families.ts';

interface GridVariant {
  name: string;
  strategy: NodeStrategy;
  policy: PolicyName;
  maxNodesScored: number;
  federation: boolean;
  /** The paper's scorers: no CPU kept back on GPU nodes, the paper's measure and weights. Policies: shipped config. */
  config?: SchedulerConfig;
}

export const DEFAULT_VARIANT = 'balanced (default)';
const CAP = resolveConfig().maxNodesScored;
export const GRID_VARIANTS: GridVariant[] = [
  { name: 'fgd', strategy: 'fgd', policy: 'balanced', maxNodesScored: 0, federation: false, config: { gpuNodeReserve: false, cpuAwareFragmentation: false, workloadWeighting: 'per-task' } },
  { name: 'best-fit', strategy: 'best-fit', policy: 'balanced', maxNodesScored: 0, federation: false, config: { gpuNodeReserve: false, cpuAwareFragmentation: false, workloadWeighting: 'per-task' } },
  { name: DEFAULT_VARIANT, strategy: 'fgd', policy: 'balanced', maxNodesScored: CAP, federation: true },
  { name: 'inventory-first', strategy: 'fgd', policy: 'inventory-first', maxNodesScored: CAP, federation: true },
  { name: 'cost-first', strategy: 'fgd', policy: 'cost-first', maxNodesScored: CAP, federation: true },
  { name: 'locality-first', strategy: 'fgd', policy: 'locality-first', maxNodesScored: CAP, federation: true },
];

export interface GridRow {
  family: Family;
  level: number;
  /** The family's share as measured on the derived pod list. */
  measured: number;
  /** Unallocated GPU share at 130% arrival, mean over seeds, per variant. */
  unallocated: Record<string, number>;
  /** Meridian default / FGD. */
  ratio: number;
}

export interface GridResult {
  seeds: number;
  nodes: number;
  rows: GridRow[];
  /** Per family: mean ratio, mean unallocated per variant, and the default's excess over the best policy. */
  families: Record<string, { meanRatio: number; meanUnallocated: Record<string, number>; defaultVsBestPolicy: number; bestPolicy: string }>;
  averageRatio: number;
  worstFamilyRatio: number;
}

const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
const r4 = (x: number): number => Number(x.toFixed(4));

export function runGrid(nodes: TraceNode[], base: TracePod[], seeds: number, onRow: (r: GridRow) => void = () => {}): GridResult {
  const rows: GridRow[] = [];
  const one = oneCluster(nodes);
  const fed = threeRegions(nodes);
  for (const family of FAMILIES)
    for (const level of FAMILY_LEVELS[family].levels) {
      const unallocated: Record<string, number> = {};
      const runs: Record<string, number[]> = {};
      let measured = 0;
      for (let s = 1; s <= seeds; s++) {
        // The variant list differs per seed too, so seeds average over pod choice and arrival order.
        const pods = deriveFamily(base, nodes, family, level, s);
        measured += familyShares(pods)[family] / seeds;
        const workload = traceWorkload(pods, 64);
        for (const v of GRID_VARIANTS) {
          const r = runFill({ clusters: v.federation ? fed : one, pods, workload, strategy: v.strategy, policy: v.policy, seed: s, until: 1.3, maxNodesScored: v.maxNodesScored, ...(v.config ? { config: v.config } : {}) });
          (runs[v.name] ??= []).push(r.unallocatedShare);
        }
      }
      for (const v of GRID_VARIANTS) unallocated[v.name] = r4(mean(runs[v.name]!));
      const row: GridRow = { family, level, measured: r4(measured), unallocated, ratio: r4(unallocated[DEFAULT_VARIANT]! / Math.max(1e-9, unallocated.fgd!)) };
      rows.push(row);
      onRow(row);
    }
  const families: GridResult['families'] = {};
  const policies = GRID_VARIANTS.filter((v) => v.federation).map((v) => v.name);
  for (const family of FAMILIES) {
    const fr = rows.filter((r) => r.family === family);
    const meanUnallocated = Object.fromEntries(GRID_VARIANTS.map((v) => [v.name, r4(mean(fr.map((r) => r.unallocated[v.name]!)))]));
    const bestPolicy = policies.reduce((a, b) => (meanUnallocated[b]! < meanUnallocated[a]! ? b : a));
    families[family] = {
      meanRatio: r4(mean(fr.map((r) => r.ratio))),
      meanUnallocated,
      bestPolicy,
      defaultVsBestPolicy: r4(meanUnallocated[DEFAULT_VARIANT]! / Math.max(1e-9, meanUnallocated[bestPolicy]!) - 1),
    };
  }
  return {
    seeds,
    nodes: nodes.length,
    rows,
    families,
    averageRatio: r4(mean(rows.map((r) => r.ratio))),
    worstFamilyRatio: r4(Math.max(...Object.values(families).map((f) => f.meanRatio))),
  };
}

/** The grid as printed by bench:trace. */
export function gridHeader(): string {
  return `${'family'.padEnd(8)}${'level'.padStart(6)}${'measured'.padStart(9)}${GRID_VARIANTS.map((v) => v.name.replace(' (default)', '*').padStart(17)).join('')}${'default/FGD'.padStart(13)}`;
}

export function gridLine(r: GridRow): string {
  const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
  return `${r.family.padEnd(8)}${r.level.toFixed(2).padStart(6)}${r.measured.toFixed(3).padStart(9)}${GRID_VARIANTS.map((v) => pct(r.unallocated[v.name]!).padStart(17)).join('')}${r.ratio.toFixed(3).padStart(13)}`;
}
