// The hub process: `startHub(config)` composes store, API, gateway, Temporal worker and scheduling loop;
// run directly (`tsx hub/src/main.ts`), it reads DATABASE_URL, TEMPORAL_ADDRESS, PORT, ... from the env.
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { Logger } from 'pino';
import { buildServer } from './api/server.ts';
import { StreamRegistry } from './api/streams.ts';
import { bootstrapAdmin } from './bootstrap.ts';
import { configFromEnv, secretsKeyring } from './config.ts';
import type { HubConfig } from './config.ts';
import { AgentGateway } from './gateway/gateway.ts';
import { HubMetrics } from './metrics.ts';
import { SchedulingLoop } from './scheduler-loop/loop.ts';
import { createPool } from './store/db.ts';
import type { Queryable } from './store/db.ts';
import { clusterForCredential } from './store/repos/clusters.ts';
import { missingKeys, sealLegacyEnv } from './store/repos/job-env.ts';
import { SecretsKeyError } from './store/sealed.ts';
import { ensureDefaultProject } from './store/repos/projects.ts';
import { migrate } from './store/migrate.ts';
import { JobWorkflows } from './temporal/client.ts';
import { WorkflowStarter } from './temporal/starter.ts';
import { startWorker } from './temporal/worker.ts';
import { RemediationWorkflows } from './temporal/remediation.ts';
import { bearerToken, TelemetryIngest, telemetryPlugin } from './telemetry/index.ts';
import { RemediationTrigger } from './telemetry/remediation-trigger.ts';
import type { Authenticate, HotState } from './telemetry/index.ts';
import type { WorkerHandle } from './temporal/worker.ts';

export const HUB_VERSION = '0.1.0';
export type { HubConfig } from './config.ts';
export { configFromEnv } from './config.ts';

export interface Hub {
  url: string;
  port: number;
  config: HubConfig;
  app: FastifyInstance;
  scheduler: SchedulingLoop | null;
  gateway: AgentGateway;
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function retry<T>(what: string, log: Logger, fn: () => Promise<T>, isStopped: () => boolean, timeoutMs = Infinity): Promise<T | null> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; !isStopped(); i++) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      if (i % 10 === 0) log.warn({ err: (err as Error).message }, `${what} failed; retrying`);
      await sleep(Math.min(2000, 100 * 2 ** i));
    }
  }
  return null;
}

/**
 * The telemetry receiver: agents write with their cluster credential (the gateway's check: SHA-256 in the
 * store); the hub, not the agent, sets the `cluster` and `region` labels; samples go on to Prometheus.
 */
function telemetryAuthenticate(pool: Queryable): Authenticate {
  return async (req) => {
    const token = bearerToken(req);
    if (token === null) return null;
    const cluster = await clusterForCredential(pool, token);
    return cluster ? { clusterId: cluster.id, region: cluster.region } : null;
  };
}

