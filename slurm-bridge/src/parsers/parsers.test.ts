import { describe, expect, it } from 'vitest';
import {
  decodeWaitStatus,
  expandHostlist,
  gresTotal,
  parseDurationMin,
  parseDurationSec,
  parseExitCode,
  parseGres,
  parseMemoryMiB,
  parseNodeState,
  parseReason,
  parseSlurmTime,
  tresGres,
} from './common.ts';
import { parseKeyValueLine, parseKeyValueLines } from './kv.ts';
import { jobsFromSacct, parseSacctParsable, SACCT_FIELDS } from './sacct.ts';
import { ParseError, parseParsableSubmit, parseScontrolJobs, parseScontrolNodes, parseScontrolPartitions } from './scontrol.ts';
import { parseSinfoNodes } from './sinfo.ts';
import { parseDelimited, UNIT_SEP } from './squeue.ts';

// Real lines captured from Slurm 22.05.8 (Debian bookworm) on the test harness.
const JOB_LINE =
  'JobId=2 JobName=na me UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901758 Nice=0 Account=(null) QOS=(null) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=3:0 RunTime=00:00:01 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-11-22T09:41:33 EligibleTime=2026-11-22T09:41:33 AccrueTime=2026-11-22T09:41:33 StartTime=2026-11-22T09:41:33 EndTime=2026-11-22T09:41:34 Deadline=N/A SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-11-22T09:41:33 Scheduler=Main Partition=gpu AllocNode:Sid=localhost:29579 ReqNodeList=(null) ExcNodeList=(null) NodeList=gpu-0 BatchHost=gpu-0 NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,mem=100M,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryCPU=100M MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) Command=(null) WorkDir=/tmp/exp Comment=a|b c  StdErr=/tmp/exp/slurm-2.out StdIn=/dev/null StdOut=/tmp/exp/slurm-2.out Power= TresPerNode=gres:gpu:1 ';
const ARRAY_LINE =
  'JobId=4 ArrayJobId=3 ArrayTaskId=0 ArrayTaskThrottle=2 JobName=t2 UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901757 Nice=0 Account=(null) QOS=(null) JobState=RUNNING Reason=None Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:14 TimeLimit=1-02:03:04 TimeMin=N/A SubmitTime=2026-11-22T09:41:54 EligibleTime=2026-11-22T09:41:54 StartTime=2026-11-22T09:41:54 EndTime=Unknown Partition=gpu NodeList=gpu-[0-1] NumNodes=2 NumCPUs=4';
const NODE_LINE =
  'NodeName=gpu-1 Arch=x86_64 CoresPerSocket=1  CPUAlloc=3 CPUEfctv=8 CPUTot=8 CPULoad=5.29 AvailableFeatures=fast,ib ActiveFeatures=fast,ib Gres=gpu:a100:4 NodeAddr=127.0.0.1 NodeHostName=vm Port=38407 Version=22.05.8 OS=Linux 6.18.44-fc-v657 #1 SMP PREEMPT_DYNAMIC @0  RealMemory=16000 AllocMem=300 FreeMem=18468 Sockets=8 Boards=1 State=MIXED+DRAIN ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A Partitions=gpu,debug  BootTime=2026-11-22T09:23:03 SlurmdStartTime=2026-11-22T09:41:13 LastBusyTime=2026-11-22T09:41:13 CfgTRES=cpu=8,mem=16000M,billing=8 AllocTRES=cpu=3,mem=300M,gres/gpu=2,gres/gpu:a100=2 CapWatts=n/a CurrentWatts=0 AveWatts=0 ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s Reason=admin says no: x=y [root@2026-11-22T09:42:08]';
