// Some engines refuse to run as root (PostgreSQL, slurmrestd). When the harness runs as root it
// runs them as an existing unprivileged system user instead.
import { execFileSync } from 'node:child_process';

export interface UnixUser {
  name: string;
  uid: number;
  gid: number;
}

export function lookupUser(name: string): UnixUser | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
    return { name, uid, gid };
  } catch {
    return undefined;
  }
}

export const isRoot = (): boolean => process.getuid?.() === 0;

/** The user to run a root-refusing engine as: ourselves when not root, else the first that exists. */
export function unprivilegedUser(candidates: string[]): UnixUser | undefined {
  if (!isRoot()) return { name: process.env.USER ?? 'self', uid: process.getuid!(), gid: process.getgid!() };
  for (const c of candidates) {
    const u = lookupUser(c);
    if (u) return u;
  }
  return undefined;
}

/**
 * A Unix account for tests of jobs that run as their submitter (created with useradd when missing; needs root).
 * Slurm resolves it on this host, where the harness's slurmd run.
 */
export function ensureUnixUser(name: string): UnixUser {
  const have = lookupUser(name);
  if (have) return have;
  if (!isRoot()) throw new Error(`test user ${name} does not exist and only root can create it (useradd ${name})`);
  execFileSync('useradd', ['--create-home', '--shell', '/bin/bash', name], { stdio: ['ignore', 'pipe', 'pipe'] });
  const made = lookupUser(name);
  if (!made) throw new Error(`useradd ${name} succeeded but id ${name} does not find it`);
  return made;
}
