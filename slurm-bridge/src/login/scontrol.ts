// scontrol: show job|partition|node|config [-o], hold|uhold|release|requeue, with -M; Slurm 22.05's words
// for unknown keywords, entities and job ids.
import { hostname } from 'node:os';
import { secsToTime, slurmTime } from './format.ts';
import { getopt, OptError, optSpec } from './getopt.ts';
import { federationName, VERSION, type Io } from './io.ts';
import { HubError, hubClientFromEnv, type HubClient } from './hub-client.ts';
import { clusterScopes, jobInScope } from './clusters.ts';
import { compressHostlist } from './hostlist.ts';
import { nodeRows, type NodeRow } from './sinfo.ts';
import { queueRowFromHub, type HubJobView } from './rows.ts';

const SPEC = optSpec([
  ['o', 'oneliner', 'oneliner', false], ['d', 'details', 'details', false], ['M', 'clusters', 'clusters', true], ['a', 'all', 'all', false],
  ['Q', 'quiet', 'quiet', false], ['v', 'verbose', 'verbose', false], ['V', 'version', 'version', false], ['', 'local', 'local', false],
  ['', 'federation', 'federation', false], ['', 'sibling', 'sibling', false], ['u', 'uid', 'uid', true], ['', 'json', 'json', false],
]);

type Rec = [string, string][][];

const render = (recs: Rec[], oneLine: boolean) =>
  recs.map((fields) => (oneLine ? `${fields.flat().map(([k, v]) => `${k}=${v}`).join(' ')}\n` : `${fields.map((l) => `   ${l.map(([k, v]) => `${k}=${v}`).join(' ')}`).join('\n').replace(/^ {3}/, '')}\n\n`)).join('');

function jobRecord(v: HubJobView, now: number): Rec {
  const r = queueRowFromHub(v, now);
  return [
    [['JobId', r.jobId], ['JobName', r.name]],
    [['UserId', r.user], ['Account', r.account || '(null)'], ['QOS', r.qos || '(null)']],
    [['Priority', String(r.priority ?? 0)]],
    [['JobState', r.state], ['Reason', r.reason], ['Dependency', r.dependency || '(null)']],
    [['ExitCode', r.exitCode ?? '0:0']],
    [['RunTime', secsToTime(r.startTime ? (r.endTime ?? now) - r.startTime : 0)], ['TimeLimit', r.timeLimitSec === undefined ? 'UNLIMITED' : secsToTime(r.timeLimitSec)]],
    [['SubmitTime', slurmTime(r.submitTime)], ['StartTime', r.startTime ? slurmTime(r.startTime) : 'Unknown'], ['EndTime', r.endTime ? slurmTime(r.endTime) : 'Unknown']],
    [['Partition', r.partition], ['NodeList', r.nodeList || '(null)']],
    [['NumNodes', String(r.numNodes)], ['NumCPUs', String(r.numCpus)]],
    [['TRES', r.tresAlloc ?? '(null)']],
    [['WorkDir', r.workDir || '(null)']],
    [['StdErr', v.slurm?.stdErr ?? '(null)']],
    [['StdIn', '/dev/null']],
    [['StdOut', v.slurm?.stdOut ?? '(null)']],
    [['Comment', `meridian:${v.id}`], ['Cluster', v.cluster ?? '(null)'], ['ClusterJobId', v.clusterJobId ?? '(null)']],
  ];
}

/** A partition record as `scontrol show partition` prints it; limits are the ones the federation does not set. */
function partitionRecord(name: string, rows: NodeRow[]): Rec {
  const cpus = rows.reduce((a, r) => a + r.cpus, 0);
  const mem = rows.reduce((a, r) => a + r.memMiB, 0);
  return [
    [['PartitionName', name]],
    [['AllowGroups', 'ALL'], ['AllowAccounts', 'ALL'], ['AllowQos', 'ALL']],
    [['AllocNodes', 'ALL'], ['Default', 'NO'], ['QoS', 'N/A']],
    [['DefaultTime', 'NONE'], ['DisableRootJobs', 'NO'], ['ExclusiveUser', 'NO'], ['GraceTime', '0'], ['Hidden', 'NO']],
    [['MaxNodes', 'UNLIMITED'], ['MaxTime', 'UNLIMITED'], ['MinNodes', '0'], ['LLN', 'NO'], ['MaxCPUsPerNode', 'UNLIMITED']],
    [['Nodes', compressHostlist(rows.map((r) => r.name))]],
    [['PriorityJobFactor', '1'], ['PriorityTier', '1'], ['RootOnly', 'NO'], ['ReqResv', 'NO'], ['OverSubscribe', 'NO']],
    [['OverTimeLimit', 'NONE'], ['PreemptMode', 'OFF']],
    [['State', 'UP'], ['TotalCPUs', String(cpus)], ['TotalNodes', String(rows.length)], ['SelectTypeParameters', 'NONE']],
    [['JobDefaults', '(null)']],
    [['DefMemPerNode', 'UNLIMITED'], ['MaxMemPerNode', 'UNLIMITED']],
    [['TRES', `cpu=${cpus},mem=${mem}M,node=${rows.length},billing=${cpus}`]],
  ];
}