const PART_LINE =
  'PartitionName=gpu AllowGroups=ALL AllowAccounts=ALL AllowQos=ALL AllocNodes=ALL Default=YES QoS=N/A DefaultTime=NONE DisableRootJobs=NO ExclusiveUser=NO GraceTime=0 Hidden=NO MaxNodes=UNLIMITED MaxTime=UNLIMITED MinNodes=0 LLN=NO MaxCPUsPerNode=UNLIMITED Nodes=gpu-[0-1] PriorityJobFactor=1 PriorityTier=1 RootOnly=NO ReqResv=NO OverSubscribe=NO OverTimeLimit=NONE PreemptMode=OFF State=UP TotalCPUs=16 TotalNodes=2 SelectTypeParameters=NONE JobDefaults=(null) DefMemPerNode=UNLIMITED MaxMemPerNode=UNLIMITED TRES=cpu=16,mem=32000M,node=2,billing=16';

describe('key=value lines (scontrol -o)', () => {
  it('keeps spaces inside values and keys with : and /', () => {
    const r = parseKeyValueLine(JOB_LINE);
    expect(r.JobName).toBe('na me');
    expect(r.Comment).toBe('a|b c');
    expect(r['AllocNode:Sid']).toBe('localhost:29579');
    expect(r['CPUs/Task']).toBe('1');
    expect(r.TRES).toBe('cpu=1,mem=100M,node=1,billing=1');
    expect(r.Power).toBe('');
  });
  it('reads greedy keys to the end of the line', () => {
    expect(parseKeyValueLine(NODE_LINE, { greedy: ['Reason'] }).Reason).toBe('admin says no: x=y [root@2026-11-22T09:42:08]');
    expect(parseKeyValueLine(NODE_LINE).OS).toBe('Linux 6.18.44-fc-v657 #1 SMP PREEMPT_DYNAMIC @0');
  });
  it('ignores lines that are not records (No jobs in the system, blank, error text)', () => {
    expect(parseKeyValueLines('No jobs in the system\n\n')).toEqual([]);
    expect(parseKeyValueLines('slurm_load_jobs error: Invalid job id specified\n')).toEqual([]);
  });
  it('first occurrence of a key wins', () => {
    expect(parseKeyValueLine('A=1 B=2 A=3').A).toBe('1');
  });
});

describe('scontrol show job -o', () => {
  it('parses a failed job', () => {
    const [j] = parseScontrolJobs(JOB_LINE);
    expect(j).toMatchObject({ jobId: '2', name: 'na me', user: 'root', state: 'FAILED', reason: 'NonZeroExitCode', exitCode: 3, signal: 0, nodeList: 'gpu-0', partition: 'gpu', comment: 'a|b c', tresPerNode: 'gres:gpu:1', workDir: '/tmp/exp' });
    expect(j!.account).toBeUndefined();
    expect(j!.timeLimitMin).toBeUndefined();
    expect(j!.startTime?.getMinutes()).toBe(41);
  });
  it('parses an array task with a day-long time limit', () => {
    const [j] = parseScontrolJobs(ARRAY_LINE);
    expect(j).toMatchObject({ jobId: '4', arrayJobId: '3', arrayTaskId: '0', numNodes: 2, numCpus: 4, timeLimitMin: 26 * 60 + 4, comment: '' });
    expect(j!.endTime).toBeUndefined();
  });
  it('throws on records without JobId or JobState', () => {
    expect(() => parseScontrolJobs('JobId=abc JobState=RUNNING')).toThrow(ParseError);
    expect(() => parseScontrolJobs('JobId=5 JobName=x')).toThrow(/no JobState/);
    expect(() => parseScontrolJobs('JobName=x JobState=RUNNING')).toThrow(/JobId/);
  });
  it('tolerates a truncated line', () => {
    const [j] = parseScontrolJobs(JOB_LINE.slice(0, 300));
    expect(j).toMatchObject({ jobId: '2', state: 'FAILED', exitCode: 3 });
  });
});

