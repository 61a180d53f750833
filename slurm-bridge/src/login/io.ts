// What every login-node command shares: its I/O (so tests run the commands in-process), the version it
// reports, the user it runs as, and how it reads the hub's job list.
import { userInfo } from 'node:os';
import { HubError, hubClientFromEnv } from './hub-client.ts';
import type { HubJobView } from './rows.ts';

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

export const VERSION = 'slurm-wlm 22.05.8\n';

export function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** The name the federation answers to as a Slurm cluster (`-M`, sacctmgr's cluster column, scontrol show config). */
export function federationName(env: Record<string, string | undefined>): string {
  return env.MERIDIAN_CLUSTER_NAME || 'meridian';
}

export async function listVisible(io: Io, cmd: string): Promise<HubJobView[] | number> {
  try {
    return await hubClientFromEnv(io.env, cmd).list();
  } catch (err) {
    if (err instanceof HubError) return io.err(hubErrorText(err, cmd)), 1;
    throw err;
  }
}

export function hubErrorText(err: HubError, cmd: string): string {
  return err.status === 0 && err.message.startsWith(cmd) ? `${err.message}\n` : `${cmd}: error: ${err.message}\n`;
}
