// Where a submit's hub round trip goes: POST /api/v1/jobs against an in-process hub (real Postgres and
// Temporal), with every Postgres query timed, next to GET /healthz (HTTP floor) and GET /api/v1/jobs/{id}.
// Usage: npx tsx test/bench/slurm-hub-path.ts [--n 200]
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { startHub } from '@meridian/hub/main';
import { JobSpecSchema } from '@meridian/protocol/job-spec';
import { ADMIN_TOKEN, FAST } from '../src/hub/helpers.ts';
import { PostgresEngine } from '../src/harness/postgres.ts';
import { TemporalEngine } from '../src/harness/temporal.ts';
import { jobSpecFor } from '@meridian/slurm-bridge/login/jobspec';
import { resolveOptions } from '@meridian/slurm-bridge/login/sbatch-options';
import { wrapScript } from '@meridian/slurm-bridge/login/sbatch-options';

const args = process.argv.slice(2);
const N = args.includes('--n') ? Number(args[args.indexOf('--n') + 1]) : 200;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(p * xs.length) - 1)]!;

// Time every query the hub issues (pool.query goes through Client.prototype.query too).
let queryMs = 0;
let queries = 0;
const byText = new Map<string, number[]>();
const orig = pg.Client.prototype.query as (...a: unknown[]) => unknown;
(pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown }).query = function (this: unknown, ...a: unknown[]) {
  const t0 = performance.now();
  const text = (typeof a[0] === 'string' ? a[0] : ((a[0] as { text?: string })?.text ?? '?')).replace(/\s+/g, ' ').slice(0, 60);
  const done = () => {
    const d = performance.now() - t0;
    queryMs += d;
    queries++;
    byText.set(text, [...(byText.get(text) ?? []), d]);
  };
  // pool.query passes a callback; client.query without one returns a promise.
  const cb = a[a.length - 1];
  if (typeof cb === 'function') {
    a[a.length - 1] = (...res: unknown[]) => (done(), (cb as (...x: unknown[]) => unknown)(...res));
    return orig.apply(this, a);
  }
  const r = orig.apply(this, a);
  if (r && typeof (r as Promise<unknown>).then === 'function') void (r as Promise<unknown>).then(done, () => undefined);
  return r;
};

const [pgEngine, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
const hub = await startHub({ databaseUrl: pgEngine.url, temporalAddress: temporal.address, ...FAST });
try {
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const script = wrapScript('true');
  const o = resolveOptions(['-H', '-o', '/dev/null', '--wrap', 'true'], script, {});
  const spec = jobSpecFor(o, script, { cwd: '/tmp', env: {}, user: 'bench', host: 'login', scriptPath: undefined, project: 'default' });
  const body = JSON.stringify(spec);
  const post = async () => {
    const r = await fetch(`${hub.url}/api/v1/jobs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body });
    if (r.status !== 201) throw new Error(`submit: ${r.status} ${await r.text()}`);
    return ((await r.json()) as { id: string }).id;
  };
  const id = await post();
  const phases: Record<string, () => Promise<unknown>> = {
    'GET /healthz': async () => (await fetch(`${hub.url}/healthz`)).text(),
    'GET /api/v1/jobs/{id}': async () => (await fetch(`${hub.url}/api/v1/jobs/${id}`, { headers: auth })).text(),
    'POST /api/v1/jobs': post,
  };
  console.log(`\n${N} sequential requests each (${new Date().toISOString()})\n`);
  console.log('| request | p50 ms | p99 ms | queries/request | query time p50/request ms |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const [name, fn] of Object.entries(phases)) {
    for (let i = 0; i < 5; i++) await fn();
    await new Promise((r) => setTimeout(r, 200));
    const lat: number[] = [];
    const qms: number[] = [];
    byText.clear();
    const q0 = queries;
    for (let i = 0; i < N; i++) {
      queryMs = 0;
      const t0 = performance.now();
      await fn();
      lat.push(performance.now() - t0);
      qms.push(queryMs);
    }
    console.log(`| ${name} | ${pct(lat, 0.5).toFixed(1)} | ${pct(lat, 0.99).toFixed(1)} | ${((queries - q0) / N).toFixed(1)} | ${pct(qms, 0.5).toFixed(1)} |`);
    if (name.startsWith('POST')) {
      console.log('\nqueries during the POSTs (p50 ms, count): includes the scheduler and workflow starter running beside them');
      for (const [t, ds] of [...byText].sort((a, b) => b[1].length - a[1].length)) console.log(`  ${pct(ds, 0.5).toFixed(2).padStart(6)}  ×${String(ds.length).padStart(4)}  ${t}`);
    }
  }
  const t0 = performance.now();
  for (let i = 0; i < 2000; i++) JobSpecSchema.parse(spec);
  console.log(`\nJobSpecSchema.parse: ${((performance.now() - t0) / 2000).toFixed(3)} ms per spec`);
} finally {
  await hub.stop();
  await Promise.all([pgEngine.stop(), temporal.stop()]);
}
