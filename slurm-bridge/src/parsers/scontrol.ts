// `scontrol show job|node|partition -o` → the bridge's shapes.
import type { SlurmJob, SlurmNode, SlurmPartition } from '../types.ts';
import {
  expandHostlist,
  gpusInUse,
  gresTotal,
  nullable,
  parseDurationMin,
  parseExitCode,
  parseGres,
  parseMemoryMiB,
  parseNodeState,
  parseReason,
  parseSlurmTime,
  tresGres,
  userName,
} from './common.ts';
import { parseKeyValueLines } from './kv.ts';

export class ParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParseError';
  }
}

function int(v: string | undefined, fallback = 0): number {
  const m = /^(\d+)/.exec((v ?? '').trim());
  return m ? Number(m[1]) : fallback;
}

/** One job record; throws ParseError when the record has no JobId or JobState. */
export function jobFromScontrol(r: Record<string, string>): SlurmJob {
  const jobId = r.JobId;
  if (!jobId || !/^\d+$/.test(jobId)) throw new ParseError(`scontrol job record without a numeric JobId: ${JSON.stringify(r).slice(0, 200)}`);
  if (!r.JobState) throw new ParseError(`scontrol job ${jobId} has no JobState`);
  const exit = parseExitCode(r.ExitCode) ?? { exitCode: 0, signal: 0 };
  const limit = parseDurationMin(r.TimeLimit);
  return {
    jobId,
    arrayJobId: nullable(r.ArrayJobId),
    arrayTaskId: nullable(r.ArrayTaskId),
    name: r.JobName ?? '',
    comment: r.Comment ?? '',
    user: userName(r.UserId),
    account: nullable(r.Account),
    partition: nullable(r.Partition) ?? '',
    state: r.JobState.toUpperCase(),
    reason: nullable(r.Reason) ?? 'None',
    exitCode: exit.exitCode,
    signal: exit.signal,
    nodeList: nullable(r.NodeList) ?? '',
    numNodes: int(r.NumNodes, 1),
    numCpus: int(r.NumCPUs, 1),
    timeLimitMin: limit === null ? undefined : limit,
    submitTime: parseSlurmTime(r.SubmitTime),
    startTime: parseSlurmTime(r.StartTime),
    endTime: parseSlurmTime(r.EndTime),
    stdout: nullable(r.StdOut) ?? '',
    stderr: nullable(r.StdErr) ?? '',
    workDir: nullable(r.WorkDir) ?? '',
    tresPerNode: nullable(r.TresPerNode) ?? '',
    priority: r.Priority !== undefined && /^\d+$/.test(r.Priority) ? Number(r.Priority) : undefined,
    arrayTaskThrottle: r.ArrayTaskThrottle && /^\d+$/.test(r.ArrayTaskThrottle) && r.ArrayTaskThrottle !== '0' ? Number(r.ArrayTaskThrottle) : undefined,
    qos: nullable(r.QOS),
    dependency: nullable(r.Dependency),
    features: nullable(r.Features),
    command: nullable(r.Command),
    minMemory: nullable(r.MinMemoryNode) ?? nullable(r.MinMemoryCPU),
  };
}

/** Output of `scontrol show job -o [id]`; "No jobs in the system" → []. Bad records throw. */
export function parseScontrolJobs(text: string): SlurmJob[] {
  return parseKeyValueLines(text).map(jobFromScontrol);
}

export function nodeFromScontrol(r: Record<string, string>): SlurmNode {
  const name = r.NodeName;
  if (!name) throw new ParseError(`scontrol node record without NodeName: ${JSON.stringify(r).slice(0, 200)}`);
  if (!r.State) throw new ParseError(`scontrol node ${name} has no State`);
  const { baseState, flags } = parseNodeState(r.State);
  const reason = parseReason(r.Reason);
  const gres = parseGres(r.Gres);
  // GresUsed (`scontrol show node -d`) counts every job's GPUs, those holding shards included; AllocTRES has them only when accounting tracks gres/gpu.
  const usedGpus = gpusInUse(r.GresUsed, gresTotal(gres)) ?? tresGres(r.AllocTRES, 'gpu');
  return {
    name,
    baseState,
    flags,
    cpus: int(r.CPUTot),
    allocCpus: int(r.CPUAlloc),
    memoryMiB: int(r.RealMemory),
    allocMemoryMiB: int(r.AllocMem),
    gres,
    gresUsed: gres.filter((g) => g.name === 'gpu').slice(0, 1).map((g) => ({ ...g, count: usedGpus })),
    partitions: (nullable(r.Partitions) ?? '').split(',').filter(Boolean),
    features: (nullable(r.AvailableFeatures) ?? '').split(',').filter(Boolean),
    reason: reason.reason,
    reasonUser: reason.user,
    reasonTime: reason.time,
  };
}

export function parseScontrolNodes(text: string): SlurmNode[] {
  return parseKeyValueLines(text, { greedy: ['Reason'] }).map(nodeFromScontrol);
}

export function partitionFromScontrol(r: Record<string, string>): SlurmPartition {
  const name = r.PartitionName;
  if (!name) throw new ParseError(`scontrol partition record without PartitionName: ${JSON.stringify(r).slice(0, 200)}`);
  const max = parseDurationMin(r.MaxTime);
  return {
    name,
    nodes: nullable(r.Nodes) ?? '',
    state: (r.State ?? 'UNKNOWN').toUpperCase(),
    isDefault: r.Default === 'YES',
    totalCpus: int(r.TotalCPUs),
    totalNodes: int(r.TotalNodes),
    maxTimeMin: max === null ? undefined : max,
  };
}

export function parseScontrolPartitions(text: string): SlurmPartition[] {
  return parseKeyValueLines(text).map(partitionFromScontrol);
}

/** `sbatch --parsable` → `N` or `N;cluster`. */
export function parseParsableSubmit(text: string): { jobId: string; cluster?: string } {
  const line = text.trim().split('\n').pop() ?? '';
  const m = /^(\d+)(?:;(\S+))?$/.exec(line.trim());
  if (!m) throw new ParseError(`sbatch --parsable printed no job id: ${JSON.stringify(text.slice(0, 200))}`);
  return { jobId: m[1]!, cluster: m[2] };
}

export { expandHostlist, parseMemoryMiB };