describe('scontrol show node/partition -o', () => {
  it('parses state flags, gres, allocated GPUs and the reason with its user', () => {
    const [n] = parseScontrolNodes(NODE_LINE);
    expect(n).toMatchObject({ name: 'gpu-1', baseState: 'mixed', flags: ['DRAIN'], cpus: 8, allocCpus: 3, memoryMiB: 16000, allocMemoryMiB: 300, partitions: ['gpu', 'debug'], features: ['fast', 'ib'], reason: 'admin says no: x=y', reasonUser: 'root' });
    expect(n!.gres).toEqual([{ name: 'gpu', type: 'a100', count: 4 }]);
    expect(n!.gresUsed).toEqual([{ name: 'gpu', type: 'a100', count: 2 }]);
  });
  it('-d: GresUsed counts every job on the node even where AllocTRES leaves gres/gpu out (no accounting)', () => {
    const line = 'NodeName=gpu-0 CPUTot=8 CPUAlloc=1 RealMemory=16000 AllocMem=100 Gres=gpu:a100:4 GresDrain=N/A GresUsed=gpu:a100:3(IDX:0-2) State=MIXED Partitions=gpu CfgTRES=cpu=8,mem=16000M,billing=8 AllocTRES=cpu=1,mem=100M';
    expect(parseScontrolNodes(line)[0]!.gresUsed).toEqual([{ name: 'gpu', type: 'a100', count: 3 }]);
    expect(parseScontrolNodes(line.replace('GresUsed=gpu:a100:3(IDX:0-2)', 'GresUsed=gpu:a100:0(IDX:N/A)'))[0]!.gresUsed).toEqual([{ name: 'gpu', type: 'a100', count: 0 }]);
  });
  it('-d: a GPU any job holds shards of counts as used, once, whether a whole-GPU job holds it too or not', () => {
    const line = (used: string) => `NodeName=gpu-0 CPUTot=8 RealMemory=16000 Gres=gpu:a100:4,shard:a100:40 GresUsed=${used} State=MIXED Partitions=gpu`;
    const used = (u: string) => parseScontrolNodes(line(u))[0]!.gresUsed;
    expect(used('gpu:a100:1(IDX:0),shard:a100:5(IDX:1)')).toEqual([{ name: 'gpu', type: 'a100', count: 2 }]);
    expect(used('gpu:a100:1(IDX:0),shard:a100:1(IDX:0)')).toEqual([{ name: 'gpu', type: 'a100', count: 1 }]);
    expect(used('gpu:a100:0(IDX:N/A),shard:a100:10(IDX:0-1,3)')).toEqual([{ name: 'gpu', type: 'a100', count: 3 }]);
    expect(used('gpu:a100:0(IDX:N/A),shard:a100:6(5/10,0/10,1/10,0/10)')).toEqual([{ name: 'gpu', type: 'a100', count: 2 }]);
    expect(used('gpu:a100:0(IDX:N/A),shard:a100:0(IDX:N/A)')).toEqual([{ name: 'gpu', type: 'a100', count: 0 }]);
    expect(used('gpu:a100:4(IDX:0-3),shard:a100:5')).toEqual([{ name: 'gpu', type: 'a100', count: 4 }]);
  });
  it('handles nodes without gres or reason, and NOT_RESPONDING', () => {
    const [n] = parseScontrolNodes('NodeName=c1 CPUTot=2 RealMemory=1000 Gres=(null) State=DOWN*+CLOUD Partitions=x');
    expect(n).toMatchObject({ baseState: 'down', flags: ['CLOUD', 'NOT_RESPONDING'], gres: [], gresUsed: [], reason: '' });
  });
  it('throws on nodes without a name or state', () => {
    expect(() => parseScontrolNodes('NodeName=x CPUTot=1')).toThrow(/no State/);
    expect(() => parseScontrolNodes('NodeAddr=x State=IDLE')).toThrow(ParseError);
  });
  it('parses a partition', () => {
    expect(parseScontrolPartitions(PART_LINE)[0]).toEqual({ name: 'gpu', nodes: 'gpu-[0-1]', state: 'UP', isDefault: true, totalCpus: 16, totalNodes: 2, maxTimeMin: undefined });
    expect(parseScontrolPartitions('PartitionName=short MaxTime=01:00:00 Default=NO')[0]!.maxTimeMin).toBe(60);
  });
});

