// `npm run bench:agent`: the Kubernetes edge agent at scale. One KWOK cluster with 2,000 GPU nodes and
// 20,000 bound pods, a real hub (Postgres + Temporal) and the real `edge-agent` process. Measures:
//   - time from agent start to the first full inventory stored at the hub (and to the agent's own snapshot),
//   - delta latency: hand cordon in Kubernetes → node unschedulable in the hub's store,
//   - agent RSS (peak and steady) and CPU (initial sync, steady state with KWOK heartbeats).
// Env: BENCH_NODES (2000), BENCH_PODS (20000), BENCH_DELTAS (30), BENCH_STEADY_S (30).
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { cpus, totalmem } from 'node:os';
import * as k8s from '@kubernetes/client-node';
import pino from 'pino';
import { startHub } from '@meridian/hub/main';
import { createPool } from '@meridian/hub/store/db';
import { generateSecretsKey } from '@meridian/hub/store/sealed';
import { KubeAgentProcess } from '../src/e2e/kubernetes-agents.ts';
import { KubeCluster } from '../src/harness/kube/cluster.ts';
import { gpuNodeManifest, gpuPool } from '../src/harness/kube/nodes.ts';
import { PostgresEngine } from '../src/harness/postgres.ts';
import { RunDir } from '../src/harness/rundir.ts';
import { TemporalEngine } from '../src/harness/temporal.ts';

const NODES = Number(process.env.BENCH_NODES ?? 2000);
const PODS = Number(process.env.BENCH_PODS ?? 20_000);
const DELTAS = Number(process.env.BENCH_DELTAS ?? 30);
const STEADY_S = Number(process.env.BENCH_STEADY_S ?? 30);
const TOKEN = 'mrd_bench-admin-token-0123456789';
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (m: string): void => console.log(`[${new Date().toISOString().slice(11, 19)}] ${m}`);

/**
 * Bulk POSTs over a keep-alive HTTPS agent: the client library's per-request overhead (and a TLS handshake
 * per request) makes 20,000 creates on 2 cores take many minutes; this is what a bulk loader would do.
 */
async function bulkCreate(kc: k8s.KubeConfig, path: string, bodies: unknown[], concurrency: number): Promise<void> {
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const server = new URL(kc.getCurrentCluster()!.server);
  const agent = new https.Agent({ keepAlive: true, maxSockets: concurrency, ca: opts.ca, cert: opts.cert, key: opts.key });
  const headers = { ...(opts.headers as Record<string, string>), 'content-type': 'application/json', accept: 'application/json' };
  const post = (body: unknown): Promise<number> =>
    new Promise((resolve, reject) => {
      const data = JSON.stringify(body);
      const req = https.request({ host: server.hostname, port: server.port, path, method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(data) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(data);
    });
  let i = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (i < bodies.length) {
        const b = bodies[i++]!;
        for (let a = 0; ; a++) {
          const code = await post(b).catch(() => 0);
          if ((code >= 200 && code < 300) || code === 409) break;
          if (a > 8) throw new Error(`POST ${path} kept failing (HTTP ${code})`);
          await sleep(200 * (a + 1));
        }
      }
    }),
  );
  agent.destroy();
}

