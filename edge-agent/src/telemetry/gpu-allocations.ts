// Who holds which GPU, as pure functions over what the node's own sources answer:
//  - the kubelet PodResources API (List): containers → device ids; for nvidia.com/gpu the ids are GPU UUIDs;
//  - Slurm (`scontrol show job -d -o`): per job and node, `GRES=gpu:a100:2(IDX:0-1)`, the GPU indices it holds.
// The I/O around them lives in pod-resources.ts and slurm-allocations.ts.
import { expandHostlist, nullable, splitOutsideParens } from '@meridian/slurm-bridge/parsers/common';
import { parseKeyValueLine } from '@meridian/slurm-bridge/parsers/kv';
import { parseFederationComment } from '../slurm/translate.ts';
import type { AllocationSource, GpuAllocation } from './collector.ts';

/**
 * Key of an allocation known only by the GPU's index on the node (Slurm's gres index), not its UUID. The
 * collector looks a GPU up by UUID first, then by this key.
 */
export function gpuIndexKey(index: number): string {
  return `index:${index}`;
}

// ---------------------------------------------------------------------------------------------------------
// Kubernetes: PodResources List

/** The part of podresources/v1 ListPodResourcesResponse the mapping reads (proto field names). */
export interface ListPodResourcesResponse {
  pod_resources?: {
    name?: string;
    namespace?: string;
    containers?: { name?: string; devices?: { resource_name?: string; device_ids?: string[] }[] }[];
  }[];
}

/**
 * Whole-GPU resources of the NVIDIA device plugin: `nvidia.com/gpu`, and renamed shared GPUs such as
 * `nvidia.com/gpu.shared` (time-slicing). MIG slices (`nvidia.com/mig-*`) carry MIG UUIDs, which match no
 * whole-GPU series, so they are left out.
 */
export function isGpuResource(name: string): boolean {
  return name === 'nvidia.com/gpu' || name.startsWith('nvidia.com/gpu.');
}

/** Device id → GPU UUID: time-sliced replicas are announced as `<uuid>::<replica>`. */
export function gpuUuidOfDevice(id: string): string {
  const i = id.indexOf('::');
  return (i >= 0 ? id.slice(0, i) : id).trim();
}

/**
 * GPU UUID → the container holding it. A GPU shared by several containers (time-slicing) is attributed to the
 * first in namespace/pod/container order, so the labels stay stable between scrapes.
 */
export function allocationsFromPodResources(resp: ListPodResourcesResponse, isGpu: (resource: string) => boolean = isGpuResource): Map<string, GpuAllocation> {
  const found: { uuid: string; key: string; a: GpuAllocation }[] = [];
  for (const pod of resp.pod_resources ?? []) {
    if (!pod.name || !pod.namespace) continue;
    for (const c of pod.containers ?? []) {
      for (const d of c.devices ?? []) {
        if (!d.resource_name || !isGpu(d.resource_name)) continue;
        for (const id of d.device_ids ?? []) {
          const uuid = gpuUuidOfDevice(id);
          if (!uuid) continue;
          const a: GpuAllocation = { namespace: pod.namespace, pod: pod.name };
          if (c.name) a.container = c.name;
          found.push({ uuid, key: `${pod.namespace}\u0000${pod.name}\u0000${c.name ?? ''}`, a });
        }
      }
    }
  }
  found.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  const out = new Map<string, GpuAllocation>();
  for (const f of found) if (!out.has(f.uuid)) out.set(f.uuid, f.a);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Slurm: scontrol show job -d -o

export interface SlurmGpuJob {
  /** Slurm's JobId (for an array task its own id, as SLURM_JOB_ID in the job's environment) */
  jobId: string;
  arrayJobId?: string;
  arrayTaskId?: string;
  state: string;
  /** the federation job id, from a `meridian:<id>:<attempt>` comment */
  federationJobId?: string;
}

/** Job states in which a job still holds its GPUs. */
const HOLDING = new Set(['RUNNING', 'SUSPENDED', 'COMPLETING', 'STOPPED']);

/** `0-1,3` → [0, 1, 3]; anything else in the list (N/A, garbage) → null. */
export function parseIndexList(v: string): number[] | null {
  const out: number[] = [];
  for (const part of v.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return null;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi - lo > 1024) return null;
    for (let i = lo; i <= hi; i++) out.push(i);
  }
  return out;
}