function nodeRecord(r: NodeRow, partitions: string[]): Rec {
  const gres = r.gpus ? `gpu:${r.gpuModel ? `${r.gpuModel}:` : ''}${r.gpus}` : '(null)';
  return [
    [['NodeName', r.name], ['Arch', 'x86_64'], ['CoresPerSocket', '1']],
    [['CPUAlloc', String(r.allocCpus)], ['CPUEfctv', String(r.cpus)], ['CPUTot', String(r.cpus)], ['CPULoad', 'N/A']],
    [['AvailableFeatures', r.features.join(',') || '(null)']],
    [['ActiveFeatures', r.features.join(',') || '(null)']],
    [['Gres', gres]],
    [['NodeAddr', r.name], ['NodeHostName', r.name]],
    [['RealMemory', String(r.memMiB)], ['AllocMem', String(r.allocMemMiB)], ['FreeMem', 'N/A'], ['Sockets', String(r.cpus)], ['Boards', '1']],
    [['State', r.state.toUpperCase()], ['ThreadsPerCore', '1'], ['TmpDisk', '0'], ['Weight', '1'], ['Owner', 'N/A'], ['MCS_label', 'N/A']],
    [['Partitions', partitions.join(',')]],
    [['Reason', r.reason === 'none' ? '(null)' : r.reason], ['Cluster', r.cluster]],
  ];
}

/** The settings a Slurm client asks `scontrol show config` for, as the federation has them. */
function configText(io: Io): string {
  const host = (() => {
    try {
      return new URL(io.env.MERIDIAN_URL ?? '').hostname || hostname();
    } catch {
      return hostname();
    }
  })();
  const kv: [string, string][] = [
    ['AccountingStorageType', 'accounting_storage/meridian'], ['AuthType', 'auth/meridian'], ['ClusterName', federationName(io.env)],
    ['DefMemPerNode', '1024'], ['FirstJobId', '1'], ['InactiveLimit', '0 sec'], ['JobRequeue', '1'], ['KillWait', '30 sec'], ['MaxArraySize', '1001'],
    ['MaxJobCount', '10000'], ['MessageTimeout', '10 sec'], ['MinJobAge', '300 sec'], ['PriorityType', 'priority/meridian'], ['ReturnToService', '2'],
    ['SchedulerType', 'sched/meridian'], ['SelectType', 'select/cons_tres'], ['SlurmctldHost[0]', host], ['SLURM_VERSION', '22.05.8'],
    ['TmpFS', '/tmp'], ['WaitTime', '0 sec'],
  ];
  return `Configuration data as of ${slurmTime(Math.floor(Date.now() / 1000))}\n${kv.map(([k, v]) => `${k.padEnd(23)} = ${v}`).join('\n')}\n\nSlurmctld(primary) at ${host} is UP\n`;
}

