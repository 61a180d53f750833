// sbatch: parse as Slurm 22.05 does (sbatch-options.ts), map -A through the account table (accounts.ts), and
// submit to the hub. -M with the federation's own name is the whole federation.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { submittedLine } from './format.ts';
import { HubError, hubClientFromEnv } from './hub-client.ts';
import { jobSpecFor } from './jobspec.ts';
import { checkScript, parseCommandLine, resolveOptions, SbatchError, wrapScript } from './sbatch-options.ts';
import { AccountsFileError, loadAccounts, mayUse } from './accounts.ts';
import { federationName, safeUser, VERSION, type Io } from './io.ts';

/** Hub error codes whose message is Slurm's own text (hub/src/api/routes/jobs-slurm.ts). */
const SLURM_TEXT_CODES = new Set(['invalid_partition', 'dependency_problem']);
/** The hub's code for a placement naming a cluster or region it does not have (hub/src/api/routes/jobs-placement.ts). */
const UNKNOWN_PLACEMENT = 'unknown_placement';

/** The project a Slurm account is charged to; Slurm's refusal when the user may not use it (or it is not in the table). */
function projectFor(account: string | undefined, env: Record<string, string | undefined>, user: string): string | undefined {
  if (account === undefined) return env.MERIDIAN_PROJECT;
  let table;
  try {
    table = loadAccounts(env);
  } catch (err) {
    if (err instanceof AccountsFileError) throw new SbatchError(`sbatch: error: ${err.message}\n`, 1);
    throw err;
  }
  const a = table.find((x) => x.account === account);
  if (!a || !mayUse(a, user)) throw new SbatchError('sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified\n', 1);
  return a.project;
}

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
    const fed = federationName(io.env);
    const printedCluster = o.clusters && o.clusters !== 'all' ? o.clusters.split(',')[0] : undefined;
    if (o.clusters?.split(',').includes(fed)) o.clusters = undefined; // the whole federation
    if (o.testOnly) {
      io.err(`sbatch: Job would be submitted to Meridian (${io.env.MERIDIAN_URL ?? 'MERIDIAN_URL unset'})\n`);
      return 0;
    }
    const user = safeUser();
    const spec = jobSpecFor(o, script, {
      cwd: io.cwd,
      env: io.env,
      user,
      host: hostname(),
      scriptPath: inv.scriptPath,
      project: projectFor(o.account, io.env, user),
      onDropped: (names) => io.err(`sbatch: warning: not exporting ${names.join(', ')}: credentials stay on the login node (site patterns: MERIDIAN_SECRET_ENV_PATTERNS); give a job secrets with workload.secrets (meridian job submit)\n`),
    });
    if (inv.scriptArgs.length) throw new SbatchError('sbatch: error: Batch job submission failed: script arguments are not supported by Meridian yet\n', 1);
    const hub = hubClientFromEnv(io.env, 'sbatch');
    const job = await hub.submit(spec);
    if (!o.quiet || o.parsable) io.out(submittedLine(job.id, !!o.parsable, o.parsable ? printedCluster : undefined));
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
