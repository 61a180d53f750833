import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseNodes, parsePods } from './trace.ts';
import { FAMILIES, FAMILY_LEVELS, deriveFamily, familyShares } from './families.ts';
import { runFill } from './fill.ts';
import { oneCluster, threeRegions, traceWorkload } from './setup.ts';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../../bench/data/openb');
const nodes = parseNodes(readFileSync(join(dir, 'openb_node_list_all_node.csv'), 'utf8'));
const base = parsePods(readFileSync(join(dir, 'openb_pod_list_default.csv'), 'utf8'));

describe('workload families', () => {
  it('each level reaches its share (within one pod) and moves nothing else of note', () => {
    const before = familyShares(base);
    for (const f of FAMILIES)
      for (const level of FAMILY_LEVELS[f].levels) {
        const pods = deriveFamily(base, nodes, f, level, 7);
        expect(pods).toHaveLength(base.length);
        const s = familyShares(pods);
        // share = 1.0 cannot turn multi-GPU pods into shares: it stops at the single-GPU pods.
        const reach = f === 'share' ? Math.min(level, 1 - s.multi) : level;
        expect(Math.abs(s[f] - reach)).toBeLessThan(2 / base.length + 1e-9);
        if (f !== 'cpu') expect(s.cpu).toBeCloseTo(before.cpu, 5);
        if (f !== 'pinned') expect(s.pinned).toBe(0);
      }
  });

  it('is reproducible from the seed, and another seed picks other pods', () => {
    const a = deriveFamily(base, nodes, 'pinned', 0.33, 1);
    expect(deriveFamily(base, nodes, 'pinned', 0.33, 1)).toEqual(a);
    expect(deriveFamily(base, nodes, 'pinned', 0.33, 2)).not.toEqual(a);
    expect(base.every((p) => p.gpuModels.length === 0)).toBe(true);
  });

  it('pins pods only to models with a node big enough for them', () => {
    const maxPer = new Map<string, number>();
    for (const n of nodes) if (n.gpus > 0) maxPer.set(n.model, Math.max(maxPer.get(n.model) ?? 0, n.gpus));
    for (const p of deriveFamily(base, nodes, 'pinned', 0.7, 3)) if (p.gpuModels.length) expect(maxPer.get(p.gpuModels[0]!)!).toBeGreaterThanOrEqual(p.numGpu);
  });

  it('refuses a level outside [0, 1] with the field named', () => {
    expect(() => deriveFamily(base, nodes, 'cpu', 1.5, 1)).toThrow(/level must be a share between 0 and 1, got 1.5/);
  });
});

/** The paper's scheduler: no CPU kept back on GPU nodes, its measure and weights. */
const PAPER = { gpuNodeReserve: false, cpuAwareFragmentation: false, workloadWeighting: 'per-task' } as const;

describe('balanced across clusters', () => {
  it('on a CPU-heavy family, three regions strand no more GPUs than FGD on the whole cluster', () => {
    // A slice keeps this fast: every fourth node, the CPU-only share at 30%.
    const slice = nodes.filter((_, i) => i % 4 === 0);
    const pods = deriveFamily(base, slice, 'cpu', 0.3, 1);
    const workload = traceWorkload(pods, 64);
    const fill = (clusters: ReturnType<typeof oneCluster>, gpuNodeReserve: boolean) =>
      runFill({ clusters, pods, workload, strategy: 'fgd', policy: 'balanced', seed: 1, until: 1.3, maxNodesScored: 0, config: gpuNodeReserve ? {} : PAPER }).unallocatedShare;
    const fgd = fill(oneCluster(slice), false);
    const fed = fill(threeRegions(slice), false);
    expect(fed).toBeLessThanOrEqual(fgd * 1.05);
  });

  it('where CPU-only pods outrun the CPU, GPU nodes keeping CPU for their free GPUs strand far fewer GPUs than FGD', () => {
    const slice = nodes.filter((_, i) => i % 4 === 0);
    const pods = deriveFamily(base, slice, 'cpu', 0.5, 1);
    const workload = traceWorkload(pods, 64);
    const fill = (gpuNodeReserve: boolean) => runFill({ clusters: oneCluster(slice), pods, workload, strategy: 'fgd', policy: 'balanced', seed: 1, until: 1.3, maxNodesScored: 0, config: gpuNodeReserve ? {} : PAPER });
    const fgd = fill(false);
    const kept = fill(true);
    expect(fgd.unallocatedShare).toBeGreaterThan(0.2);
    expect(kept.unallocatedShare).toBeLessThan(fgd.unallocatedShare / 2);
    // CPU-only pods still run: on CPU-only nodes and in the CPU the GPU nodes can spare.
    expect(kept.tasksPlaced).toBeGreaterThan(fgd.tasksPlaced * 0.5);
  });
});
