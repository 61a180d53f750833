// squeue -O: each field of Slurm 22.05 (protocol/src/slurm/fields.ts) → its value for a queue row. A field with
// an -o letter prints what that letter prints; the rest are below. Where the hub has no such thing (burst
// buffers, heterogeneous jobs, sockets per node) the value is the one Slurm prints when it is unset.
import { SQUEUE_LONG_FIELDS } from '@meridian/protocol/slurm/fields';
import { secsToTime, slurmTime, squeueLetterValue, type QueueRow } from './format.ts';

const UNSET: Record<string, string> = {
  AccrueTime: 'N/A', admin_comment: '(null)', AllocSID: '0', AssocID: '0', BatchFlag: '1', BoardsPerNode: '0', BurstBuffer: '(null)',
  BurstBufferState: '(null)', ClusterFeature: '(null)', Container: '(null)', Contiguous: '0', Cores: '*', CoreSpec: 'N/A', 'cpus-per-tres': 'N/A',
  Deadline: 'N/A', DelayBoot: '0:00', DerivedEC: '0', HetJobID: 'N/A', HetJobIDSet: 'N/A', HetJobOffset: 'N/A', Licenses: '(null)', MCSLabel: '(null)',
  'mem-per-tres': 'N/A', MinTime: '0:00', MinTmpDisk: '0', Network: '(null)', NTPerBoard: '0', NTPerCore: 'N/A', NTPerNode: '0', NTPerSocket: 'N/A',
  Origin: 'NA', OriginRaw: 'NA', OverSubscribe: 'OK', PreemptTime: 'N/A', Prefer: '(null)', Profile: 'NotSet', Reboot: '0', ReqSwitch: '0',
  Reservation: '(null)', ResizeTime: 'N/A', RestartCnt: '0', SchedNodes: '(null)', SCT: '*:*:*', SiblingsActive: 'NA', SiblingsActiveRaw: 'NA',
  SiblingsViable: 'NA', SiblingsViableRaw: 'NA', Sockets: '*', SPerBoard: '0', STDIN: '/dev/null', system_comment: '(null)', Threads: '*',
  'tres-bind': 'N/A', 'tres-freq': 'N/A', 'tres-per-job': 'N/A', 'tres-per-socket': 'N/A', 'tres-per-task': 'N/A', Wait4Switch: '0:00', WCKey: '(null)',
};

const RUNNINGISH = new Set(['RUNNING', 'COMPLETING', 'SUSPENDED']);

const VALUES: Record<string, (r: QueueRow) => string> = {
  JobID: (r) => r.jobId,
  BatchHost: (r) => (RUNNINGISH.has(r.state) || r.startTime ? r.nodeList.split(',')[0] || 'n/a' : 'n/a'),
  AllocNodes: () => 'login',
  Cluster: (r) => r.cluster ?? '(null)',
  EligibleTime: (r) => slurmTime(r.submitTime),
  EndTime: (r) => (r.endTime ? slurmTime(r.endTime) : r.startTime && r.timeLimitSec !== undefined ? slurmTime(r.startTime + r.timeLimitSec) : RUNNINGISH.has(r.state) ? 'NONE' : 'N/A'),
  exit_code: (r) => String(Number((r.exitCode ?? '0:0').split(':')[0]) * 256 + Number((r.exitCode ?? '0:0').split(':')[1])),
  GroupID: (r) => String(r.uid ?? 0),
  LastSchedEval: (r) => slurmTime(r.submitTime),
  MaxCPUs: (r) => String(r.numCpus),
  MaxNodes: (r) => String(r.numNodes),
  'cpus-per-task': (r) => String(r.cpusPerTask ?? Math.max(1, Math.round(r.numCpus / Math.max(1, r.numNodes)))),
  NodeList: (r) => r.nodeList,
  NumTasks: (r) => String(r.ntasks ?? r.numNodes),
  Nice: (r) => String(r.nice ?? 0),
  PendingTime: (r) => String(Math.max(0, (r.startTime ?? r.now) - (r.submitTime ?? r.now))),
  ReqNodes: (r) => r.reqNodes ?? '',
  Requeue: () => '1',
  STDOUT: (r) => r.stdOut ?? '(null)',
  STDERR: (r) => r.stdErr ?? '(null)',
  'tres-alloc': (r) => r.tresAlloc ?? `cpu=${r.numCpus},node=${r.numNodes},billing=${r.numCpus}`,
  TimeLimit: (r) => (r.timeLimitSec === undefined ? 'UNLIMITED' : secsToTime(r.timeLimitSec)),
};

/** The value of a canonical -O field name, or undefined for names Slurm 22.05 does not print. */
export function squeueLongValue(name: string): ((r: QueueRow) => string) | undefined {
  if (VALUES[name]) return VALUES[name];
  if (UNSET[name] !== undefined) return () => UNSET[name]!;
  const letter = SQUEUE_LONG_FIELDS[name]?.letter;
  return letter ? squeueLetterValue(letter) : undefined;
}