export async function scontrolMain(io: Io): Promise<number> {
  let s;
  try {
    s = getopt('scontrol', io.argv, SPEC);
  } catch (err) {
    if (err instanceof OptError) return io.err(err.stderr), 1;
    throw err;
  }
  const [verb, ...rest] = s.positional;
  if (s.flags.has('version') || verb === 'version') return io.out(VERSION), 0;
  const oneLine = s.flags.has('oneliner');
  const scopes = await clusterScopes(io, 'scontrol', s.values.get('clusters'));
  if (typeof scopes === 'number') return scopes;
  let hub: HubClient;
  try {
    hub = hubClientFromEnv(io.env, 'scontrol');
  } catch (err) {
    return io.err(`${(err as Error).message}\n`), 1;
  }
  const scope = scopes?.[0];
  try {
    if (verb === 'show') {
      const entity = (rest[0] ?? '').toLowerCase();
      const names = rest.slice(1).flatMap((x) => x.split(',')).filter(Boolean);
      if (entity === 'job' || entity === 'jobs') return await showJobs(io, hub, names, oneLine, scope);
      if (/^part(i(t(i(o(ns?)?)?)?)?)?$/.test(entity) || /^node(s)?$/.test(entity)) {
        const rows = nodeRows((await hub.nodes()).items).filter((r) => !scope?.members || scope.members.includes(r.cluster));
        if (entity.startsWith('part')) {
          const parts = [...new Set(rows.map((r) => r.partition))].sort().filter((p) => !names.length || names.includes(p));
          if (names.length && !parts.length) return io.err(`Partition ${names[0]} not found\n`), 1;
          io.out(render(parts.map((p) => partitionRecord(p, rows.filter((r) => r.partition === p))), oneLine) || 'No partitions in the system\n');
          return 0;
        }
        const byName = new Map<string, NodeRow[]>();
        for (const r of rows) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
        const wanted = [...byName.keys()].sort().filter((n) => !names.length || names.includes(n));
        if (names.length && !wanted.length) return io.err(`Node ${names[0]} not found\n`), 1;
        io.out(render(wanted.map((n) => nodeRecord(byName.get(n)![0]!, byName.get(n)!.map((r) => r.partition))), oneLine));
        return 0;
      }
      if (/^conf(i(g)?)?$/.test(entity)) return io.out(configText(io)), 0;
      io.err(`invalid entity:${rest[0] ?? ''} for keyword:show \n`);
      return 1;
    }
    if (verb === 'hold' || verb === 'release' || verb === 'uhold' || verb === 'requeue') return await holdRelease(io, hub, verb, rest);
  } catch (err) {
    if (err instanceof HubError) return io.err(`scontrol: error: ${err.message}\n`), 1;
    throw err;
  }
  io.err(`invalid keyword: ${verb ?? ''}\n`);
  return 1;
}

async function showJobs(io: Io, hub: HubClient, ids: string[], oneLine: boolean, scope: Parameters<typeof jobInScope>[1]): Promise<number> {
  const base = ids.map((x) => x.split('_')[0]!);
  const jobs = base.length ? await Promise.all(base.map((id) => hub.get(id).catch(() => undefined))) : await hub.list();
  if (base.length && jobs.some((j) => !j)) {
    io.err('slurm_load_jobs error: Invalid job id specified\n');
    return 1;
  }
  const now = Math.floor(Date.now() / 1000);
  io.out(render((jobs as HubJobView[]).filter((v) => jobInScope(v, scope)).map((v) => jobRecord(v, now)), oneLine) || 'No jobs in the system\n');
  return 0;
}

async function holdRelease(io: Io, hub: HubClient, verb: string, rest: string[]): Promise<number> {
  const ids = rest.flatMap((x) => x.split(',')).filter(Boolean);
  if (!ids.length) {
    io.err('Invalid job id specified\n');
    return 1;
  }
  if (verb === 'requeue') {
    // The hub has no user requeue endpoint (docs/slurm.md, "Left").
    io.err(`scontrol: error: requeue of Meridian jobs needs the hub's POST /api/v1/jobs/{id}/requeue (not available on this hub)\n`);
    return 1;
  }
  // hold / uhold / release: the hub's POST /api/v1/jobs/{id}/hold|release; silent on success, as Slurm is.
  let rc = 0;
  for (const id of ids) {
    try {
      await holdOrRelease(hub, verb, id);
    } catch (err) {
      rc = 1;
      // Slurm 22.05's two lines (scontrol's update_job.c): the job, then the call that failed
      if (err instanceof HubError && err.status === 404) io.err(`Invalid job id specified for job ${id}\nslurm_suspend error: Invalid job id specified\n`);
      else if (err instanceof HubError && err.status === 409) io.err(`scontrol: error: ${verb === 'release' ? 'Job is not held' : 'Job is no longer pending execution'} for job ${id} (${err.message})\n`);
      else io.err(`scontrol: error: ${verb} of job ${id} failed: ${(err as Error).message}\n`);
    }
  }
  return rc;
}

/**
 * A job between the hub's queue and the cluster's (Placed: dispatch under way) can be held neither at the hub nor
 * on the cluster yet; Slurm has no such moment, so wait it out (a few seconds at most) rather than refuse.
 */
async function holdOrRelease(hub: HubClient, verb: string, id: string): Promise<void> {
  for (const deadline = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 250))) {
    try {
      if (verb === 'release') await hub.release(id);
      else await hub.hold(id);
      return;
    } catch (err) {
      if (!(err instanceof HubError && err.status === 409) || Date.now() > deadline) throw err;
      const now = await hub.get(id).catch(() => undefined);
      // Placed, or Dispatched a moment after the refusal (pending on Slurm now: the next try holds it).
      if (now?.state !== 'Placed' && now?.state !== 'Dispatched') throw err;
    }
  }
}
