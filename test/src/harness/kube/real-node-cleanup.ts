// What a real node leaves outside its processes: containers (their shims are re-parented away from
// containerd), mounts under its run directory, its cgroups and its CNI bridge. Used when the node stops and by
// the run-directory reaper after a test process was killed, so a leftover never blocks the next run.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

/** The file in a real node's run directory that says what to clean up. */
export const REAL_NODE_RECORD = 'real-node.json';

export interface RealNodeRecord {
  socket: string;
  cgroupRoot: string;
  bridge: string;
  subnet: string;
  runDir: string;
}

/** cgroup hierarchies mounted under /sys/fs/cgroup (v1 controllers, named systemd, v2 "unified"): the kubelet wants its root in each. */
export function cgroupControllers(): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => (f[2] === 'cgroup' || f[2] === 'cgroup2') && f[1]?.startsWith('/sys/fs/cgroup/'))
    .map((f) => f[1]!.slice('/sys/fs/cgroup/'.length));
}

function cgroupDirs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) out.push(...cgroupDirs(join(dir, e.name)));
  out.push(dir); // children before parents: rmdir order
  return out;
}

function killCgroup(dir: string): void {
  for (const d of cgroupDirs(dir)) {
    let procs = '';
    try {
      procs = readFileSync(join(d, 'cgroup.procs'), 'utf8');
    } catch {
      continue;
    }
    for (const pid of procs.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}

/** Mount points at or under `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Shims started by this node's containerd: their command line names its socket. */
function shimPids(socket: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes('containerd-shim') && cmd.includes(socket)) pids.push(Number(p));
    } catch {
      /* exited */
    }
  }
  return pids;
}

/** Removes everything a real node left behind; safe to call twice and on a half-started node. */
export function cleanupRealNode(runDir: string): void {
  const file = join(runDir, REAL_NODE_RECORD);
  if (!existsSync(file)) return;
  const rec = JSON.parse(readFileSync(file, 'utf8')) as RealNodeRecord;
  const controllers = cgroupControllers();
  for (const pid of shimPids(rec.socket)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const c of controllers) killCgroup(join('/sys/fs/cgroup', c, rec.cgroupRoot));
  for (const m of mountsUnder(runDir)) spawnSync('umount', ['-l', m]);
  // A killed process leaves its cgroup a moment later; retry the removal briefly.
  for (let attempt = 0; attempt < 20; attempt++) {
    let left = 0;
    for (const c of controllers) {
      for (const d of cgroupDirs(join('/sys/fs/cgroup', c, rec.cgroupRoot))) {
        try {
          rmdirSync(d);
        } catch {
          left++;
        }
      }
    }
    if (left === 0) break;
    spawnSync('sleep', ['0.1']);
  }
  spawnSync('ip', ['link', 'delete', rec.bridge], { stdio: 'ignore' });
}
