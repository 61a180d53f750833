// Benchmark: submit latency (p50/p99) and submissions per second of Meridian's sbatch versus native sbatch
// against the same slurmctld, measured in one run. Everything real: Postgres, Temporal, the hub, the Slurm
// agent (driver + hub-link) and the harness Slurm. Jobs are submitted held (-H) so the cluster stays idle.
// meridianCli is bin/sbatch as a user runs it (node + the prebuilt dist/commands.mjs).
// Usage: npm run bench:slurm [-- --n 40] [-- --no-tsx]
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { startHub } from '@meridian/hub/main';
import { ADMIN_TOKEN, Api, FAST } from '../src/hub/helpers.ts';
import { PostgresEngine } from '../src/harness/postgres.ts';
import { SlurmCluster } from '../src/harness/slurm.ts';
import { TemporalEngine } from '../src/harness/temporal.ts';
import { SlurmAgent } from '@meridian/edge-agent/slurm/agent';
import { SlurmDriver } from '@meridian/edge-agent/slurm/driver';
import { sbatchMain } from '@meridian/slurm-bridge/login/commands';
import { LocalTransport } from '@meridian/slurm-bridge/transports/local';
import { run } from '@meridian/slurm-bridge/login/spawn';
import { ensureCommandsBundle } from '@meridian/slurm-bridge/build-commands';
import { packagePath } from '../src/packages.ts';

const args = process.argv.slice(2);
const nArg = args.indexOf('--n');
const N = nArg >= 0 ? Number(args[nArg + 1]) : 40;
const bin = packagePath('slurm-bridge', 'bin');

function stats(ms: number[], wallMs: number) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
  return { p50: q(0.5), p99: q(0.99), perSec: (ms.length / wallMs) * 1000 };
}

/**
 * CPU (user + system) of this process's finished children, from /proc/self/stat (cutime + cstime): what the
 * spawned commands cost regardless of how busy the machine is, which wall-clock latency is not.
 */
function childCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100; // fields 16 and 17, in USER_HZ (100 on Linux)
}

// bin/sbatch runs the prebuilt bundle: make sure it is the current code before timing it.
await ensureCommandsBundle();
const [pg, temporal, slurm] = await Promise.all([PostgresEngine.start(), TemporalEngine.start(), SlurmCluster.start({ clusterName: 'bench', restd: false })]);
const hub = await startHub({ databaseUrl: pg.url, temporalAddress: temporal.address, ...FAST });
let agent: SlurmAgent | undefined;
try {
  const admin = new Api(hub.url, ADMIN_TOKEN);
  await admin.post('/api/v1/projects', { name: 'default' });
  const c = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'bench', region: 'onprem', kind: 'slurm', prices: {} });
  const dir = join(slurm.dir, 'bench');
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777);
  const driver = new SlurmDriver({ transport: new LocalTransport({ env: { SLURM_CONF: slurm.confPath } }), clusterName: 'bench', workDir: dir, pollIntervalMs: 1000 });
  agent = new SlurmAgent({ hubUrl: hub.url, credential: c.body.credential, clusterId: 'bench', driver });
  agent.start();
  const jobArgs = ['-H', '-o', '/dev/null', '--wrap', 'true'];
  const env = { ...process.env, SLURM_CONF: slurm.confPath, MERIDIAN_URL: hub.url, MERIDIAN_TOKEN: ADMIN_TOKEN, MERIDIAN_PROJECT: 'default' };

  // nodeStart: `node -e 0`, the floor for any command written for Node on this machine.
  // meridianCliTsx: the same command through tsx, as the shims ran before the bundle (--no-tsx skips it).
  const runs: Record<string, number[]> = { native: [], meridianCli: [], meridianInProcess: [], nodeStart: [], ...(args.includes('--no-tsx') ? {} : { meridianCliTsx: [] }) };
  const wall: Record<string, number> = {};
  const cpu: Record<string, number> = {};
  const time = async (name: string, one: () => Promise<void> | void) => {
    await one(); // warm-up, not counted
    const t0 = performance.now();
    const c0 = childCpuMs();
    for (let i = 0; i < N; i++) {
      const s = performance.now();
      await one();
      runs[name]!.push(performance.now() - s);
    }
    wall[name] = performance.now() - t0;
    cpu[name] = (childCpuMs() - c0) / N;
  };
  const check = (what: string, r: { code: number; stdout: string; stderr: string }) => {
    if (r.code !== 0 || !/^Submitted batch job \d+\n$/.test(r.stdout)) throw new Error(`${what} failed: ${r.code} ${r.stdout} ${r.stderr}`);
  };
  await time('native', async () => check('native sbatch', await run('sbatch', jobArgs, { cwd: dir, env })));
  await time('meridianCli', async () => check('meridian sbatch', await run(join(bin, 'sbatch'), jobArgs, { cwd: dir, env })));
  await time('meridianInProcess', async () => {
    let out = '';
    const code = await sbatchMain({ argv: jobArgs, env, cwd: dir, readStdin: async () => '', out: (s) => (out += s), err: (s) => (out += s) });
    if (code !== 0) throw new Error(`sbatchMain: ${out}`);
  });

  await time('nodeStart', async () => {
    const r = await run(process.execPath, ['-e', '0'], { env });
    if (r.code !== 0) throw new Error(`node -e 0: ${r.stderr}`);
  });

  if (runs.meridianCliTsx) {
    const viaTsx = fileURLToPath(new URL('./sbatch-tsx.ts', import.meta.url));
    const tsx = import.meta.resolve('tsx'); // absolute: the commands run in a scratch directory
    await time('meridianCliTsx', async () => check('sbatch through tsx', await run(process.execPath, ['--conditions=development', '--import', tsx, viaTsx, ...jobArgs], { cwd: dir, env })));
  }

  const rows = Object.entries(runs).map(([k, ms]) => ({ k, ...stats(ms, wall[k]!), cpuMs: k === 'meridianInProcess' ? null : cpu[k]! }));
  const nat = rows[0]!;
  const machine = `${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`;
  console.log(`\nSubmit latency, ${N} sequential held submissions each, same slurmctld (${new Date().toISOString()}; ${machine})\n`);
  console.log('| path | p50 ms | p99 ms | submissions/s | p50 vs native | CPU ms per command (process) |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.k} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.perSec.toFixed(1)} | ${(r.p50 / nat.p50).toFixed(2)}x | ${r.cpuMs === null ? '-' : r.cpuMs.toFixed(0)} |`);
  console.log(JSON.stringify({ machine, ...Object.fromEntries(rows.map((r) => [r.k, { p50Ms: +r.p50.toFixed(1), p99Ms: +r.p99.toFixed(1), perSec: +r.perSec.toFixed(2), ...(r.cpuMs === null ? {} : { cpuMs: +r.cpuMs.toFixed(1) }) }])) }));
} finally {
  slurm.run('scancel', ['-u', 'root']);
  await agent?.stop();
  await hub.stop();
  await Promise.all([slurm.stop(), pg.stop(), temporal.stop()]);
}
