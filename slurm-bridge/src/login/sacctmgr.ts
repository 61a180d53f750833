// sacctmgr show|list (read-only): user, account, assoc(iation), qos, cluster, with withassoc, format= and
// where/key=value filters, -n, -P/-p. Its data is the Slurm account table (accounts.ts): every account is an
// association on the federation's cluster name (MERIDIAN_CLUSTER_NAME) for its users, with its QOS.
import { getopt, OptError, optSpec } from './getopt.ts';
import { federationName, safeUser, VERSION, type Io } from './io.ts';
import { spawnSync } from 'node:child_process';
import { AccountsFileError, loadAccounts, mayUse, type SlurmAccount } from './accounts.ts';

const SPEC = optSpec([
  ['n', 'noheader', 'noheader', false], ['P', 'parsable2', 'parsable2', false], ['p', 'parsable', 'parsable', false], ['Q', 'quiet', 'quiet', false],
  ['i', 'immediate', 'immediate', false], ['r', 'readonly', 'readonly', false], ['s', 'associations', 'withassoc', false], ['v', 'verbose', 'verbose', false],
  ['V', 'version', 'version', false], ['', 'json', 'json', false], ['o', 'oneliner', 'oneliner', false],
]);

/** format= names (lower case) → header title. */
const TITLES: Record<string, string> = {
  account: 'Account', admin: 'Admin', cluster: 'Cluster', defaultaccount: 'Def Acct', defaultqos: 'Def QOS', descr: 'Descr', description: 'Descr',
  name: 'Name', org: 'Org', organization: 'Org', parentname: 'Par Name', partition: 'Partition', priority: 'Priority', qos: 'QOS', share: 'Share',
  user: 'User', controlhost: 'ControlHost', controlport: 'ControlPort', rpc: 'RPC', flags: 'Flags', gracetime: 'GraceTime', maxwall: 'MaxWall',
  maxjobs: 'MaxJobs', maxsubmit: 'MaxSubmit', grptres: 'GrpTRES', maxtres: 'MaxTRES', usagefactor: 'UsageFactor', preempt: 'Preempt', preemptmode: 'PreemptMode',
};

const DEFAULTS: Record<string, string[]> = {
  user: ['user', 'defaultaccount', 'admin'],
  userassoc: ['user', 'defaultaccount', 'admin', 'cluster', 'account', 'partition', 'share', 'priority', 'maxjobs', 'maxsubmit', 'maxwall', 'qos', 'defaultqos'],
  account: ['account', 'descr', 'org'],
  accountassoc: ['account', 'descr', 'org', 'cluster', 'parentname', 'user', 'share', 'priority', 'maxjobs', 'maxsubmit', 'maxwall', 'qos', 'defaultqos'],
  assoc: ['cluster', 'account', 'user', 'partition', 'share', 'priority', 'grptres', 'maxjobs', 'maxtres', 'maxsubmit', 'maxwall', 'qos', 'defaultqos'],
  qos: ['name', 'priority', 'gracetime', 'preempt', 'preemptmode', 'flags', 'usagefactor', 'grptres', 'maxtres', 'maxwall', 'maxjobs', 'maxsubmit'],
  cluster: ['cluster', 'controlhost', 'controlport', 'rpc', 'share', 'qos'],
};

const ENTITY: [RegExp, string][] = [[/^users?$/, 'user'], [/^accounts?$/, 'account'], [/^assoc(iations?)?$/, 'assoc'], [/^qos$/, 'qos'], [/^clusters?$/, 'cluster']];

type Row = Record<string, string>;

/** An account open to everyone (`*`) has an association for each user the login node knows (getent passwd). */
const isUser = (name: string) => spawnSync('getent', ['passwd', name], { stdio: 'ignore' }).status === 0;

function rowsFor(entity: string, withAssoc: boolean, accounts: SlurmAccount[], cluster: string, filter: Map<string, string[]>): Row[] {
  const users = filter.get('user') ?? [];
  // Associations: one per account and user; an account open to everyone (*) is listed for the users asked about.
  const assocs = accounts.flatMap((a) => {
    const who = a.users === '*' ? (users.length ? users.filter(isUser) : [safeUser()]) : a.users;
    return who.map((u) => ({ a, user: u }));
  });
  const defaultAccount = (u: string) => accounts.find((a) => mayUse(a, u))?.account ?? '';
  const common = (a: SlurmAccount, user: string): Row => ({
    account: a.account, cluster, user, partition: '', share: '1', priority: '', maxjobs: '', maxsubmit: '', maxwall: '', grptres: '', maxtres: '',
    // sacctmgr lists an association's QOS by name
    qos: [...a.qos].sort().join(','), defaultqos: '', descr: a.account, org: a.project, parentname: user ? '' : 'root', defaultaccount: defaultAccount(user), admin: 'None',
  });
  const keep = (r: Row) => [...filter].every(([k, vs]) => (k === 'cluster' ? vs.includes(cluster) : k in r ? vs.includes(r[k]!) : true));
  if (entity === 'assoc') return assocs.map(({ a, user }) => common(a, user)).filter(keep);
  if (entity === 'user') {
    const rows = withAssoc ? assocs.map(({ a, user }) => common(a, user)) : [...new Set(assocs.map((x) => x.user))].map((u) => ({ user: u, defaultaccount: defaultAccount(u), admin: 'None', cluster }));
    return rows.filter(keep);
  }
  if (entity === 'account') {
    const rows = withAssoc ? assocs.map(({ a, user }) => common(a, user)) : accounts.map((a) => ({ account: a.account, descr: a.account, org: a.project, cluster }));
    return rows.filter(keep);
  }
  if (entity === 'qos') {
    if (filter.get('cluster') && !filter.get('cluster')!.includes(cluster)) return [];
    const names = [...new Set(['normal', ...accounts.flatMap((a) => a.qos)])];
    return names.map((n) => ({ name: n, priority: '0', gracetime: '00:00:00', preempt: '', preemptmode: 'cluster', flags: '', usagefactor: '1.000000', grptres: '', maxtres: '', maxwall: '', maxjobs: '', maxsubmit: '', cluster })).filter((r) => !filter.get('name') || filter.get('name')!.includes(r.name));
  }
  return [{ cluster, controlhost: '', controlport: '0', rpc: '9728', share: '1', qos: 'normal' }].filter(keep);
}