export async function startHub(partial: Partial<HubConfig> & Pick<HubConfig, 'databaseUrl' | 'temporalAddress'>, logger?: Logger): Promise<Hub> {
  const config = configFromEnv({}, partial);
  const log = logger ?? pino({ level: config.logLevel, base: { svc: 'hub' } });
  const keyring = secretsKeyring(config);
  let stopped = false;
  const pool = createPool(config.databaseUrl, log, config.databasePoolMax);
  await retry('postgres migrate', log, () => migrate(pool), () => stopped, 60_000);
  // Jobs stored before the environment was sealed (migration 007): sealed now, before anything serves them.
  const resealed = await sealLegacyEnv(pool, keyring);
  if (resealed) log.info({ jobs: resealed }, 'sealed the environments of jobs stored in plaintext');
  const missing = await missingKeys(pool, keyring);
  if (missing.length) {
    await pool.end();
    throw new SecretsKeyError(
      `job environments are sealed under ${missing.map((k) => `key ${k.keyId} (${k.rows} rows)`).join(', ')}, which this hub does not hold: add that key to MERIDIAN_SECRETS_OLD_KEYS (and run meridian admin reseal before removing it)`,
    );
  }
  if (config.bootstrapToken) await bootstrapAdmin(pool, config.bootstrapAdmin, config.bootstrapToken);
  else await ensureDefaultProject(pool);

  const metrics = new HubMetrics(pool, { defaultMetrics: true, projectLabels: config.metricsProjectLabels });
  const streams = new StreamRegistry(pool, log, { databaseUrl: config.databaseUrl, recheckMs: config.revocationRecheckMs });
  let workflows: JobWorkflows | null = null;
  let worker: WorkerHandle | null = null;
  let scheduler: SchedulingLoop | null = null;
  const gateway = new AgentGateway(
    pool,
    log,
    {
      databaseUrl: config.databaseUrl,
      keyring,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      idleTimeoutMs: Math.max(3 * config.heartbeatIntervalMs, 5000),
      revocationRecheckMs: config.revocationRecheckMs,
    },
    {
      afterCommit: (fx) => {
        if (fx.wake.length) void workflows?.wake(fx.wake);
        if (fx.inventoryChanged) scheduler?.trigger();
      },
      onState: (cluster, connected) => metrics.agentConnected.set({ cluster }, connected ? 1 : 0),
    },
  );
  const starter = new WorkflowStarter(pool, () => workflows, log);
  const ctx = {
    pool,
    log,
    metrics,
    workflows: () => workflows,
    remediation: () => remediation,
    startWorkflow: (id: string) => starter.enqueue(id),
    gateway,
    admission: config.admission,
    version: HUB_VERSION,
    triggerSchedule: () => scheduler?.trigger(),
    keyring,
    streams,
    ...(config.metricsToken ? { metricsToken: config.metricsToken } : {}),
  };
  // GPU health changes start the node's gpu-remediation workflow (docs/telemetry.md#self-healing)
  let remediation: RemediationWorkflows | null = null;
  const trigger = new RemediationTrigger({ pool, log, starter: () => remediation, settings: config.remediation, hot: (): HotState => ingest.hot });
  const ingest = new TelemetryIngest({
    prometheus: config.prometheusRemoteWriteUrl ? { url: config.prometheusRemoteWriteUrl } : null,
    hotState: { onHealthChange: trigger.onHealthChange },
  });
  ingest.start();
  const app = await buildServer(ctx, log, {
    plugins: async (a) => {
      // the query API (GPU health per node) is for hub administrators: series carry every project's jobs
      await a.register(telemetryPlugin, { ingest, authenticate: telemetryAuthenticate(pool), authorizeQuery: (req) => req.principal?.isAdmin === true });
      log.info({ prometheus: config.prometheusRemoteWriteUrl ?? null }, 'telemetry receiver registered');
    },
  });
  await app.listen({ host: config.host, port: config.port });
  const port = (app.server.address() as AddressInfo).port;
  await gateway.start(app.server);
  await streams.start();

  // Temporal may be down or restarting: connect in the background; submissions still commit and the
  // reconciler starts their workflows once it is back.
  const temporalReady = (async () => {
    workflows = await retry(
      'temporal connect',
      log,
      () => JobWorkflows.connect({ address: config.temporalAddress, namespace: config.temporalNamespace, taskQueue: config.taskQueue, pollMs: config.workflowPollMs, cancelConfirmMs: config.cancelConfirmMs, maxHistory: config.workflowMaxHistory }, log),
      () => stopped,
    );
    if (workflows) remediation = new RemediationWorkflows(workflows, config.taskQueue);
    const remediationDeps = { hot: ingest.hot, breaker: config.remediation.breaker };
    if (config.runWorker)
      worker = await retry('temporal worker', log, () => startWorker({ address: config.temporalAddress, namespace: config.temporalNamespace, taskQueue: config.taskQueue, pool, log, remediation: remediationDeps }), () => stopped);
  })();
  if (config.runScheduler) {
    scheduler = new SchedulingLoop(pool, () => workflows, log, {
      databaseUrl: config.databaseUrl,
      intervalMs: config.schedulerIntervalMs,
      clusterLostTimeoutMs: config.clusterLostTimeoutMs,
      dispatchWaitTimeoutMs: config.dispatchWaitTimeoutMs,
      scheduler: config.scheduler,
    }, metrics);
    await scheduler.start();
  }
  await temporalReady;
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  log.info({ url }, 'hub started');

  return {
    url,
    port,
    config,
    app,
    get scheduler() {
      return scheduler;
    },
    gateway,
    async stop() {
      stopped = true;
      await scheduler?.stop();
      await gateway.stop();
      await streams.stop();
      await app.close();
      await ingest.stop();
      await trigger.stop();
      await starter.drain();
      await worker?.stop();
      await workflows?.close();
      await pool.end();
    },
  };
}

// Run as a process: `tsx hub/src/main.ts [--port N]`.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const env = { ...process.env };
  if (flag('port')) env.PORT = flag('port');
  if (flag('database-url')) env.DATABASE_URL = flag('database-url');
  if (flag('temporal-address')) env.TEMPORAL_ADDRESS = flag('temporal-address');
  const cfg = configFromEnv(env);
  startHub(cfg).then(
    (hub) => {
      const shutdown = (): void => void hub.stop().then(() => process.exit(0));
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
      // A parent (tests, the sandbox) reads this line to learn the URL.
      process.stdout.write(`MERIDIAN_HUB_URL=${hub.url}\n`);
    },
    (err: unknown) => {
      console.error(`hub failed to start: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