describe('sbatch --parsable', () => {
  it('reads N and N;cluster', () => {
    expect(parseParsableSubmit('42\n')).toEqual({ jobId: '42', cluster: undefined });
    expect(parseParsableSubmit('42;mycluster\n')).toEqual({ jobId: '42', cluster: 'mycluster' });
  });
  it('rejects anything else', () => {
    expect(() => parseParsableSubmit('Submitted batch job 42')).toThrow(ParseError);
    expect(() => parseParsableSubmit('')).toThrow(ParseError);
  });
});

describe('sacct -P', () => {
  const text = `JobID|JobName|Partition|Account|AllocCPUS|State|ExitCode
12|train|gpu|proj|4|COMPLETED|0:0
12.batch|batch||proj|4|COMPLETED|0:0
13_1|arr|gpu|proj|1|CANCELLED by 0|0:15
14|tl|gpu|proj|1|TIMEOUT|0:15
`;
  it('reads the header and rows, with empty fields', () => {
    const rows = parseSacctParsable(text);
    expect(rows).toHaveLength(4);
    expect(rows[1]).toEqual({ JobID: '12.batch', JobName: 'batch', Partition: '', Account: 'proj', AllocCPUS: '4', State: 'COMPLETED', ExitCode: '0:0' });
  });
  it('throws on a row with the wrong number of fields (a | inside a value)', () => {
    expect(() => parseSacctParsable('A|B\n1|2|3\n')).toThrow(/3 fields, expected 2/);
  });
  it('maps allocations to jobs, skipping steps', () => {
    const rows = parseSacctParsable(text).map((r) => ({ ...r, JobIDRaw: r.JobID!.replace(/_\d+$/, '99') }));
    const jobs = jobsFromSacct(rows);
    expect(jobs.map((j) => [j.jobId, j.state, j.exitCode, j.signal])).toEqual([
      ['12', 'COMPLETED', 0, 0],
      ['1399', 'CANCELLED', 0, 15],
      ['14', 'TIMEOUT', 0, 15],
    ]);
    expect(jobs[1]).toMatchObject({ arrayJobId: '13', arrayTaskId: '1' });
  });
  it('uses given field names with -n', () => {
    const line = ['77', '77', 'n', 'gpu', '', 'root', 'OUT_OF_MEMORY', '0:125', 'gpu-0', '1', '2', '00:10:00', 'Unknown', 'Unknown', 'Unknown', 'meridian:x', '/w'].join('|');
    const [j] = jobsFromSacct(parseSacctParsable(`${line}\n`, SACCT_FIELDS));
    expect(j).toMatchObject({ jobId: '77', state: 'OUT_OF_MEMORY', exitCode: 0, signal: 125, comment: 'meridian:x', timeLimitMin: 10 });
  });
  it('returns nothing for empty output', () => {
    expect(parseSacctParsable('')).toEqual([]);
  });
});

describe('delimited squeue/sinfo output', () => {
  it('splits on the unit separator, with or without a trailing one', () => {
    expect(parseDelimited(`1${UNIT_SEP}a|b${UNIT_SEP}\n`, ['id', 'name'])).toEqual([{ id: '1', name: 'a|b' }]);
    expect(() => parseDelimited(`1${UNIT_SEP}2${UNIT_SEP}3\n`, ['id', 'name'])).toThrow(/3 fields, expected 2/);
  });
  it('reads sinfo node rows with |', () => {
    const text = 'gpu-0|gpu*|mix|8|16000|gpu:a100:4|none|Unknown\ngpu-1|gpu*|drain|8|16000|gpu:a100:4|admin says no|root\n';
    const rows = parseSinfoNodes(text, '|');
    expect(rows[0]).toMatchObject({ node: 'gpu-0', partition: 'gpu', isDefaultPartition: true, state: 'mix', reason: '' });
    expect(rows[1]).toMatchObject({ state: 'drain', reason: 'admin says no', reasonUser: 'root' });
  });
});

