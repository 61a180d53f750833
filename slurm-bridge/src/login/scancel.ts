// scancel: ids, or every job matching -n/-u/--me/-t/-p/-A, through the hub's cancel.
import { getopt, OptError, optSpec } from './getopt.ts';
import { safeUser, VERSION, type Io } from './io.ts';
import { HubError, hubClientFromEnv } from './hub-client.ts';
import { clusterScopes } from './clusters.ts';
import { queueRowFromHub } from './rows.ts';
import { STATE_CODES } from './squeue.ts';

const SPEC = optSpec([
  ['n', 'name', 'name', true], ['', 'jobname', 'name', true], ['u', 'user', 'user', true], ['t', 'state', 'state', true], ['s', 'signal', 'signal', true],
  ['v', 'verbose', 'verbose', false], ['Q', 'quiet', 'quiet', false], ['i', 'interactive', 'interactive', false], ['b', 'batch', 'batch', false],
  ['f', 'full', 'full', false], ['M', 'clusters', 'clusters', true], ['', 'me', 'me', false], ['p', 'partition', 'partition', true],
  ['A', 'account', 'account', true], ['V', 'version', 'version', false], ['q', 'qos', 'qos', true], ['w', 'nodelist', 'nodelist', true],
  ['R', 'reservation', 'reservation', true], ['H', 'hurry', 'hurry', false], ['', 'sibling', 'sibling', true], ['', 'ctld', 'ctld', false],
]);

export async function scancelMain(io: Io): Promise<number> {
  let s;
  try {
    s = getopt('scancel', io.argv, SPEC);
  } catch (err) {
    if (err instanceof OptError) return io.err(err.stderr), 1;
    throw err;
  }
  if (s.flags.has('version')) return io.out(VERSION), 0;
  const scopes = await clusterScopes(io, 'scancel', s.values.get('clusters'));
  if (typeof scopes === 'number') return scopes;
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
  const st = s.values.get('state')?.toUpperCase();
  if (st && !STATE_CODES[st]) return io.err(`scancel: error: Invalid job state specified: ${s.values.get('state')}\n`), 1;
  if (['name', 'user', 'state', 'partition', 'account'].some((k) => s.values.has(k)) || s.flags.has('me')) {
    const jobs = await hub.list();
    const name = s.values.get('name');
    const user = s.values.get('user') ?? (s.flags.has('me') ? safeUser() : undefined);
    const part = s.values.get('partition');
    const acct = s.values.get('account');
    targets = jobs
      .map((v) => queueRowFromHub(v, 0))
      .filter((r) => ['PENDING', 'RUNNING', 'SUSPENDED'].includes(r.state))
      .filter((r) => (!name || r.name === name) && (!user || r.user === user) && (!st || r.state === STATE_CODES[st]) && (!part || r.partition === part) && (!acct || r.account === acct) && (!targets.length || targets.includes(r.jobId)))
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
      // Slurm 22.05's scancel is silent about an id slurmctld does not have (exit 0); -v says so
      if (err instanceof HubError && err.status === 404) {
        if (s.flags.has('verbose')) io.err(`scancel: error: Kill job error on job id ${id}: Invalid job id specified\n`);
        continue;
      }
      io.err(`scancel: error: Kill job error on job id ${id}: ${(err as Error).message}\n`);
      rc = 1;
    }
  }
  return rc;
}
