// Where the engines live: Debian packages at their fixed paths, Go-built engines in the version-keyed
// cache that scripts/setup.mjs fills. One source of truth for versions: scripts/engines.json.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(fileURLToPath(new URL('../../../', import.meta.url)));

interface EnginesFile {
  go: Record<string, { version: string; bins: string[] }>;
  apt: Record<string, string>;
  python: Record<string, { version: string; bin: string }>;
}

const engines = JSON.parse(readFileSync(join(repoRoot, 'scripts/engines.json'), 'utf8')) as EnginesFile;

export const cacheDir = process.env.MERIDIAN_CACHE ?? join(homedir(), '.cache', 'meridian');

/** Path of a Go-built engine binary, e.g. goBinary('kube', 'kube-apiserver'). */
export function goBinary(engine: string, bin: string): string {
  const spec = engines.go[engine];
  if (!spec) throw new Error(`unknown engine ${engine} (known: ${Object.keys(engines.go).join(', ')})`);
  return join(cacheDir, 'engines', `${engine}-${spec.version}`, bin);
}

/** The schemathesis command in the virtual environment scripts/setup.mjs made for the pinned version. */
export function schemathesisBin(): string {
  const spec = engines.python.schemathesis!;
  return join(cacheDir, `schemathesis-${spec.version}`, 'bin', spec.bin);
}

export function engineVersion(engine: string): string {
  const spec = engines.go[engine];
  if (!spec) throw new Error(`unknown engine ${engine}`);
  return spec.version;
}

export const debian = {
  postgresBin: '/usr/lib/postgresql/15/bin',
  prometheus: '/usr/bin/prometheus',
  sshd: '/usr/sbin/sshd',
  sshKeygen: '/usr/bin/ssh-keygen',
  munged: '/usr/sbin/munged',
  mungeKey: '/usr/sbin/mungekey',
  slurmctld: '/usr/sbin/slurmctld',
  slurmd: '/usr/sbin/slurmd',
  slurmrestd: '/usr/sbin/slurmrestd',
  slurmdbd: '/usr/sbin/slurmdbd',
  sacctmgr: '/usr/bin/sacctmgr',
  mariadbd: '/usr/sbin/mariadbd',
  mariadbInstallDb: '/usr/bin/mariadb-install-db',
  chromium: '/usr/bin/chromium',
} as const;