const FILTER_KEYS: Record<string, string> = { user: 'user', users: 'user', account: 'account', accounts: 'account', cluster: 'cluster', clusters: 'cluster', qos: 'qos', name: 'name', names: 'name', partition: 'partition', partitions: 'partition', defaultaccount: 'defaultaccount' };

export async function sacctmgrMain(io: Io): Promise<number> {
  let s;
  try {
    s = getopt('sacctmgr', io.argv, SPEC);
  } catch (err) {
    if (err instanceof OptError) return io.err(err.stderr), 1;
    throw err;
  }
  if (s.flags.has('version')) return io.out(VERSION), 0;
  const [verb, ent, ...rest] = s.positional;
  if (!verb) return io.err('sacctmgr: error: no command given; Meridian\'s sacctmgr answers "show|list user|account|assoc|qos|cluster [withassoc] [format=...] [where key=value ...]"\n'), 1;
  if (!/^(show|list)$/i.test(verb)) {
    io.err(`sacctmgr: error: '${verb}' is not available: Meridian's sacctmgr is read-only (show, list); Slurm accounts are the login node's account table (MERIDIAN_SLURM_ACCOUNTS, docs/slurm.md)\n`);
    return 1;
  }
  const entity = ENTITY.find(([re]) => re.test((ent ?? '').toLowerCase()))?.[1];
  // Slurm 22.05's words for an entity it does not list (Meridian lists the first five)
  if (!entity) return io.err('No valid entity in list command\nInput line must include "Account", "Association", "Cluster", "Configuration",\n"Event", "Federation", "Problem", "QOS", "Resource", "Reservation",\n"RunAwayJobs", "Stats", "Transaction", "TRES", "User", or "WCKey"\n'), 1;
  let withAssoc = s.flags.has('withassoc');
  let format: string[] | undefined;
  const filter = new Map<string, string[]>();
  let sawWhere = false;
  for (const word of rest) {
    const lw = word.toLowerCase();
    if (lw === 'where' || lw === 'set') {
      sawWhere = true;
      continue;
    }
    if (lw === 'withassoc' || lw === 'withassocs') {
      withAssoc = true;
      continue;
    }
    const eq = word.indexOf('=');
    if (eq < 0 && /^[A-Za-z0-9_.,-]+$/.test(word) && !sawWhere) {
      // `show account physics`: names right after the entity, as sacctmgr takes them
      const k = entity === 'qos' ? 'name' : entity === 'assoc' ? 'account' : entity;
      filter.set(k, [...(filter.get(k) ?? []), ...word.split(',')]);
      continue;
    }
    if (eq < 0) return io.err(` Unknown condition: ${word}\n`), 1;
    const key = lw.slice(0, eq);
    const val = word.slice(eq + 1);
    if (key === 'format') {
      format = val.split(',').filter(Boolean).map((f) => f.split('%')[0]!.toLowerCase());
      const bad = format.find((f) => !TITLES[f]);
      if (bad) return io.err(`Unknown field '${bad}'\n`), 1;
      continue;
    }
    const fk = FILTER_KEYS[key];
    if (!fk) return io.err(` Unknown condition: ${word}\n`), 1;
    filter.set(fk, val.split(','));
  }
  let accounts: SlurmAccount[];
  try {
    accounts = loadAccounts(io.env);
  } catch (err) {
    if (err instanceof AccountsFileError) return io.err(`sacctmgr: error: ${err.message}\n`), 1;
    throw err;
  }
  const fields = format ?? DEFAULTS[withAssoc && (entity === 'user' || entity === 'account') ? `${entity}assoc` : entity]!;
  const rows = rowsFor(entity, withAssoc, accounts, federationName(io.env), filter);
  const header = !s.flags.has('noheader');
  if (s.flags.has('parsable2') || s.flags.has('parsable')) {
    const end = s.flags.has('parsable') ? '|' : '';
    const lines = rows.map((r) => `${fields.map((f) => r[f] ?? '').join('|')}${end}`);
    if (header) lines.unshift(`${fields.map((f) => TITLES[f]).join('|')}${end}`);
    io.out(lines.length ? `${lines.join('\n')}\n` : '');
    return 0;
  }
  const fit = (t: string) => (t.length > 10 ? `${t.slice(0, 9)}+` : t.padStart(10));
  const lines = rows.map((r) => fields.map((f) => fit(r[f] ?? '')).join(' '));
  if (header) lines.unshift(fields.map((f) => fit(TITLES[f]!)).join(' '), fields.map(() => '-'.repeat(10)).join(' '));
  io.out(lines.length ? `${lines.join('\n')}\n` : '');
  return 0;
}