describe('small parsers', () => {
  it('exit codes and wait statuses', () => {
    expect(parseExitCode('3:0')).toEqual({ exitCode: 3, signal: 0 });
    expect(parseExitCode('0:15')).toEqual({ exitCode: 0, signal: 15 });
    expect(parseExitCode('3')).toBeUndefined();
    expect(parseExitCode('x:y')).toBeUndefined();
    expect(decodeWaitStatus(768)).toEqual({ exitCode: 3, signal: 0 });
    expect(decodeWaitStatus(9)).toEqual({ exitCode: 0, signal: 9 });
    expect(decodeWaitStatus(-1)).toEqual({ exitCode: 0, signal: 0 });
  });
  it('durations', () => {
    expect(parseDurationMin('UNLIMITED')).toBeUndefined();
    expect(parseDurationMin('00:05:00')).toBe(5);
    expect(parseDurationMin('1-00:00:00')).toBe(1440);
    expect(parseDurationMin('90')).toBe(90);
    expect(parseDurationMin('00:00:30')).toBe(1);
    expect(parseDurationMin('soon')).toBeNull();
    expect(parseDurationSec('2-3')).toBe(2 * 86400 + 3 * 3600);
    expect(parseDurationSec('1:30')).toBe(90);
    expect(parseDurationSec('')).toBeNull();
  });
  it('times', () => {
    expect(parseSlurmTime('Unknown')).toBeUndefined();
    expect(parseSlurmTime('2026-13-99')).toBeUndefined();
    expect(parseSlurmTime('2026-11-22T09:41:33')?.getHours()).toBe(9);
  });
  it('memory', () => {
    expect(parseMemoryMiB('100M')).toBe(100);
    expect(parseMemoryMiB('16G')).toBe(16384);
    expect(parseMemoryMiB('512')).toBe(512);
    expect(parseMemoryMiB('1.5G')).toBe(1536);
    expect(parseMemoryMiB('lots')).toBeNull();
  });
  it('gres strings', () => {
    expect(parseGres('gpu:a100:4(S:0-1),gpu:v100:2')).toEqual([
      { name: 'gpu', type: 'a100', count: 4 },
      { name: 'gpu', type: 'v100', count: 2 },
    ]);
    expect(parseGres('gpu:2')).toEqual([{ name: 'gpu', count: 2 }]);
    expect(parseGres('gpu:a100:0(IDX:N/A)')).toEqual([{ name: 'gpu', type: 'a100', count: 0 }]);
    expect(parseGres('(null)')).toEqual([]);
    expect(parseGres('::,gpu:x:y,9bad:1')).toEqual([{ name: 'gpu', type: 'x', count: 1 }].slice(0, 0));
    expect(gresTotal(parseGres('gpu:a100:4,gpu:v100:2,mps:100'))).toBe(6);
    expect(tresGres('cpu=3,mem=300M,gres/gpu=2,gres/gpu:a100=2')).toBe(2);
    expect(tresGres('cpu=1')).toBe(0);
  });
  it('node states and reasons', () => {
    expect(parseNodeState('IDLE+DRAIN+CLOUD')).toEqual({ baseState: 'idle', flags: ['DRAIN', 'CLOUD'] });
    expect(parseNodeState('')).toEqual({ baseState: 'unknown', flags: [] });
    expect(parseReason('meridian: gpu fault [root@2026-11-22T09:42:08]')).toMatchObject({ reason: 'meridian: gpu fault', user: 'root' });
    expect(parseReason('no user here')).toEqual({ reason: 'no user here' });
  });
  it('hostlists', () => {
    expect(expandHostlist('gpu-[0-2,5],login')).toEqual(['gpu-0', 'gpu-1', 'gpu-2', 'gpu-5', 'login']);
    expect(expandHostlist('n[08-10]')).toEqual(['n08', 'n09', 'n10']);
    expect(expandHostlist('(null)')).toEqual([]);
    expect(expandHostlist('bad[x-y]')).toEqual([]);
  });
});