/**
 * GPU indices in one node's GRES allocation: `gpu:a100:2(IDX:0-1)`, `gpu:2(IDX:0,2)`,
 * `gpu:a100:1(IDX:3),gpu:v100:1(IDX:0)`. Other GRES (and entries without IDX) are ignored.
 */
export function gpuIndicesOfGres(gres: string, gresName = 'gpu'): number[] {
  const out: number[] = [];
  for (const p of splitOutsideParens(gres)) {
    const m = /^(?:gres[:/])?([A-Za-z][\w.-]*)[^(]*\(([^)]*)\)$/.exec(p.trim());
    if (!m || m[1] !== gresName) continue;
    const inner = m[2]!.trim();
    const list = inner.startsWith('IDX:') ? parseIndexList(inner.slice(4)) : null;
    if (list) out.push(...list);
  }
  return out;
}

/** One job record's per-node sections: `Nodes=gpu-0 CPU_IDs=2 Mem=100 GRES=gpu:a100:1(IDX:3)` → [[nodes, gres]]. */
function nodeSections(line: string): { nodes: string[]; gres: string }[] {
  const out: { nodes: string[]; gres: string }[] = [];
  const starts = [...line.matchAll(/(?:^|\s)Nodes=(\S+)/g)];
  for (let i = 0; i < starts.length; i++) {
    const from = starts[i]!.index!;
    const to = i + 1 < starts.length ? starts[i + 1]!.index! : line.length;
    const g = /(?:^|\s)GRES=(\S*)/.exec(line.slice(from, to));
    out.push({ nodes: expandHostlist(starts[i]![1]), gres: g?.[1] ?? '' });
  }
  return out;
}

/**
 * GPU index → job on `node`, from `scontrol show job -d -o` (one record per line; any number of jobs).
 * Only jobs in a state that holds GPUs count; lines that are not job records are skipped.
 */
export function parseSlurmGpuJobs(text: string, node: string, gresName = 'gpu'): Map<number, SlurmGpuJob> {
  const out = new Map<number, SlurmGpuJob>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith('JobId=')) continue;
    const kv = parseKeyValueLine(line);
    const jobId = nullable(kv.JobId);
    const state = (nullable(kv.JobState) ?? '').toUpperCase();
    if (!jobId || !/^\d+$/.test(jobId) || !HOLDING.has(state)) continue;
    const job: SlurmGpuJob = { jobId, state };
    const arrayJobId = nullable(kv.ArrayJobId);
    const arrayTaskId = nullable(kv.ArrayTaskId);
    if (arrayJobId) job.arrayJobId = arrayJobId;
    if (arrayTaskId) job.arrayTaskId = arrayTaskId;
    const fed = parseFederationComment(nullable(kv.Comment) ?? '');
    if (fed) job.federationJobId = fed.jobId;
    for (const s of nodeSections(line)) {
      if (!s.nodes.includes(node)) continue;
      for (const i of gpuIndicesOfGres(s.gres, gresName)) if (!out.has(i)) out.set(i, job);
    }
  }
  return out;
}

/** The collector's view of a Slurm mapping: keyed by gpuIndexKey(), labels slurm_job_id / hpc_job / meridian_job_id. */
export function allocationsFromSlurmJobs(jobs: Map<number, SlurmGpuJob>): Map<string, GpuAllocation> {
  const out = new Map<string, GpuAllocation>();
  for (const [index, j] of jobs) {
    const a: GpuAllocation = { slurmJobId: j.jobId, hpcJob: j.jobId };
    if (j.federationJobId) a.jobId = j.federationJobId;
    out.set(gpuIndexKey(index), a);
  }
  return out;
}

/**
 * Every source's answer in one map (the first source wins a key). A failing source does not hide the others
 * (each logs its own failures); only when every source fails does the collector see the error.
 */
export function combineAllocationSources(sources: AllocationSource[]): AllocationSource {
  return {
    async allocations() {
      const results = await Promise.allSettled(sources.map((s) => s.allocations()));
      const out = new Map<string, GpuAllocation>();
      const errors: string[] = [];
      for (const r of results) {
        if (r.status === 'rejected') errors.push(r.reason instanceof Error ? r.reason.message : String(r.reason));
        else for (const [k, v] of r.value) if (!out.has(k)) out.set(k, v);
      }
      if (errors.length === sources.length && errors.length > 0) throw new Error(errors.join('; '));
      return out;
    },
  };
}
