// sacct: the hub's jobs as Slurm's accounting lists them. -P/-p with --delimiter, -n, -X, -j, --name, -u,
// -s, -S/-E, -o/--format with every Slurm 22.05 field name (protocol/src/slurm/fields.ts; a field the hub
// has no figure for prints empty, as sacct prints a field the record lacks), --units for memory.
import { fieldName, SACCT_FIELDS } from '@meridian/protocol/slurm/fields';
import { SLURM_ANNOTATION_PREFIX } from '@meridian/protocol/slurm/annotations';
import { formatSacctTable, SACCT_DEFAULT_FIELDS, slurmTime, type QueueRow } from './format.ts';
import { getopt, OptError, optSpec } from './getopt.ts';
import { listVisible, VERSION, type Io } from './io.ts';
import { clusterScopes, jobInScope } from './clusters.ts';
import { arrayRows, queueRowFromHub, slurmStateOf, type HubJobView } from './rows.ts';
import { arrayIndices } from './sbatch-options.ts';
import { STATE_CODES } from './squeue.ts';
import { parseSlurmTime } from './slurm-time.ts';

const SPEC = optSpec([
  ['P', 'parsable2', 'parsable2', false], ['p', 'parsable', 'parsable', false], ['n', 'noheader', 'noheader', false], ['X', 'allocations', 'allocations', false],
  ['j', 'jobs', 'jobs', true], ['o', 'format', 'format', true], ['S', 'starttime', 'starttime', true], ['E', 'endtime', 'endtime', true],
  ['u', 'user', 'user', true], ['a', 'allusers', 'allusers', false], ['s', 'state', 'state', true], ['b', 'brief', 'brief', false], ['l', 'long', 'long', false],
  ['L', 'allclusters', 'allclusters', false], ['M', 'clusters', 'clusters', true], ['', 'name', 'name', true], ['D', 'duplicates', 'duplicates', false],
  ['', 'noconvert', 'noconvert', false], ['V', 'version', 'version', false], ['', 'delimiter', 'delimiter', true], ['', 'units', 'units', true],
  ['A', 'accounts', 'accounts', true], ['r', 'partition', 'partition', true], ['q', 'qos', 'qos', true], ['', 'local', 'local', false], ['', 'federation', 'federation', false],
  ['x', 'associations', 'associations', true], ['T', 'truncate', 'truncate', false], ['', 'array', 'array', false], ['v', 'verbose', 'verbose', false],
]);

const UNITS = 'KMGTP';

/** Memory in MiB as sacct --units prints it: whole numbers bare, others with two decimals (convert_num_unit). */
function mem(mib: number, unit: string | undefined): string {
  if (!unit) return `${mib}M`;
  const v = (mib * 1024 ** 2) / 1024 ** (UNITS.indexOf(unit) + 1);
  return `${Number.isInteger(v) ? v : v.toFixed(2)}${unit}`;
}

/** Slurm's elapsed form: [D-]HH:MM:SS. */
const elapsed = (s: number) => {
  const d = Math.floor(s / 86400);
  const t = new Date((s % 86400) * 1000).toISOString().slice(11, 19);
  return d ? `${d}-${t}` : t;
};

interface AcctRow {
  v: HubJobView;
  r: QueueRow;
  state: string;
}

function values(a: AcctRow, now: number, unit: string | undefined): Record<string, string> {
  const { v, r, state } = a;
  const pending = state === 'PENDING';
  const secs = r.startTime ? (r.endTime ?? now) - r.startTime : 0;
  const memNode = Number(v.spec?.resources?.memory ?? 1024);
  const gpus = Number(v.spec?.resources?.gpus ?? 0);
  // TRES strings by name, memory in --units as sacct prints them; gres/gpu too, which Meridian always tracks
  const tres = `billing=${r.numCpus},cpu=${r.numCpus}${gpus ? `,gres/gpu=${gpus * r.numNodes}` : ''},mem=${mem(memNode * r.numNodes, unit)},node=${r.numNodes}`;
  return {
    Account: r.account, AllocCPUS: pending ? '0' : String(r.numCpus), AllocNodes: pending ? '0' : String(r.numNodes), AllocTRES: pending ? '' : tres,
    Cluster: v.cluster ?? '', Comment: r.comment, Constraints: r.features, CPUTime: elapsed(secs * r.numCpus), CPUTimeRAW: String(secs * r.numCpus),
    DerivedExitCode: '0:0', Elapsed: elapsed(secs), ElapsedRaw: String(secs), Eligible: slurmTime(r.submitTime), End: r.endTime ? slurmTime(r.endTime) : 'Unknown',
    ExitCode: r.exitCode ?? '0:0', GID: String(r.uid ?? 0), Group: r.group ?? r.user, JobID: r.displayId, JobIDRaw: r.jobId, JobName: r.name,
    NCPUS: pending ? '0' : String(r.numCpus), NNodes: String(r.numNodes), NodeList: r.nodeList || 'None assigned', NTasks: '', Partition: r.partition,
    Priority: String(r.priority ?? 0), QOS: r.qos || 'normal', Reason: pending ? r.reason : 'None', ReqCPUS: String(r.numCpus), ReqMem: mem(memNode, unit),
    ReqNodes: String(r.numNodes), ReqTRES: tres, Reserved: elapsed(Math.max(0, (r.startTime ?? now) - (r.submitTime ?? now))), Start: r.startTime ? slurmTime(r.startTime) : pending ? 'Unknown' : 'None', // None: ended without starting
    State: state === 'CANCELLED' ? 'CANCELLED by 0' : state, Submit: slurmTime(r.submitTime), SubmitLine: '', Suspended: '00:00:00', SystemCPU: '00:00:00',
    Timelimit: r.timeLimitSec === undefined ? 'UNLIMITED' : elapsed(r.timeLimitSec), TimelimitRaw: r.timeLimitSec === undefined ? 'UNLIMITED' : String(Math.round(r.timeLimitSec / 60)),
    TotalCPU: '00:00:00', UID: String(r.uid ?? 0), User: r.user, UserCPU: '00:00:00', WCKey: '', WorkDir: r.workDir,
  };
}