/** USER_HZ: 100 on Linux (getconf CLK_TCK). */
const CLK_TCK = 100;
function procStats(pid: number): { rssMiB: number; hwmMiB: number; cpuSec: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpu = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024, cpuSec: cpu };
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function main(): Promise<void> {
  const t0 = Date.now();
  log(`bench:agent — ${NODES} nodes, ${PODS} pods on ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`);
  const [pg, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
  const cluster = await KubeCluster.start({ name: 'bench' });
  const runDir = RunDir.create('bench-agent');
  let agent: KubeAgentProcess | undefined;
  let hub: Awaited<ReturnType<typeof startHub>> | undefined;
  const db = createPool(pg.url, undefined, 4);
  try {
    const kc = cluster.kubeConfig();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    log('creating nodes ...');
    const tn = Date.now();
    const specs = gpuPool('gpu', NODES, 8, 'NVIDIA-A100-SXM4-80GB');
    await bulkCreate(kc, '/api/v1/nodes', specs.map(gpuNodeManifest), 16);
    log(`  ${NODES} nodes created in ${((Date.now() - tn) / 1000).toFixed(1)} s`);
    await core.createNamespace({ body: { metadata: { name: 'bench' } } });
    await cluster.waitFor('default service account in bench', async () => core.readNamespacedServiceAccount({ name: 'default', namespace: 'bench' }), 60_000);
    log('creating pods (bound, nodeName set) ...');
    const tp = Date.now();
    const podIdx = Array.from({ length: PODS }, (_, i) => i);
    await bulkCreate(
      kc,
      '/api/v1/namespaces/bench/pods',
      podIdx.map((i) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `p-${i}`, labels: { app: 'bench' } },
        spec: {
          nodeName: `gpu-${i % NODES}`,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { 'nvidia.com/gpu': i % 10 < 6 ? '1' : '0' } } }],
        },
      })),
      16,
    );
    const createS = (Date.now() - tp) / 1000;
    log(`  ${PODS} pods created in ${createS.toFixed(1)} s (${(PODS / createS).toFixed(0)}/s)`);
    // KWOK marks pods Running at its own pace; the agent counts bound pods either way. Wait a bounded time so
    // the measurements below run on a settled cluster when possible, and say how settled it was.
    const settleBy = Date.now() + Number(process.env.BENCH_SETTLE_S ?? 90) * 1000;
    let notRunning = -1;
    while (Date.now() < settleBy) {
      const r = await core.listNamespacedPod({ namespace: 'bench', fieldSelector: 'status.phase!=Running', limit: 1 });
      notRunning = r.items.length === 0 ? 0 : 1 + (r.metadata?.remainingItemCount ?? 0);
      if (notRunning === 0) break;
      await sleep(2000);
    }
    log(`  ${PODS - notRunning} of ${PODS} pods Running ${((Date.now() - tp) / 1000).toFixed(1)} s after the first create`);

    hub = await startHub({ databaseUrl: pg.url, temporalAddress: temporal.address, port: 0, bootstrapToken: TOKEN, secretsKey: generateSecretsKey(), logLevel: 'warn' }, pino({ level: 'warn' }));
    const res = await fetch(`${hub.url}/api/v1/clusters`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'big', region: 'bench', kind: 'kubernetes', prices: { 'NVIDIA-A100-SXM4-80GB': { onDemand: 2 } } }),
    });
    const { credential } = (await res.json()) as { credential: string };
    agent = new KubeAgentProcess({ hubUrl: hub.url, clusterId: 'big', credential, kubeconfigPath: cluster.kubeconfigPath, runDir, args: ['--apiserver-lost-after', '0'], logLevel: 'warn' });

    log('starting the agent ...');
    const ta = Date.now();
    const starting = agent.start();
    // Poll the hub's store for the full inventory.
    let hubFull = 0;
    for (;;) {
      const r = await db.query<{ n: string }>('SELECT count(*)::text AS n FROM nodes WHERE cluster_id = $1', ['big']);
      if (Number(r.rows[0]!.n) >= NODES) {
        hubFull = Date.now() - ta;
        break;
      }
      if (Date.now() - ta > 300_000) throw new Error('no full inventory at the hub within 300 s');
      await sleep(50);
    }
    await starting;
    // The Daemon runs node directly, so the recorded pid is the agent's own process.
    const pid = Number(readFileSync(`${runDir.path}/pids/edge-agent-big`, 'utf8').trim().split(/\s+/)[0]);
    const afterSync = procStats(pid);
    const metrics = await (await fetch(`${agent.url}/metrics`)).text();
    const agentSnapshotS = Number(/meridian_agent_first_inventory_seconds ([0-9.e+-]+)/.exec(metrics)?.[1] ?? NaN);
    const gpusAtHub = await db.query<{ used: string; total: string }>(
      `SELECT sum((info->'requested'->>'gpus')::int)::text AS used, sum((info->'allocatable'->>'gpus')::int)::text AS total FROM nodes WHERE cluster_id = 'big'`,
    );
    log(`  first full inventory at the hub after ${(hubFull / 1000).toFixed(2)} s (agent snapshot built at ${agentSnapshotS.toFixed(2)} s); GPUs used/total at hub ${gpusAtHub.rows[0]!.used}/${gpusAtHub.rows[0]!.total}`);

    log('delta latency: hand cordon → hub store ...');
    const lat: number[] = [];
    for (let i = 0; i < DELTAS; i++) {
      const name = `gpu-${(i * 37) % NODES}`;
      const want = true;
      const s = Date.now();
      await core.patchNode({ name, body: { spec: { unschedulable: want } } }, mergePatch);
      for (;;) {
        const r = await db.query<{ u: boolean }>(`SELECT (info->>'unschedulable')::boolean AS u FROM nodes WHERE cluster_id = 'big' AND name = $1`, [name]);
        if (r.rows[0]?.u === want) break;
        if (Date.now() - s > 30_000) throw new Error(`delta for ${name} not at the hub in 30 s`);
        await sleep(5);
      }
      lat.push(Date.now() - s);
      await core.patchNode({ name, body: { spec: { unschedulable: null } } }, mergePatch);
      await sleep(100);
    }
    log(`  cordon → hub: p50 ${pct(lat, 50)} ms, p95 ${pct(lat, 95)} ms, max ${Math.max(...lat)} ms (n=${lat.length})`);

    log(`steady state for ${STEADY_S} s (KWOK heartbeats on ${NODES} nodes) ...`);
    const s0 = procStats(pid);
    let peakRss = s0.rssMiB;
    for (let i = 0; i < STEADY_S; i++) {
      await sleep(1000);
      peakRss = Math.max(peakRss, procStats(pid).rssMiB);
    }
    const s1 = procStats(pid);
    const steadyCpu = ((s1.cpuSec - s0.cpuSec) / STEADY_S) * 100;
    const deltaCount = Number(/meridian_agent_inventory_events\{type="delta"\} (\d+)/.exec(await (await fetch(`${agent.url}/metrics`)).text())?.[1] ?? NaN);

    const result = {
      nodes: NODES,
      pods: PODS,
      podCreatePerSec: Math.round(PODS / createS),
      podsNotYetRunningAtAgentStart: notRunning,
      firstInventoryAtHubS: hubFull / 1000,
      agentSnapshotBuiltS: agentSnapshotS,
      syncCpuSec: afterSync.cpuSec,
      rssAfterSyncMiB: Math.round(afterSync.rssMiB),
      peakRssMiB: Math.round(s1.hwmMiB),
      steadyRssMiB: Math.round(s1.rssMiB),
      steadyCpuPercent: Math.round(steadyCpu * 10) / 10,
      deltaLatencyMs: { p50: pct(lat, 50), p95: pct(lat, 95), max: Math.max(...lat), n: lat.length },
      deltasSent: deltaCount,
      totalBenchS: Math.round((Date.now() - t0) / 1000),
    };
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await agent?.stop().catch(() => undefined);
    await hub?.stop().catch(() => undefined);
    await db.end().catch(() => undefined);
    await cluster.stop().catch(() => undefined);
    await Promise.all([pg.stop().catch(() => undefined), temporal.stop().catch(() => undefined)]);
    runDir.remove();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
