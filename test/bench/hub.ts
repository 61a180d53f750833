// Hub benchmark on the real stack (Postgres + Temporal dev server from the harness, the hub in-process, a test
// agent speaking the real protocol): accepted submissions per second, submit latency p50/p99, and the latency
// from submit to the dispatch command reaching the agent.
//   npm run bench:hub [-- --submits 1000 --concurrency 16 --probes 100]
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import { PostgresEngine } from '../src/harness/postgres.ts';
import { TemporalEngine } from '../src/harness/temporal.ts';
import { startHub } from '@meridian/hub/main';
import { generateSecretsKey } from '@meridian/hub/store/sealed';
import { TestAgent } from '../src/doubles/test-agent.ts';

const arg = (name: string, d: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : d;
};
const SUBMITS = arg('submits', 1000);
const CONCURRENCY = arg('concurrency', 16);
const PROBES = arg('probes', 100);
const TOKEN = 'mrd_bench-admin-token-0123456789';

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};
const ms = (x: number): string => `${x.toFixed(1)} ms`;

async function main(): Promise<void> {
  const [pg, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
  const hub = await startHub({
    databaseUrl: pg.url,
    temporalAddress: temporal.address,
    port: 0,
    logLevel: 'error',
    bootstrapToken: TOKEN,
    secretsKey: generateSecretsKey(),
    schedulerIntervalMs: 1000,
    heartbeatIntervalMs: 5000,
    admission: { maxQueuedPerTier: {}, maxQueuedPerProject: 1_000_000, retryAfterSec: 5, maxSpecBytes: 256 * 1024 },
  });
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const post = async (path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
    const r = await fetch(hub.url + path, { method: 'POST', headers, body: JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  await post('/api/v1/projects', { name: 'bench' });
  const c = await post('/api/v1/clusters', { id: 'east', region: 'r1', kind: 'kubernetes', prices: { A100: { onDemand: 2 } } });
  const dispatchedAt = new Map<string, number>();
  const agent = new TestAgent({ hubUrl: hub.url, credential: String(c.body.credential), clusterId: 'east', nodes: 32, gpusPerNode: 8, runMs: 200,
    onDispatch: (cmd) => dispatchedAt.set(cmd.jobId, performance.now()) });
  const spec = (i: number, tag: string): unknown => ({ name: `${tag}-${i}`, project: 'bench', resources: { gpus: 1, cpu: 1, memory: '1Gi' }, workload: { image: 'busybox', command: ['true'] } });
  await agent.start();

  // Phase 1: submission throughput and latency (jobs are scheduled, dispatched and run meanwhile).
  const latencies: number[] = [];
  let accepted = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < SUBMITS; i = next++) {
        const s = performance.now();
        const r = await post('/api/v1/jobs', spec(i, 'load'));
        latencies.push(performance.now() - s);
        if (r.status === 201) accepted++;
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;

  // Let the backlog drain before probing dispatch latency on a quiet hub.
  const drainStart = performance.now();
  while (dispatchedAt.size < accepted && performance.now() - drainStart < 600_000) await new Promise((r) => setTimeout(r, 200));
  const drainSec = (performance.now() - t0) / 1000;

  // Phase 2: submit → dispatch command at the agent, one job at a time.
  const e2e: number[] = [];
  for (let i = 0; i < PROBES; i++) {
    const s = performance.now();
    const r = await post('/api/v1/jobs', spec(i, 'probe'));
    const id = String(r.body.id);
    while (!dispatchedAt.has(id) && performance.now() - s < 60_000) await new Promise((res) => setTimeout(res, 1));
    e2e.push((dispatchedAt.get(id) ?? performance.now()) - s);
    await new Promise((res) => setTimeout(res, 50));
  }
  const duplicates = agent.duplicates().length;

  const result = {
    machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    submits: SUBMITS,
    concurrency: CONCURRENCY,
    acceptedPerSec: Math.round((accepted / wall) * 10) / 10,
    submitP50Ms: pct(latencies, 50),
    submitP99Ms: pct(latencies, 99),
    allDispatchedAfterSec: Math.round(drainSec * 10) / 10,
    probes: PROBES,
    submitToDispatchP50Ms: pct(e2e, 50),
    submitToDispatchP99Ms: pct(e2e, 99),
    duplicateDispatches: duplicates,
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`
| measure | value |
| --- | --- |
| accepted submissions/s (${SUBMITS} submits, ${CONCURRENCY} concurrent clients) | ${result.acceptedPerSec} |
| submit latency p50 / p99 | ${ms(result.submitP50Ms)} / ${ms(result.submitP99Ms)} |
| all ${SUBMITS} jobs dispatched after | ${result.allDispatchedAfterSec} s |
| submit → dispatch command at the agent, p50 / p99 (${PROBES} single jobs on an idle hub) | ${ms(result.submitToDispatchP50Ms)} / ${ms(result.submitToDispatchP99Ms)} |
`);
  await agent.stop();
  await hub.stop();
  await Promise.all([pg.stop(), temporal.stop()]);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
