// What route modules need from the running hub.
import type pg from 'pg';
import type { Logger } from 'pino';
import type { AgentGateway } from '../gateway/gateway.ts';
import type { HubMetrics } from '../metrics.ts';
import type { Keyring } from '../store/sealed.ts';
import type { JobWorkflows } from '../temporal/client.ts';
import type { RemediationWorkflows } from '../temporal/remediation.ts';
import type { StreamRegistry } from './streams.ts';

export interface AdmissionConfig {
  /** Queued jobs allowed per tier before 429. */
  maxQueuedPerTier: Partial<Record<string, number>>;
  /** Queued jobs allowed per project before 429 (a project's own maxPending wins). */
  maxQueuedPerProject: number;
  retryAfterSec: number;
  /** Largest accepted job spec in bytes (413 past it). */
  maxSpecBytes: number;
}

export interface ApiContext {
  pool: pg.Pool;
  log: Logger;
  metrics: HubMetrics;
  workflows: () => JobWorkflows | null;
  /** GPU-fault remediation workflows (routes/remediation.ts); absent or null while Temporal is not connected. */
  remediation?: () => RemediationWorkflows | null;
  /** Starts a job's workflow after the submit committed (asynchronously; the reconciler is the safety net). */
  startWorkflow: (jobId: string) => void;
  gateway: AgentGateway;
  admission: AdmissionConfig;
  version: string;
  /** Wakes the scheduler (in-process shortcut; NOTIFY covers other hubs). */
  triggerSchedule: () => void;
  /** Seals and opens jobs' environments (MERIDIAN_SECRETS_KEY and older keys). */
  keyring: Keyring;
  /** Open event streams, closed when their token stops granting access (absent: not tracked). */
  streams?: StreamRegistry;
  /** The bearer token Prometheus sends to GET /metrics; unset: /metrics answers 401 to everyone. */
  metricsToken?: string;
}