export async function sacctMain(io: Io): Promise<number> {
  let s;
  try {
    s = getopt('sacct', io.argv, SPEC);
  } catch (err) {
    if (err instanceof OptError) return io.err(err.stderr), 1;
    throw err;
  }
  if (s.flags.has('version')) return io.out(VERSION), 0;
  const unit = s.values.get('units');
  if (unit !== undefined && (unit.length !== 1 || !UNITS.includes(unit.toUpperCase()))) {
    io.err(`sacct: error: Invalid unit type '${unit}'. Possible options are 'KMGTP'\nsacct: fatal: Invalid unit type\n`);
    return 1;
  }
  const times: Partial<Record<'starttime' | 'endtime', number>> = {};
  for (const k of ['starttime', 'endtime'] as const) {
    const t = s.values.get(k);
    if (t === undefined) continue;
    const e = parseSlurmTime(t);
    if (e === undefined) return io.err(`Invalid time specification (pos=0): ${t}\n`), 1;
    times[k] = e;
  }
  const stateArg = s.values.get('state')?.split(',').filter(Boolean).map((x) => x.toUpperCase());
  const badState = stateArg?.find((x) => !STATE_CODES[x]);
  if (badState) return io.err(`sacct: fatal: unrecognized job state value '${badState}'\n`), 1;
  const fmt = s.values.get('format') ?? io.env.SACCT_FORMAT;
  const requested = fmt ? fmt.split(',').map((f) => f.split('%')[0]!.trim()).filter(Boolean) : s.flags.has('brief') ? ['JobID', 'State', 'ExitCode'] : SACCT_DEFAULT_FIELDS;
  const unknown = requested.find((f) => !fieldName(SACCT_FIELDS, f));
  if (unknown) return io.err(`sacct: error: Invalid field requested: "${unknown}"\n`), 1;
  const fields = requested.map((f) => fieldName(SACCT_FIELDS, f)!);
  const scopes = await clusterScopes(io, 'sacct', s.values.get('clusters'));
  if (typeof scopes === 'number') return scopes;
  const jobs = await listVisible(io, 'sacct');
  if (typeof jobs === 'number') return jobs;
  const ids = s.values.get('jobs')?.split(',').map((x) => x.split('_')[0]);
  const names = s.values.get('name')?.split(',');
  const users = s.flags.has('allusers') ? undefined : s.values.get('user')?.split(',');
  const wantStates = stateArg && new Set(stateArg.map((x) => STATE_CODES[x]!));
  const now = Math.floor(Date.now() / 1000);
  // Without -j or -S, sacct lists what ran since midnight (its default start time).
  const midnight = new Date(now * 1000).setHours(0, 0, 0, 0) / 1000;
  const from = times.starttime ?? (ids ? undefined : midnight);
  const rows = jobs
    .filter((v) => (!ids || ids.includes(v.id)) && (!users || users.includes(v.user ?? '')) && (!scopes || scopes.some((sc) => jobInScope(v, sc))))
    .sort((a, b) => Number(a.id) - Number(b.id))
    .flatMap((v): AcctRow[] => {
      // An array job is one row per index (N_i), as Slurm's accounting has one record per task.
      const base = queueRowFromHub(v, now);
      const jobState = slurmStateOf(v);
      const arr = v.slurm?.array ?? v.spec?.annotations?.[`${SLURM_ANNOTATION_PREFIX}array`];
      if (!arr) return [{ v, r: base, state: jobState }];
      const ended = !['PENDING', 'RUNNING'].includes(jobState);
      return arrayRows(v, base, arrayIndices(arr), true).map((r) => ({ v, r, state: ended && r.state === 'PENDING' ? jobState : r.state }));
    })
    .filter(({ r, state }) => (!names || names.includes(r.name)) && (!wantStates || wantStates.has(state)))
    .filter(({ r }) => (from === undefined || (r.endTime ?? now) >= from) && (times.endtime === undefined || (r.submitTime ?? 0) <= times.endtime))
    .map((a) => values(a, now, unit?.toUpperCase()));
  const header = !s.flags.has('noheader');
  if (s.flags.has('parsable2') || s.flags.has('parsable')) {
    const d = s.values.get('delimiter') ?? '|';
    const end = s.flags.has('parsable2') ? '' : d;
    const lines = rows.map((r) => `${fields.map((f) => r[f] ?? '').join(d)}${end}`);
    if (header) lines.unshift(`${fields.join(d)}${end}`);
    io.out(lines.length ? `${lines.join('\n')}\n` : '');
  } else io.out(formatSacctTable(rows, fields, header));
  return 0;
}
