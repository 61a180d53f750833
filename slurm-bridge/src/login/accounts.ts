// Slurm accounts on the login node: `sbatch -A physics` names a Slurm account, which this table maps to the
// Meridian project the job is charged to, with the users allowed to use it and its QOS (what `sacctmgr show
// assoc` lists). The table is a file, MERIDIAN_SLURM_ACCOUNTS (default /etc/meridian/slurm-accounts):
//
//   # account   project    users          qos
//   physics     phys-lab   alice,bob      normal,long
//   default     default    *              normal
//
// One account a line; `#` starts a comment; users `*` is everyone; qos defaults to `normal`.
import { readFileSync } from 'node:fs';

export const DEFAULT_ACCOUNTS_FILE = '/etc/meridian/slurm-accounts';

export interface SlurmAccount {
  account: string;
  project: string;
  users: string[] | '*';
  qos: string[];
}

export class AccountsFileError extends Error {}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export function parseAccounts(text: string, file = 'MERIDIAN_SLURM_ACCOUNTS'): SlurmAccount[] {
  const out: SlurmAccount[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const [account, project, users = '*', qos = 'normal', ...extra] = line.split(/\s+/);
    const where = `${file} line ${i + 1}`;
    if (extra.length) throw new AccountsFileError(`${where}: expected "account project [users] [qos]", got ${extra.length} more word(s)`);
    if (!project) throw new AccountsFileError(`${where}: account "${account}" names no project; write "account project [users] [qos]"`);
    for (const [what, v] of [['account', account], ['project', project]] as const) {
      if (!NAME.test(v!)) throw new AccountsFileError(`${where}: ${what} "${v}" must be 1-64 letters, digits, '_', '.' or '-'`);
    }
    if (out.some((a) => a.account === account)) throw new AccountsFileError(`${where}: account "${account}" is listed twice`);
    out.push({ account: account!, project: project!, users: users === '*' ? '*' : users.split(',').filter(Boolean), qos: qos.split(',').filter(Boolean) });
  });
  return out;
}

/** The table, or [] when the file does not exist; a malformed file is an error naming the line. */
export function loadAccounts(env: Record<string, string | undefined>): SlurmAccount[] {
  const file = env.MERIDIAN_SLURM_ACCOUNTS || DEFAULT_ACCOUNTS_FILE;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new AccountsFileError(`${file}: ${(err as Error).message}`);
  }
  return parseAccounts(text, file);
}

export const mayUse = (a: SlurmAccount, user: string) => a.users === '*' || a.users.includes(user);
