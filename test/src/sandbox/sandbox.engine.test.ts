// The README's first command, as a user runs it: start, use kubectl and sinfo, Ctrl-C, nothing left.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../harness/engines.ts';

function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export (\w+)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1');
  }
  return out;
}

function descendants(pid: number): number[] {
  const r = spawnSync('ps', ['-e', '-o', 'pid=,ppid=,pgid='], { encoding: 'utf8' });
  const rows = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number) as [number, number, number]);
  const found = new Set<number>([pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [p, pp] of rows) {
      if (found.has(pp) && !found.has(p)) {
        found.add(p);
        grew = true;
      }
    }
  }
  found.delete(pid);
  return [...found];
}

describe('sandbox (npm start)', () => {
  let child: ChildProcess | undefined;
  let output = '';
  afterAll(() => {
    if (child?.pid && child.exitCode === null) child.kill('SIGKILL');
  });

  it('comes up, serves kubectl and sinfo, and stops clean on Ctrl-C', async () => {
    // what `npm start` runs: the built sandbox (the engines' global setup built it)
    child = spawn(process.execPath, [join(repoRoot, 'test/dist/sandbox/main.js')], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sandbox not ready in 240 s; output:\n${output}`)), 240_000);
      const check = setInterval(() => {
        if (output.includes('sandbox ready') && output.includes('Ctrl-C stops everything')) {
          clearInterval(check);
          clearTimeout(timer);
          resolve();
        }
      }, 200);
      child!.once('exit', (code) => {
        clearInterval(check);
        clearTimeout(timer);
        reject(new Error(`sandbox exited with ${code} before ready; output:\n${output}`));
      });
    });

    const envPath = join(repoRoot, '.meridian/sandbox.env');
    const env = parseEnv(readFileSync(envPath, 'utf8'));
    for (const key of ['MERIDIAN_URL', 'MERIDIAN_TOKEN', 'MERIDIAN_BIN', 'TEMPORAL_ADDRESS', 'PROMETHEUS_URL', 'SLURM_CONF', 'KUBECONFIG_US_EAST', 'KUBECONFIG_EU_WEST']) {
      expect(env[key], key).toBeTruthy();
      expect(output).toContain(`${key}=`);
    }
    const kubectl = join(env.MERIDIAN_BIN!, 'kubectl');
    const east = spawnSync(kubectl, ['--kubeconfig', env.KUBECONFIG_US_EAST!, 'get', 'nodes', '-L', 'nvidia.com/gpu.product', '--no-headers'], { encoding: 'utf8' });
    expect(east.stderr).toBe('');
    // 4 simulated A100 nodes and the real one (docs/nodes.md)
    expect(east.stdout.trim().split('\n')).toHaveLength(5);
    expect(east.stdout).toMatch(/a100-0\s+Ready.*NVIDIA-A100-SXM4-80GB/);
    expect(east.stdout).toMatch(/us-east-real\s+Ready/);
    const west = spawnSync(kubectl, ['--kubeconfig', env.KUBECONFIG_EU_WEST!, 'get', 'nodes', '-L', 'nvidia.com/gpu.product', '--no-headers'], { encoding: 'utf8' });
    expect(west.stdout).toMatch(/h100-1\s+Ready.*NVIDIA-H100-80GB-HBM3/);
    const sinfo = spawnSync('sinfo', ['-N', '-h', '-o', '%N %t %G'], { encoding: 'utf8', env: { ...process.env, SLURM_CONF: env.SLURM_CONF } });
    expect(sinfo.stdout).toContain('gpu-0 idle gpu:a100:4');
    const health = await fetch(`${env.MERIDIAN_URL}/healthz`);
    expect(health.status).toBe(200);
    // MERIDIAN_BIN's login-node commands (the prebuilt bundle, no tsx) submit to the hub and read it back.
    const login = (cmd: string, args: string[]) =>
      spawnSync(join(env.MERIDIAN_BIN!, cmd), args, { encoding: 'utf8', cwd: repoRoot, env: { ...process.env, MERIDIAN_URL: env.MERIDIAN_URL, MERIDIAN_TOKEN: env.MERIDIAN_TOKEN } });
    expect(existsSync(join(env.MERIDIAN_BIN!, 'scontrol'))).toBe(true);
    for (const cmd of ['sbatch', 'squeue', 'scancel', 'sinfo', 'sacct']) expect(login(cmd, ['--version']).stdout, cmd).toBe('slurm-wlm 22.05.8\n');
    const sub = login('sbatch', ['--parsable', '-H', '-o', '/dev/null', '--wrap', 'true']);
    expect(sub.stderr).toBe('');
    expect(sub.stdout).toMatch(/^\d+\n$/);
    const jobId = sub.stdout.trim();
    expect(login('squeue', ['-h', '-j', jobId, '-o', '%i %t']).stdout).toBe(`${jobId} PD\n`);
    const cancel = login('scancel', [jobId]);
    expect([cancel.status, cancel.stderr]).toEqual([0, '']);
    // Every cluster's agent has reported its nodes: 4 + 1 real + 2 Kubernetes nodes and 2 Slurm nodes.
    const want: Record<string, number> = { 'us-east': 5, 'eu-west': 2, hpc: 2 };
    let counts: Record<string, number> = {};
    for (let i = 0; i < 120; i++) {
      const res = await fetch(`${env.MERIDIAN_URL}/api/v1/nodes`, { headers: { authorization: `Bearer ${env.MERIDIAN_TOKEN}` } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { items: { clusterId: string; name: string }[] };
      counts = {};
      for (const n of body.items) counts[n.clusterId] = (counts[n.clusterId] ?? 0) + 1;
      if (Object.entries(want).every(([c, k]) => counts[c] === k)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(counts).toEqual(want);
    // A CPU job in us-east runs on its real node: its output comes back through the hub and the agent.
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${env.MERIDIAN_URL}${path}`, { ...init, headers: { authorization: `Bearer ${env.MERIDIAN_TOKEN}`, 'content-type': 'application/json' } });
    const submitted = await api('/api/v1/jobs', {
      method: 'POST',
      body: JSON.stringify({ name: 'hello-real', project: 'default', tasks: 1, resources: { cpu: '500m', memory: '128Mi', gpus: 0 }, placement: { clusters: ['us-east'] },
        workload: { image: 'meridian.local/job-runner:0.1.0', command: ['bash', '-c', 'echo hello from $(hostname)'] } }),
    });
    expect(submitted.status, await submitted.clone().text()).toBe(201);
    const realJob = ((await submitted.json()) as { id: string }).id;
    let state = '';
    for (let i = 0; i < 240 && !['Succeeded', 'Failed', 'Cancelled'].includes(state); i++) {
      state = ((await (await api(`/api/v1/jobs/${realJob}`)).json()) as { state: string }).state;
      if (state !== 'Succeeded') await new Promise((r) => setTimeout(r, 250));
    }
    expect(state).toBe('Succeeded');
    const log = await api(`/api/v1/jobs/${realJob}/logs`);
    expect(await log.text()).toMatch(/^hello from \S+\n$/);
    // GPU telemetry from every region: one collector per GPU node over the fake NVML → hub receiver →
    // Prometheus, labelled with cluster, region and node, and simulated.
    const wantGpus: Record<string, number> = { 'us-east': 32, 'eu-west': 16, hpc: 8 };
    let gpus: Record<string, number> = {};
    for (let i = 0; i < 120; i++) {
      const q = encodeURIComponent('count by (cluster, region) (DCGM_FI_DEV_GPU_UTIL{simulated="true"})');
      const res = await fetch(`${env.PROMETHEUS_URL}/api/v1/query?query=${q}`);
      const rows = ((await res.json()) as { data?: { result?: { metric: Record<string, string>; value: [number, string] }[] } }).data?.result ?? [];
      gpus = Object.fromEntries(rows.map((r) => [r.metric.cluster!, Number(r.value[1])]));
      if (Object.entries(wantGpus).every(([c, k]) => gpus[c] === k)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(gpus).toEqual(wantGpus);
    const h100 = encodeURIComponent('DCGM_FI_DEV_GPU_UTIL{cluster="eu-west",Hostname="h100-1",gpu="7"}');
    const one = ((await (await fetch(`${env.PROMETHEUS_URL}/api/v1/query?query=${h100}`)).json()) as { data: { result: { metric: Record<string, string> }[] } }).data.result;
    expect(one[0]?.metric).toMatchObject({ cluster: 'eu-west', region: 'eu-west', Hostname: 'h100-1', modelName: 'NVIDIA H100 80GB HBM3', simulated: 'true' });

    const spawned = descendants(child.pid!);
    expect(spawned.length).toBeGreaterThan(8);
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('sandbox stopped');
    // A process counts as left behind if it still runs (not a zombie awaiting reaping) 5 s after exit.
    const running = (pid: number): boolean => {
      try {
        return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    let alive = spawned.filter(running);
    for (let i = 0; i < 25 && alive.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
      alive = alive.filter(running);
    }
    const describe = (pid: number): string => {
      try {
        return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')}`;
      } catch {
        return String(pid);
      }
    };
    expect(alive.map(describe), 'processes left behind').toEqual([]);
    expect(existsSync(envPath)).toBe(false);
  }, 360_000);
});
