// Job secrets on Slurm: one file per attempt, `<workDir>/.meridian-secrets/<job>.<attempt>/secrets.env`, in
// directories of mode 0700 and a file of mode 0600 owned by the account that submits the jobs (which is the
// job's user; a job run as its submitter gets its directory and file handed over, inside a parent of mode 0711),
// so only the job reads it. The job gets its path in MERIDIAN_SECRETS_FILE (never the values
// in its environment, which Slurm keeps in its state); the file is removed when the attempt ends, is
// cancelled or fails to submit. Values are never logged nor sent to the hub.
import { createHash } from 'node:crypto';
import type { PrivateFiles } from '@meridian/slurm-bridge/types';

export const SECRETS_DIR = '.meridian-secrets';
export const SECRETS_FILE_VAR = 'MERIDIAN_SECRETS_FILE';
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** `export NAME='value'` lines, so `. "$MERIDIAN_SECRETS_FILE"` sets them; a bad name is an error naming it. */
export function secretsFileBody(secrets: Record<string, string>): string {
  return Object.entries(secrets)
    .map(([k, v]) => {
      if (!NAME.test(k)) throw new Error(`secrets: ${JSON.stringify(k)} is not a variable name (letters, digits, _; not starting with a digit)`);
      if (v.includes('\0')) throw new Error(`secrets: ${k} contains a NUL byte`);
      return `export ${k}=${shq(v)}\n`;
    })
    .join('');
}

/** The directory name of one attempt: `<jobId>.<attempt>`, the job id hashed when it is not file-name safe. */
export function attemptKey(jobId: string, attempt: number): string {
  const id = /^[A-Za-z0-9_-]{1,100}$/.test(jobId) ? jobId : `h${createHash('sha256').update(jobId).digest('hex').slice(0, 32)}`;
  return `${id}.${attempt}`;
}

/** How long a freshly written file is kept even when the poll does not see its Slurm job yet. */
const GRACE_MS = 120_000;

export class SlurmSecrets {
  private readonly root: string;
  /** Attempt directories that exist → when they were written (0: found on disk at start). */
  private readonly known = new Map<string, number>();
  private loaded = false;

  constructor(private readonly o: { files: () => PrivateFiles | undefined; workDir: string; log?: { warn: (o: object, m?: string) => void } }) {
    this.root = `${o.workDir.replace(/\/+$/, '')}/${SECRETS_DIR}`;
  }

  private files(): PrivateFiles {
    const f = this.o.files();
    if (!f) throw new Error('this job has secrets but the Slurm transport cannot write files on the cluster (slurmrestd without a CLI fallback); give it --slurm-conf for a local CLI fallback or use the ssh transport');
    return f;
  }

  /**
   * Writes the attempt's secrets; returns the file's path for MERIDIAN_SECRETS_FILE. `owner`: the account the job
   * runs as when that is not the agent's (its directory and file are handed to it, still 0700/0600).
   */
  async write(jobId: string, attempt: number, secrets: Record<string, string>, owner?: { uid: number; gid: number }): Promise<string> {
    const body = secretsFileBody(secrets);
    const key = attemptKey(jobId, attempt);
    const dir = `${this.root}/${key}`;
    const files = this.files();
    await files.makePrivateDir(dir, owner ? { parentTraversable: true } : {});
    this.known.set(key, Date.now());
    await files.writePrivateFile(`${dir}/secrets.env`, body);
    if (owner) {
      if (!files.chown) throw new Error('this job runs as its submitter but the transport cannot hand its secrets file over');
      await files.chown(dir, owner.uid, owner.gid);
      await files.chown(`${dir}/secrets.env`, owner.uid, owner.gid);
    }
    return `${dir}/secrets.env`;
  }

  async remove(key: string): Promise<void> {
    const files = this.o.files();
    if (!files) return;
    try {
      await files.removeDir(`${this.root}/${key}`);
      this.known.delete(key);
    } catch (err) {
      this.o.log?.warn({ attempt: key, err: err instanceof Error ? err.message : String(err) }, 'removing a job secrets file failed; retrying on the next poll');
    }
  }

  /** Removes every attempt of `jobId` (all attempts when `attempt` is undefined). */
  async removeJob(jobId: string, attempt?: number): Promise<void> {
    await this.load();
    const prefix = attemptKey(jobId, 0).replace(/0$/, '');
    for (const key of [...this.known.keys()]) if (attempt === undefined ? key.startsWith(prefix) && /^\d+$/.test(key.slice(prefix.length)) : key === attemptKey(jobId, attempt)) await this.remove(key);
  }

  /** After a poll: removes the files of attempts that ended (`terminal`) or that Slurm no longer knows (`live` lacks them). */
  async sweep(live: Set<string>, terminal: Set<string>): Promise<void> {
    await this.load();
    const now = Date.now();
    for (const [key, at] of this.known) {
      if (terminal.has(key) || (!live.has(key) && now - at > GRACE_MS)) await this.remove(key);
    }
  }

  /** The attempt directories left by an earlier run of the agent. */
  private async load(): Promise<void> {
    if (this.loaded) return;
    const files = this.o.files();
    if (!files) return;
    for (const name of await files.listDir(this.root)) if (!this.known.has(name)) this.known.set(name, 0);
    this.loaded = true;
  }
}
