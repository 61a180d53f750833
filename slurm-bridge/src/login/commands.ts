// The login-node commands: sbatch, squeue, scancel, sinfo, sacct, scontrol (show job|hold|release), talking
// to the hub. Each `*Main` takes an Io and returns the exit code, so tests run them in-process.
import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { formatSacctParsable, formatSacctTable, formatSqueue, SACCT_DEFAULT_FIELDS, secsToTime, SQUEUE_DEFAULT_FORMAT, SQUEUE_LONG_FORMAT, STATE_COMPACT, submittedLine, slurmTime } from './format.ts';
import { HubError, hubClientFromEnv } from './hub-client.ts';
import { jobSpecFor } from './jobspec.ts';
import { arrayRows, queueRowFromHub, slurmStateOf, squeueOrder, type HubJobView } from './rows.ts';
import { arrayIndices, checkScript, parseCommandLine, resolveOptions, SbatchError, wrapScript } from './sbatch-options.ts';
import { SLURM_ANNOTATION_PREFIX } from '@meridian/protocol/slurm/annotations';

export interface Io {
  argv: string[];
  env: Record<string, string | undefined>;
  cwd: string;
  readStdin: () => Promise<string>;
  out: (s: string) => void;
  err: (s: string) => void;
}

export function processIo(): Io {
  return {
    argv: process.argv.slice(2),
    env: process.env,
    cwd: process.cwd(),
    readStdin: async () => {
      if (process.stdin.isTTY) return '';
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
  };
}

const VERSION = 'slurm-wlm 22.05.8\n';
/** Hub error codes whose message is Slurm's own text (hub/src/api/routes/jobs-slurm.ts). */
const SLURM_TEXT_CODES = new Set(['invalid_partition', 'dependency_problem']);
/** The hub's code for a placement naming a cluster or region it does not have (hub/src/api/routes/jobs-placement.ts). */
const UNKNOWN_PLACEMENT = 'unknown_placement';

// ---------------- sbatch ----------------

export async function sbatchMain(io: Io): Promise<number> {
  let partition: string | undefined;
  let clusters: string | undefined;
  try {
    const inv = parseCommandLine(io.argv);
    if (inv.action === 'version') return io.out(VERSION), 0;
    if (inv.action === 'help' || inv.action === 'usage') {
      io.out('Usage: sbatch [OPTIONS(0)...] [ : [OPTIONS(N)...]] script(0) [args(0)...]\n\nMeridian login node: options as Slurm 22.05 sbatch; jobs go to the Meridian hub (MERIDIAN_URL).\n');
      return 0;
    }
    let script: string;
    if (inv.options.wrap !== undefined) script = wrapScript(inv.options.wrap);
    else if (inv.scriptPath) {
      try {
        script = readFileSync(resolve(io.cwd, inv.scriptPath), 'utf8');
      } catch {
        throw new SbatchError(`sbatch: error: Unable to open file ${inv.scriptPath}\n`, 1);
      }
    } else script = await io.readStdin();
    checkScript(script);
    const o = resolveOptions(io.argv, script, io.env);
    partition = o.partition;
    clusters = o.clusters;
    if (o.testOnly) {
      io.err(`sbatch: Job would be submitted to Meridian (${io.env.MERIDIAN_URL ?? 'MERIDIAN_URL unset'})\n`);
      return 0;
    }
    const spec = jobSpecFor(o, script, {
      cwd: io.cwd,
      env: io.env,
      user: safeUser(),
      host: hostname(),
      scriptPath: inv.scriptPath,
      project: io.env.MERIDIAN_PROJECT,
      onDropped: (names) => io.err(`sbatch: warning: not exporting ${names.join(', ')}: credentials stay on the login node (site patterns: MERIDIAN_SECRET_ENV_PATTERNS); give a job secrets with workload.secrets (meridian job submit)\n`),
    });
    if (inv.scriptArgs.length) throw new SbatchError('sbatch: error: Batch job submission failed: script arguments are not supported by Meridian yet\n', 1);
    const hub = hubClientFromEnv(io.env, 'sbatch');
    const job = await hub.submit(spec);
    const cluster = o.clusters && o.clusters !== 'all' ? o.clusters.split(',')[0] : undefined;
    if (!o.quiet || o.parsable) io.out(submittedLine(job.id, !!o.parsable, o.parsable ? cluster : undefined));
    if (o.wait) return waitForJob(hub, job.id);
    return 0;
  } catch (err) {
    if (err instanceof SbatchError) return io.err(err.stderr), err.exitCode;
    if (err instanceof HubError) {
      // Refusals that mirror Slurm's (unknown partition, dependency problem) print Slurm's text alone, as sbatch does.
      const text = err.code && SLURM_TEXT_CODES.has(err.code) && err.bare ? err.bare : err.message;
      if (err.code === 'invalid_partition') io.err(`sbatch: error: invalid partition specified: ${partition ?? ''}\n`);
      if (err.code === UNKNOWN_PLACEMENT && clusters) {
        // as sbatch -M with a cluster slurmdbd does not know (slurmdb_defs.c, print_db_notok); the hub lists the unknown ones
        for (const c of (err.bare ?? '').replace(/^[^:]*:\s*/, '').split(', ').filter(Boolean)) io.err(`sbatch: error: No cluster '${c}' known by database.\n`);
        io.err(`sbatch: error: '${clusters}' can't be reached now, or it is an invalid entry for --cluster.  Use 'sacctmgr list clusters' to see available clusters.\n`);
        return 1;
      }
      io.err(err.status === 0 && err.message.startsWith('sbatch:') ? `${err.message}\n` : `sbatch: error: Batch job submission failed: ${text}\n`);
      return 1;
    }
    throw err;
  }
}

async function waitForJob(hub: ReturnType<typeof hubClientFromEnv>, id: string): Promise<number> {
  for (;;) {
    const j = await hub.get(id);
    if (j.state === 'Succeeded') return 0;
    if (j.state === 'Failed' || j.state === 'Cancelled') return j.exitCode ?? 1;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

// ---------------- shared option scanning for the query commands ----------------

interface Scanned {
  flags: Set<string>;
  values: Map<string, string>;
  positional: string[];
}

/** Tiny getopt for squeue/scancel/sacct/sinfo/scontrol: `spec` maps every spelling to [canonical, takesValue]. */
function scan(cmd: string, argv: string[], spec: Record<string, [string, boolean]>, io: Io): Scanned | number {
  const s: Scanned = { flags: new Set(), values: new Map(), positional: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      s.positional.push(...argv.slice(i + 1));
      break;
    }
    let key = a;
    let val: string | undefined;
    if (a.startsWith('--') && a.includes('=')) [key, val] = [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)];
    else if (/^-[A-Za-z]./.test(a) && !a.startsWith('--') && spec[a.slice(0, 2)]?.[1]) [key, val] = [a.slice(0, 2), a.slice(2)];
    const def = spec[key];
    if (!def) {
      if (a.startsWith('-') && a !== '-') {
        io.err(a.startsWith('--') ? `${cmd}: unrecognized option '${key}'\nTry "${cmd} --help" for more information\n` : `${cmd}: invalid option -- '${a.slice(1, 2)}'\nTry "${cmd} --help" for more information\n`);
        return 1;
      }
      s.positional.push(a);
      continue;
    }
    if (def[1]) {
      if (val === undefined) {
        if (i + 1 >= argv.length) {
          io.err(`${cmd}: option '${key}' requires an argument\nTry "${cmd} --help" for more information\n`);
          return 1;
        }
        val = argv[++i]!;
      }
      s.values.set(def[0], val);
    } else s.flags.add(def[0]);
  }
  return s;
}

async function listVisible(io: Io, cmd: string): Promise<HubJobView[] | number> {
  try {
    return await hubClientFromEnv(io.env, cmd).list();
  } catch (err) {
    if (err instanceof HubError) return io.err(err.status === 0 && err.message.startsWith(cmd) ? `${err.message}\n` : `${cmd}: error: ${err.message}\n`), 1;
    throw err;
  }
}

const STATE_CODES: Record<string, string> = Object.fromEntries(Object.entries(STATE_COMPACT).flatMap(([long, short]) => [[short, long], [long, long]]));

// ---------------- squeue ----------------

const SQUEUE_SPEC: Record<string, [string, boolean]> = {
  '-h': ['noheader', false], '--noheader': ['noheader', false], '-a': ['all', false], '--all': ['all', false], '--noconvert': ['noconvert', false],
  '-l': ['long', false], '--long': ['long', false], '-o': ['format', true], '--format': ['format', true], '-t': ['states', true], '--states': ['states', true],
  '-u': ['user', true], '--user': ['user', true], '-j': ['jobs', true], '--jobs': ['jobs', true], '-p': ['partition', true], '--partition': ['partition', true],
  '-n': ['name', true], '--name': ['name', true], '--me': ['me', false], '-r': ['array', false], '--array': ['array', false], '-S': ['sort', true], '--sort': ['sort', true],
  '-A': ['account', true], '--account': ['account', true], '-M': ['clusters', true], '--clusters': ['clusters', true], '-i': ['iterate', true], '--iterate': ['iterate', true],
  '-v': ['verbose', false], '-V': ['version', false], '--version': ['version', false], '--local': ['local', false], '--federation': ['federation', false],
};

export async function squeueMain(io: Io): Promise<number> {
  const s = scan('squeue', io.argv, SQUEUE_SPEC, io);
  if (typeof s === 'number') return s;
  if (s.flags.has('version')) return io.out(VERSION), 0;
  const jobs = await listVisible(io, 'squeue');
  if (typeof jobs === 'number') return jobs;
  const now = Math.floor(Date.now() / 1000);
  const states = (s.values.get('states') ?? '').split(',').filter(Boolean).map((x) => x.toUpperCase());
  const wanted = states.includes('ALL') ? null : new Set((states.length ? states : ['PENDING', 'RUNNING', 'SUSPENDED', 'COMPLETING', 'CONFIGURING']).map((x) => STATE_CODES[x] ?? x));
  const ids = s.values.get('jobs')?.split(',').map((x) => x.split('_')[0]);
  const users = s.values.get('user')?.split(',') ?? (s.flags.has('me') ? [safeUser()] : undefined);
  const names = s.values.get('name')?.split(',');
  const parts = s.values.get('partition')?.split(',');
  // Array jobs become their task rows first (running tasks N_i, the pending remainder N_[..%limit]).
  const expanded = jobs.flatMap((v) => {
    const r = queueRowFromHub(v, now);
    const arr = v.slurm?.array ?? v.spec?.annotations?.[`${SLURM_ANNOTATION_PREFIX}array`];
    return (arr ? arrayRows(v, r, arrayIndices(arr), s.flags.has('array')) : [r]).map((row) => ({ v, r: row }));
  });
  const rows = squeueOrder(
    expanded.filter(({ r }) => (!wanted || wanted.has(r.state)) && (!ids || ids.includes(r.jobId)) && (!users || users.includes(r.user)) && (!names || names.includes(r.name)) && (!parts || parts.includes(r.partition))),
  ).map(({ r }) => r);
  const fmt = s.values.get('format') ?? io.env.SQUEUE_FORMAT ?? (s.flags.has('long') ? SQUEUE_LONG_FORMAT : SQUEUE_DEFAULT_FORMAT);
  io.out(formatSqueue(rows, fmt, !s.flags.has('noheader')));
  return 0;
}

// ---------------- scancel ----------------

const SCANCEL_SPEC: Record<string, [string, boolean]> = {
  '-n': ['name', true], '--name': ['name', true], '--jobname': ['name', true], '-u': ['user', true], '--user': ['user', true], '-t': ['state', true], '--state': ['state', true],
  '-s': ['signal', true], '--signal': ['signal', true], '-v': ['verbose', false], '--verbose': ['verbose', false], '-Q': ['quiet', false], '--quiet': ['quiet', false],
  '-i': ['interactive', false], '-b': ['batch', false], '--batch': ['batch', false], '-f': ['full', false], '--full': ['full', false], '-M': ['clusters', true], '--clusters': ['clusters', true],
  '--me': ['me', false], '-p': ['partition', true], '--partition': ['partition', true], '-A': ['account', true], '--account': ['account', true], '-V': ['version', false], '--version': ['version', false],
};

export async function scancelMain(io: Io): Promise<number> {
  const s = scan('scancel', io.argv, SCANCEL_SPEC, io);
  if (typeof s === 'number') return s;
  if (s.flags.has('version')) return io.out(VERSION), 0;
  let hub;
  try {
    hub = hubClientFromEnv(io.env, 'scancel');
  } catch (err) {
    return io.err(`${(err as Error).message}\n`), 1;
  }
  let targets = s.positional.map((x) => x.split('_')[0]!);
  for (const t of targets) {
    if (!/^\d+$/.test(t)) {
      io.err(`scancel: error: Invalid job id ${t}\n`);
      return 1;
    }
  }
  if (s.values.has('name') || s.values.has('user') || s.flags.has('me') || s.values.has('state')) {
    const jobs = await hub.list();
    const name = s.values.get('name');
    const user = s.values.get('user') ?? (s.flags.has('me') ? safeUser() : undefined);
    const st = s.values.get('state')?.toUpperCase();
    targets = jobs
      .map((v) => queueRowFromHub(v, 0))
      .filter((r) => ['PENDING', 'RUNNING', 'SUSPENDED'].includes(r.state))
      .filter((r) => (!name || r.name === name) && (!user || r.user === user) && (!st || r.state === (STATE_CODES[st] ?? st)) && (!targets.length || targets.includes(r.jobId)))
      .map((r) => r.jobId);
  } else if (!targets.length) {
    io.err('scancel: error: No job identification provided\n');
    return 1;
  }
  let rc = 0;
  for (const id of targets) {
    try {
      await hub.cancel(id);
    } catch (err) {
      if (err instanceof HubError && err.status === 409) continue; // already finished: scancel is silent
      if (err instanceof HubError && err.status === 404) {
        io.err(`scancel: error: Kill job error on job id ${id}: Invalid job id specified\n`);
        rc = 1;
        continue;
      }
      io.err(`scancel: error: Kill job error on job id ${id}: ${(err as Error).message}\n`);
      rc = 1;
    }
  }
  return rc;
}

// ---------------- sacct ----------------

const SACCT_SPEC: Record<string, [string, boolean]> = {
  '-P': ['parsable2', false], '--parsable2': ['parsable2', false], '-p': ['parsable', false], '--parsable': ['parsable', false], '-n': ['noheader', false], '--noheader': ['noheader', false],
  '-X': ['allocations', false], '--allocations': ['allocations', false], '-j': ['jobs', true], '--jobs': ['jobs', true], '-o': ['format', true], '--format': ['format', true],
  '-S': ['starttime', true], '--starttime': ['starttime', true], '-E': ['endtime', true], '--endtime': ['endtime', true], '-u': ['user', true], '--user': ['user', true],
  '-a': ['allusers', false], '--allusers': ['allusers', false], '-s': ['state', true], '--state': ['state', true], '-b': ['brief', false], '--brief': ['brief', false],
  '-l': ['long', false], '--long': ['long', false], '-L': ['allclusters', false], '--allclusters': ['allclusters', false], '-M': ['clusters', true], '--clusters': ['clusters', true],
  '--name': ['name', true], '-D': ['duplicates', false], '--duplicates': ['duplicates', false], '--noconvert': ['noconvert', false], '-V': ['version', false], '--version': ['version', false],
};

const FIELD_NAMES: Record<string, string> = Object.fromEntries(
  ['JobID', 'JobIDRaw', 'JobName', 'Partition', 'Account', 'AllocCPUS', 'State', 'ExitCode', 'User', 'Submit', 'Start', 'End', 'Elapsed', 'Timelimit', 'NNodes', 'NodeList', 'Comment', 'WorkDir', 'Cluster', 'ReqCPUS', 'AllocNodes', 'DerivedExitCode'].map((f) => [f.toLowerCase(), f]),
);

export async function sacctMain(io: Io): Promise<number> {
  const s = scan('sacct', io.argv, SACCT_SPEC, io);
  if (typeof s === 'number') return s;
  if (s.flags.has('version')) return io.out(VERSION), 0;
  const fmt = s.values.get('format') ?? io.env.SACCT_FORMAT;
  const fields = fmt ? fmt.split(',').map((f) => f.split('%')[0]!.trim()).filter(Boolean).map((f) => FIELD_NAMES[f.toLowerCase()] ?? f) : s.flags.has('brief') ? ['JobID', 'State', 'ExitCode'] : SACCT_DEFAULT_FIELDS;
  const unknown = fields.find((f) => !FIELD_NAMES[f.toLowerCase()]);
  if (unknown) {
    io.err(`sacct: error: Invalid field requested: "${unknown}"\n`);
    return 1;
  }
  const jobs = await listVisible(io, 'sacct');
  if (typeof jobs === 'number') return jobs;
  const ids = s.values.get('jobs')?.split(',').map((x) => x.split('_')[0]);
  const user = s.flags.has('allusers') ? undefined : (s.values.get('user') ?? undefined);
  const now = Math.floor(Date.now() / 1000);
  const rows = jobs
    .filter((v) => (!ids || ids.includes(v.id)) && (!user || v.user === user))
    .sort((a, b) => Number(a.id) - Number(b.id))
    .flatMap((v) => {
      // An array job is one row per index (N_i), as Slurm's accounting has one record per task.
      const base = queueRowFromHub(v, now);
      const jobState = slurmStateOf(v);
      const arr = v.slurm?.array ?? v.spec?.annotations?.[`${SLURM_ANNOTATION_PREFIX}array`];
      if (!arr) return [{ v, r: base, state: jobState }];
      const ended = !['PENDING', 'RUNNING'].includes(jobState);
      return arrayRows(v, base, arrayIndices(arr), true).map((r) => ({ v, r, state: ended && r.state === 'PENDING' ? jobState : r.state }));
    })
    .map(({ v, r, state }) => {
      const elapsed = r.startTime ? (r.endTime ?? now) - r.startTime : 0;
      return {
        JobID: r.displayId,
        JobIDRaw: r.jobId,
        JobName: r.name,
        Partition: r.partition,
        Account: r.account,
        AllocCPUS: state === 'PENDING' ? '0' : String(r.numCpus),
        ReqCPUS: String(r.numCpus),
        State: state === 'CANCELLED' ? 'CANCELLED by 0' : state,
        ExitCode: r.exitCode ?? '0:0',
        DerivedExitCode: '0:0',
        User: r.user,
        Submit: slurmTime(r.submitTime),
        Start: r.startTime ? slurmTime(r.startTime) : 'Unknown',
        End: r.endTime ? slurmTime(r.endTime) : 'Unknown',
        Elapsed: secsToTime(elapsed).padStart(8, '0').replace(/^0(\d):/, '0$1:'),
        Timelimit: r.timeLimitSec === undefined ? 'UNLIMITED' : secsToTime(r.timeLimitSec),
        NNodes: String(r.numNodes),
        AllocNodes: state === 'PENDING' ? '0' : String(r.numNodes),
        NodeList: r.nodeList || 'None assigned',
        Comment: r.comment,
        WorkDir: r.workDir,
        Cluster: v.cluster ?? '',
      };
    });
  const header = !s.flags.has('noheader');
  if (s.flags.has('parsable2')) io.out(formatSacctParsable(rows, fields, header));
  else if (s.flags.has('parsable')) io.out(formatSacctParsable(rows, fields, header).replace(/\n/g, '|\n'));
  else io.out(formatSacctTable(rows, fields, header));
  return 0;
}

// ---------------- sinfo ----------------

export async function sinfoMain(io: Io): Promise<number> {
  const s = scan('sinfo', io.argv, { '-h': ['noheader', false], '--noheader': ['noheader', false], '-N': ['node', false], '--Node': ['node', false], '-a': ['all', false], '--all': ['all', false], '-l': ['long', false], '-V': ['version', false], '--version': ['version', false] }, io);
  if (typeof s === 'number') return s;
  if (s.flags.has('version')) return io.out(VERSION), 0;
  let nodes;
  try {
    nodes = (await hubClientFromEnv(io.env, 'sinfo').nodes()).items;
  } catch (err) {
    return io.err(`sinfo: error: ${(err as Error).message}\n`), 1;
  }
  // One "partition" per member cluster; rows grouped by state as sinfo does.
  const state = (n: (typeof nodes)[number]) => n.info.state ?? (n.info.unschedulable ? 'drain' : !n.info.ready ? 'down' : 'idle');
  const lines: string[] = [];
  if (!s.flags.has('noheader')) lines.push(s.flags.has('node') ? 'NODELIST   NODES PARTITION STATE ' : 'PARTITION AVAIL  TIMELIMIT  NODES  STATE NODELIST');
  const sorted = [...nodes].sort((a, b) => a.clusterId.localeCompare(b.clusterId) || a.name.localeCompare(b.name));
  if (s.flags.has('node')) {
    for (const n of sorted) lines.push(`${n.name.padEnd(10)} ${'1'.padStart(5)} ${n.clusterId.padStart(9)} ${state(n).padEnd(6)}`);
  } else {
    const groups = new Map<string, string[]>();
    for (const n of sorted) {
      const k = `${n.clusterId}\u0000${state(n)}`;
      groups.set(k, [...(groups.get(k) ?? []), n.name]);
    }
    for (const [k, names] of groups) {
      const [cluster, st] = k.split('\u0000') as [string, string];
      lines.push(`${cluster.padEnd(9)} ${'up'.padStart(5)} ${'infinite'.padStart(10)} ${String(names.length).padStart(6)} ${st.padStart(6)} ${names.join(',')}`);
    }
  }
  io.out(lines.length ? `${lines.join('\n')}\n` : '');
  return 0;
}

// ---------------- scontrol ----------------

export async function scontrolMain(io: Io): Promise<number> {
  const args = io.argv.filter((a) => a !== '-o' && a !== '--oneliner' && a !== '-d' && a !== '--details');
  const oneLine = io.argv.includes('-o') || io.argv.includes('--oneliner');
  const [verb, ...rest] = args;
  let hub;
  try {
    hub = hubClientFromEnv(io.env, 'scontrol');
  } catch (err) {
    return io.err(`${(err as Error).message}\n`), 1;
  }
  if (verb === 'show' && (rest[0] === 'job' || rest[0] === 'jobs')) {
    const ids = rest.slice(1).flatMap((x) => x.split(',')).map((x) => x.split('_')[0]!);
    const jobs = ids.length ? await Promise.all(ids.map((id) => hub.get(id).catch(() => undefined))) : await hub.list();
    if (ids.length && jobs.some((j) => !j)) {
      io.err('slurm_load_jobs error: Invalid job id specified\n');
      return 1;
    }
    const now = Math.floor(Date.now() / 1000);
    const recs = (jobs as HubJobView[]).map((v) => {
      const r = queueRowFromHub(v, now);
      const fields: [string, string][][] = [
        [['JobId', r.jobId], ['JobName', r.name]],
        [['UserId', r.user], ['Account', r.account || '(null)'], ['QOS', r.qos || '(null)']],
        [['Priority', String(r.priority ?? 0)]],
        [['JobState', r.state], ['Reason', r.reason], ['Dependency', r.dependency || '(null)']],
        [['ExitCode', r.exitCode ?? '0:0']],
        [['RunTime', secsToTime(r.startTime ? (r.endTime ?? now) - r.startTime : 0)], ['TimeLimit', r.timeLimitSec === undefined ? 'UNLIMITED' : secsToTime(r.timeLimitSec)]],
        [['SubmitTime', slurmTime(r.submitTime)], ['StartTime', r.startTime ? slurmTime(r.startTime) : 'Unknown'], ['EndTime', r.endTime ? slurmTime(r.endTime) : 'Unknown']],
        [['Partition', r.partition], ['NodeList', r.nodeList || '(null)']],
        [['NumNodes', String(r.numNodes)], ['NumCPUs', String(r.numCpus)]],
        [['WorkDir', r.workDir || '(null)']],
        [['StdErr', v.slurm?.stdErr ?? '(null)']],
        [['StdIn', '/dev/null']],
        [['StdOut', v.slurm?.stdOut ?? '(null)']],
        [['Comment', `meridian:${v.id}`], ['Cluster', v.cluster ?? '(null)'], ['ClusterJobId', v.clusterJobId ?? '(null)']],
      ];
      return oneLine ? `${fields.flat().map(([k, val]) => `${k}=${val}`).join(' ')}\n` : `${fields.map((l) => `   ${l.map(([k, val]) => `${k}=${val}`).join(' ')}`).join('\n').replace(/^ {3}/, '')}\n\n`;
    });
    io.out(recs.join('') || 'No jobs in the system\n');
    return 0;
  }
  if (verb === 'hold' || verb === 'release' || verb === 'uhold' || verb === 'requeue') {
    const ids = rest.flatMap((x) => x.split(',')).filter(Boolean);
    if (!ids.length) {
      io.err(`scontrol: error: Invalid job id specified\n`);
      return 1;
    }
    if (verb === 'requeue') {
      // The hub has no user requeue endpoint (docs/slurm.md, "What the hub must add").
      io.err(`scontrol: error: requeue of Meridian jobs needs the hub's POST /api/v1/jobs/{id}/requeue (not available on this hub)\n`);
      return 1;
    }
    // hold / uhold / release: the hub's POST /api/v1/jobs/{id}/hold|release; silent on success, as Slurm is.
    let rc = 0;
    for (const id of ids) {
      try {
        if (verb === 'release') await hub.release(id);
        else await hub.hold(id);
      } catch (err) {
        rc = 1;
        if (err instanceof HubError && err.status === 404) io.err(`scontrol: error: Invalid job id specified for job ${id}\n`);
        else if (err instanceof HubError && err.status === 409) io.err(`scontrol: error: ${verb === 'release' ? 'Job is not held' : 'Job is no longer pending execution'} for job ${id} (${err.message})\n`);
        else io.err(`scontrol: error: ${verb} of job ${id} failed: ${(err as Error).message}\n`);
      }
    }
    return rc;
  }
  if (verb === '--version' || verb === '-V' || verb === 'version') return io.out(VERSION), 0;
  io.err(`scontrol: error: Meridian's scontrol supports: show job [id], hold <id>, release <id>\n`);
  return 1;
}
