// Hub configuration from the environment (flags in main.ts override it).
import { readFileSync } from 'node:fs';
import type { AdmissionConfig } from './api/context.ts';
import { GENERATE_KEY_HINT, Keyring, SecretsKeyError } from './store/sealed.ts';
import type { SchedulerConfig } from './scheduler/index.ts';
import { remediationSettingsFromEnv } from './telemetry/remediation-policy.ts';
import type { RemediationSettings } from './telemetry/remediation-policy.ts';

export interface HubConfig {
  databaseUrl: string;
  /** Postgres connections per hub (API, gateway, local activities, scheduler). */
  databasePoolMax: number;
  temporalAddress: string;
  temporalNamespace: string;
  taskQueue: string;
  host: string;
  /** 0 = any free port. */
  port: number;
  logLevel: string;
  /** Creates user `bootstrapAdmin` (global admin) with this token when no user holds it yet. */
  bootstrapToken?: string;
  bootstrapAdmin: string;
  schedulerIntervalMs: number;
  clusterLostTimeoutMs: number;
  /** Withdraw a dispatched job its member has not started on every task after this long (MERIDIAN_DISPATCH_WAIT_TIMEOUT_MS; 0 = never). */
  dispatchWaitTimeoutMs: number;
  heartbeatIntervalMs: number;
  workflowPollMs: number;
  cancelConfirmMs: number;
  /** Job workflows continue-as-new past this many history events. */
  workflowMaxHistory: number;
  admission: AdmissionConfig;
  scheduler: SchedulerConfig;
  /** Turn parts off to run API-only or worker-only hubs. */
  runWorker: boolean;
  runScheduler: boolean;
  /** Where the telemetry receiver forwards samples (Prometheus remote-write URL); unset: hot state only. */
  prometheusRemoteWriteUrl?: string;
  /** GPU-fault self-healing: health change → gpu-remediation workflow, circuit breaker (docs/telemetry.md). */
  remediation: RemediationSettings;
  /** Bearer token Prometheus sends to GET /metrics (MERIDIAN_METRICS_TOKEN); unset: /metrics answers 401. */
  metricsToken?: string;
  /** Label job series with project names (MERIDIAN_METRICS_PROJECT_LABELS=true); off by default. */
  metricsProjectLabels: boolean;
  /** How often open event streams and agent sessions re-check their credential, besides the NOTIFY on revoke. */
  revocationRecheckMs: number;
  /**
   * The key that seals jobs' environments and secrets at rest: base64 of 32 random bytes (MERIDIAN_SECRETS_KEY, or
   * MERIDIAN_SECRETS_KEY_FILE naming a file that holds it). The hub does not start without one.
   */
  secretsKey?: string;
  /** Older keys, still opened while `meridian admin reseal` moves rows to the current one (MERIDIAN_SECRETS_OLD_KEYS, comma-separated). */
  secretsOldKeys: string[];
}

const num = (v: string | undefined, d: number): number => (v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : d);

