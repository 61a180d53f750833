// Every engine runs in its own temp directory. The directory records its owner (the test process)
// and the pids it spawned, so a run killed with SIGKILL is cleaned up by the next start.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signalGroup } from './signals.ts';
import { cleanupRealNode } from './kube/real-node-cleanup.ts';

export const harnessRoot = join(process.env.MERIDIAN_HARNESS_TMP ?? tmpdir(), 'meridian-harness');

export class RunDir {
  private constructor(readonly path: string) {}

  static create(engine: string): RunDir {
    mkdirSync(harnessRoot, { recursive: true });
    reapLeftovers();
    const path = mkdtempSync(join(harnessRoot, `${engine}-`));
    mkdirSync(join(path, 'pids'));
    writeFileSync(join(path, 'owner'), String(process.pid));
    return new RunDir(path);
  }

  sub(name: string): string {
    const p = join(this.path, name);
    mkdirSync(p, { recursive: true });
    return p;
  }

  /** Hands the directory tree to an unprivileged user (engines that refuse to run as root). */
  chownTo(uid: number, gid: number, sub = ''): void {
    const walk = (p: string): void => {
      chownSync(p, uid, gid);
      for (const entry of readdirSync(p, { withFileTypes: true })) {
        const child = join(p, entry.name);
        if (entry.isDirectory()) walk(child);
        else chownSync(child, uid, gid);
      }
    };
    walk(join(this.path, sub));
  }

  recordPid(name: string, pid: number, command: string): void {
    writeFileSync(join(this.path, 'pids', name), `${pid}\n${command}\n`);
  }

  forgetPid(name: string): void {
    rmSync(join(this.path, 'pids', name), { force: true });
  }

  remove(): void {
    if (process.env.MERIDIAN_KEEP_HARNESS === '1') return;
    rmSync(this.path, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The recorded pid still belongs to the recorded executable (pids get reused). */
function sameProcess(pid: number, command: string): boolean {
  try {
    const exe = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
    return exe === command || exe.endsWith(`/${command.split('/').pop()}`);
  } catch {
    return false;
  }
}

/** Kills engines whose owning test process is gone, and removes their directories. */
export function reapLeftovers(): number {
  if (!existsSync(harnessRoot)) return 0;
  let reaped = 0;
  for (const entry of readdirSync(harnessRoot)) {
    const dir = join(harnessRoot, entry);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, 'owner'), 'utf8'));
    } catch {
      continue; // being created right now, or not ours
    }
    if (owner === process.pid || alive(owner)) continue;
    const pidDir = join(dir, 'pids');
    if (existsSync(pidDir)) {
      for (const name of readdirSync(pidDir)) {
        const [pidText, command = ''] = readFileSync(join(pidDir, name), 'utf8').split('\n');
        const pid = Number(pidText);
        if (pid > 0 && alive(pid) && sameProcess(pid, command)) {
          signalGroup(pid, 'SIGKILL');
          reaped++;
        }
      }
    }
    cleanupRealNode(dir); // a real node's containers, mounts and cgroups, if this was one
    rmSync(dir, { recursive: true, force: true });
  }
  return reaped;
}
