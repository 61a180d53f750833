// OpenB trace parsing (Alibaba cluster-trace-gpu-v2023, Weng et al., USENIX ATC '23). Pure: takes CSV
// text, returns typed rows; reading files is the caller's business.
import type { NodeSpec } from '../model.ts';
import { parseGpuModels } from '../model.ts';

export interface TraceNode {
  name: string;
  cpuMilli: number;
  memoryMiB: number;
  gpus: number;
  model: string;
}

export interface TracePod {
  name: string;
  cpuMilli: number;
  memoryMiB: number;
  numGpu: number;
  /** Share of one GPU for numGpu == 1 (1000 = whole). */
  gpuMilli: number;
  gpuModels: string[];
  qos: string;
  phase: string;
  creation: number;
  deletion: number;
  scheduled: number;
}

function rows(csv: string): { header: string[]; data: string[][] } {
  const lines = csv.split(/\r?\n/).filter((l) => l.trim().length > 0);
  const header = (lines.shift() ?? '').split(',');
  return { header, data: lines.map((l) => l.split(',')) };
}

export function parseNodes(csv: string): TraceNode[] {
  const { header, data } = rows(csv);
  const col = (n: string): number => header.indexOf(n);
  const [sn, cpu, mem, gpu, model] = ['sn', 'cpu_milli', 'memory_mib', 'gpu', 'model'].map(col) as [number, number, number, number, number];
  return data.map((r) => ({ name: r[sn]!, cpuMilli: Number(r[cpu]), memoryMiB: Number(r[mem]), gpus: Number(r[gpu]), model: r[model] ?? '' }));
}

export function parsePods(csv: string): TracePod[] {
  const { header, data } = rows(csv);
  const col = (n: string): number => header.indexOf(n);
  const c = {
    name: col('name'),
    cpu: col('cpu_milli'),
    mem: col('memory_mib'),
    num: col('num_gpu'),
    milli: col('gpu_milli'),
    spec: col('gpu_spec'),
    qos: col('qos'),
    phase: col('pod_phase'),
    creation: col('creation_time'),
    deletion: col('deletion_time'),
    scheduled: col('scheduled_time'),
  };
  const num = (r: string[], i: number): number => (i < 0 ? 0 : Number(r[i] ?? 0) || 0);
  return data.map((r) => ({
    name: r[c.name]!,
    cpuMilli: num(r, c.cpu),
    memoryMiB: num(r, c.mem),
    numGpu: num(r, c.num),
    gpuMilli: num(r, c.milli),
    gpuModels: c.spec < 0 ? [] : parseGpuModels(r[c.spec]),
    qos: c.qos < 0 ? 'LS' : (r[c.qos] ?? 'LS'),
    phase: c.phase < 0 ? 'Running' : (r[c.phase] ?? ''),
    creation: num(r, c.creation),
    deletion: num(r, c.deletion),
    scheduled: num(r, c.scheduled),
  }));
}

/** A trace node as an empty scheduler node. */
export function toNodeSpec(n: TraceNode): NodeSpec {
  return {
    name: n.name,
    gpuModel: n.gpus > 0 ? n.model : '',
    gpus: Array.from({ length: n.gpus }, () => ({ healthy: true, milliUsed: 0 })),
    cpuMilli: n.cpuMilli,
    memoryMiB: n.memoryMiB,
    cpuAllocatedMilli: 0,
    memoryAllocatedMiB: 0,
    schedulable: true,
  };
}

/** Per-task request in the scheduler's terms: whole GPUs, or a share of one. */
export function podRequest(p: TracePod): { gpus: number; milliGpu?: number } {
  if (p.numGpu === 1 && p.gpuMilli > 0 && p.gpuMilli < 1000) return { gpus: 0, milliGpu: p.gpuMilli };
  return { gpus: p.numGpu };
}
