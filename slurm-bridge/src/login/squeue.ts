// squeue: the hub's jobs in Slurm's words. -o (format.ts) and -O (columns.ts with squeue-fields.ts), -M blocks
// with their `CLUSTER: name` line, states/ids/users/names/partitions filters, Slurm's order.
import { SQUEUE_LONG_FIELDS } from '@meridian/protocol/slurm/fields';
import { SLURM_ANNOTATION_PREFIX } from '@meridian/protocol/slurm/annotations';
import { formatSqueue, SQUEUE_DEFAULT_FORMAT, SQUEUE_LONG_FORMAT, STATE_COMPACT, type QueueRow } from './format.ts';
import { getopt, OptError, optSpec } from './getopt.ts';
import { listVisible, safeUser, VERSION, type Io } from './io.ts';
import { clusterScopes, jobInScope } from './clusters.ts';
import { parseLong, renderTable } from './columns.ts';
import { squeueLongValue } from './squeue-fields.ts';
import { arrayRows, queueRowFromHub, squeueOrder } from './rows.ts';
import { arrayIndices } from './sbatch-options.ts';

const SPEC = optSpec([
  ['h', 'noheader', 'noheader', false], ['a', 'all', 'all', false], ['', 'noconvert', 'noconvert', false], ['l', 'long', 'long', false],
  ['o', 'format', 'format', true], ['O', 'Format', 'Format', true], ['t', 'states', 'states', true], ['u', 'user', 'user', true],
  ['j', 'jobs', 'jobs', true], ['p', 'partition', 'partition', true], ['n', 'name', 'name', true], ['', 'me', 'me', false],
  ['r', 'array', 'array', false], ['S', 'sort', 'sort', true], ['A', 'account', 'account', true], ['M', 'clusters', 'clusters', true],
  ['i', 'iterate', 'iterate', true], ['v', 'verbose', 'verbose', false], ['V', 'version', 'version', false], ['', 'local', 'local', false],
  ['', 'federation', 'federation', false], ['q', 'qos', 'qos', true], ['w', 'nodelist', 'nodelist', true], ['s', 'steps', 'steps', false],
  ['', 'hide', 'hide', false], ['', 'sibling', 'sibling', false], ['L', 'licenses', 'licenses', true], ['R', 'reservation', 'reservation', true],
]);

/** Every job state squeue -t accepts, in the order its error lists them. */
const JOB_STATES = ['PENDING', 'RUNNING', 'SUSPENDED', 'COMPLETED', 'CANCELLED', 'FAILED', 'TIMEOUT', 'NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE', 'OUT_OF_MEMORY', 'COMPLETING', 'CONFIGURING', 'RESIZING', 'RESV_DEL_HOLD', 'REQUEUED', 'REQUEUE_FED', 'REQUEUE_HOLD', 'REVOKED', 'SIGNALING', 'SPECIAL_EXIT', 'STAGE_OUT', 'STOPPED'];
export const STATE_CODES: Record<string, string> = Object.fromEntries(Object.entries(STATE_COMPACT).flatMap(([lng, short]) => [[short, lng], [lng, lng]]));
/** Slurm keeps a finished job in squeue for MinJobAge (300 s by default); the hub keeps it forever. */
const MIN_JOB_AGE_S = 300;

export async function squeueMain(io: Io): Promise<number> {
  let s;
  try {
    s = getopt('squeue', io.argv, SPEC);
  } catch (err) {
    if (err instanceof OptError) return io.err(err.stderr), 1;
    throw err;
  }
  if (s.flags.has('version')) return io.out(VERSION), 0;
  const states = (s.values.get('states') ?? '').split(',').filter(Boolean).map((x) => x.toUpperCase());
  const badState = states.find((x) => x !== 'ALL' && !STATE_CODES[x] && !JOB_STATES.includes(x));
  if (badState) {
    io.err(`squeue: error: Invalid job state specified: ${badState}\nsqueue: error: Valid job states include: ${JOB_STATES.join(',')}\n\n`);
    return 1;
  }
  const scopes = await clusterScopes(io, 'squeue', s.values.get('clusters'));
  if (typeof scopes === 'number') return scopes;
  const jobs = await listVisible(io, 'squeue');
  if (typeof jobs === 'number') return jobs;
  const now = Math.floor(Date.now() / 1000);
  const wanted = states.includes('ALL') ? null : new Set((states.length ? states : ['PENDING', 'RUNNING', 'SUSPENDED', 'COMPLETING', 'CONFIGURING']).map((x) => STATE_CODES[x] ?? x));
  const ids = s.values.get('jobs')?.split(',').filter(Boolean);
  const users = s.values.get('user')?.split(',') ?? (s.flags.has('me') ? [safeUser()] : undefined);
  const names = s.values.get('name')?.split(',');
  const parts = s.values.get('partition')?.split(',');
  const accounts = s.values.get('account')?.split(',');
  const recent = jobs.filter((v) => {
    const r = queueRowFromHub(v, now);
    return !r.endTime || now - r.endTime <= MIN_JOB_AGE_S;
  });
  // One id that Slurm no longer (or never) had: squeue's load of that one job fails.
  if (ids?.length === 1 && !recent.some((v) => v.id === ids[0]!.split('_')[0])) {
    io.err('slurm_load_jobs error: Invalid job id specified\n');
    return 1;
  }
  let pieces: ((rows: QueueRow[]) => string) | undefined;
  const long = s.values.get('Format') ?? (s.values.has('format') ? undefined : io.env.SQUEUE_FORMAT2);
  const header = !s.flags.has('noheader');
  if (long !== undefined) {
    const cols = parseLong(long, SQUEUE_LONG_FIELDS, squeueLongValue, (n) => io.err(`squeue: error: Invalid job format specification: ${n}\n`));
    pieces = (rows) => renderTable(cols, rows, header);
  } else {
    const fmt = s.values.get('format') ?? io.env.SQUEUE_FORMAT ?? (s.flags.has('long') ? SQUEUE_LONG_FORMAT : SQUEUE_DEFAULT_FORMAT);
    pieces = (rows) => formatSqueue(rows, fmt, header);
  }
  for (const scope of scopes ?? [undefined]) {
    // Array jobs become their task rows first (running tasks N_i, the pending remainder N_[..%limit]).
    const expanded = recent.filter((v) => jobInScope(v, scope)).flatMap((v) => {
      const r = queueRowFromHub(v, now);
      const arr = v.slurm?.array ?? v.spec?.annotations?.[`${SLURM_ANNOTATION_PREFIX}array`];
      return (arr ? arrayRows(v, r, arrayIndices(arr), s.flags.has('array')) : [r]).map((row) => ({ v, r: row }));
    });
    const idMatch = (r: QueueRow) => !ids || ids.some((id) => id.split('_')[0] === r.jobId);
    const rows = squeueOrder(
      expanded.filter(({ r }) => (!wanted || wanted.has(r.state)) && idMatch(r) && (!users || users.includes(r.user)) && (!names || names.includes(r.name)) && (!parts || parts.includes(r.partition)) && (!accounts || accounts.includes(r.account))),
    ).map(({ r }) => r);
    if (scope && header) io.out(`CLUSTER: ${scope.name}\n`); // with -h Slurm prints no CLUSTER line either
    io.out(pieces(rows));
  }
  return 0;
}