/** MERIDIAN_DISPATCH_WAIT_TIMEOUT_MS: whole milliseconds ≥ 0 (0 never withdraws), two minutes when unset. */
export function dispatchWaitTimeoutMs(v: string | undefined): number {
  if (v === undefined || v.trim() === '') return 120_000;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new Error(`MERIDIAN_DISPATCH_WAIT_TIMEOUT_MS=${JSON.stringify(v)} is not a duration: give whole milliseconds, e.g. 120000 for two minutes (0 never withdraws a dispatched job)`);
  return n;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env, overrides: Partial<HubConfig> = {}): HubConfig {
  const tierBounds: Partial<Record<string, number>> = {};
  for (const t of ['realtime', 'batch', 'interruptible', 'filler']) {
    const v = env[`MERIDIAN_MAX_QUEUED_${t.toUpperCase()}`];
    if (v) tierBounds[t] = Number(v);
  }
  const base: HubConfig = {
    databaseUrl: env.DATABASE_URL ?? 'postgres://meridian@127.0.0.1:5432/meridian',
    databasePoolMax: num(env.DATABASE_POOL_MAX, 40),
    temporalAddress: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    temporalNamespace: env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: env.MERIDIAN_TASK_QUEUE ?? 'meridian-jobs',
    host: env.HOST ?? '127.0.0.1',
    port: num(env.PORT, 8080),
    logLevel: env.LOG_LEVEL ?? 'info',
    ...(env.MERIDIAN_BOOTSTRAP_TOKEN ? { bootstrapToken: env.MERIDIAN_BOOTSTRAP_TOKEN } : {}),
    bootstrapAdmin: env.MERIDIAN_BOOTSTRAP_ADMIN ?? 'admin',
    schedulerIntervalMs: num(env.MERIDIAN_SCHEDULER_INTERVAL_MS, 2000),
    clusterLostTimeoutMs: num(env.MERIDIAN_CLUSTER_LOST_TIMEOUT_MS, 60_000),
    dispatchWaitTimeoutMs: dispatchWaitTimeoutMs(env.MERIDIAN_DISPATCH_WAIT_TIMEOUT_MS),
    heartbeatIntervalMs: num(env.MERIDIAN_HEARTBEAT_INTERVAL_MS, 10_000),
    workflowPollMs: num(env.MERIDIAN_WORKFLOW_POLL_MS, 300_000),
    cancelConfirmMs: num(env.MERIDIAN_CANCEL_CONFIRM_MS, 120_000),
    workflowMaxHistory: num(env.MERIDIAN_WORKFLOW_MAX_HISTORY, 2000),
    admission: {
      maxQueuedPerTier: tierBounds,
      maxQueuedPerProject: num(env.MERIDIAN_MAX_QUEUED_PER_PROJECT, 100_000),
      retryAfterSec: num(env.MERIDIAN_RETRY_AFTER_SEC, 30),
      maxSpecBytes: num(env.MERIDIAN_MAX_SPEC_BYTES, 256 * 1024),
    },
    scheduler: { preemption: true, backfill: true },
    runWorker: env.MERIDIAN_RUN_WORKER !== 'false',
    runScheduler: env.MERIDIAN_RUN_SCHEDULER !== 'false',
    ...(env.PROMETHEUS_REMOTE_WRITE_URL ? { prometheusRemoteWriteUrl: env.PROMETHEUS_REMOTE_WRITE_URL } : {}),
    remediation: remediationSettingsFromEnv(env),
    ...(env.MERIDIAN_METRICS_TOKEN ? { metricsToken: env.MERIDIAN_METRICS_TOKEN } : {}),
    metricsProjectLabels: env.MERIDIAN_METRICS_PROJECT_LABELS === 'true',
    revocationRecheckMs: num(env.MERIDIAN_REVOCATION_RECHECK_MS, 2000),
    ...secretsKeyFromEnv(env),
    secretsOldKeys: (env.MERIDIAN_SECRETS_OLD_KEYS ?? '').split(',').map((k) => k.trim()).filter(Boolean),
  };
  return { ...base, ...overrides, admission: { ...base.admission, ...overrides.admission } };
}

function secretsKeyFromEnv(env: NodeJS.ProcessEnv): { secretsKey?: string } {
  if (env.MERIDIAN_SECRETS_KEY) return { secretsKey: env.MERIDIAN_SECRETS_KEY };
  if (!env.MERIDIAN_SECRETS_KEY_FILE) return {};
  try {
    return { secretsKey: readFileSync(env.MERIDIAN_SECRETS_KEY_FILE, 'utf8').trim() };
  } catch (err) {
    throw new SecretsKeyError(`MERIDIAN_SECRETS_KEY_FILE ${env.MERIDIAN_SECRETS_KEY_FILE} cannot be read: ${(err as Error).message}`);
  }
}

/** The keyring that seals jobs' environments; throws (the hub refuses to start) when no key is configured. */
export function secretsKeyring(c: Pick<HubConfig, 'secretsKey' | 'secretsOldKeys'>): Keyring {
  if (!c.secretsKey)
    throw new SecretsKeyError(
      `MERIDIAN_SECRETS_KEY is not set: the hub seals every job's environment and secrets with it and does not start without one; ${GENERATE_KEY_HINT}, keep it in your secret store and give the same key to every hub (or set MERIDIAN_SECRETS_KEY_FILE to a file holding it)`,
    );
  return new Keyring(c.secretsKey, c.secretsOldKeys);
}
