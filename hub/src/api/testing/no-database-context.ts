// An ApiContext for unit tests of the HTTP layer: routes that refuse before the store answer as in production;
// anything that reaches the database fails loudly.
import type pg from 'pg';
import pino from 'pino';
import type { AgentGateway } from '../../gateway/gateway.ts';
import { HubMetrics } from '../../metrics.ts';
import { generateSecretsKey, Keyring } from '../../store/sealed.ts';
import type { ApiContext } from '../context.ts';

export function noDatabaseContext(): ApiContext {
  const noDb = { query: () => Promise.reject(new Error('no database in unit tests')) } as unknown as pg.Pool;
  return {
    pool: noDb,
    log: pino({ level: 'silent' }),
    metrics: new HubMetrics(noDb),
    workflows: () => null,
    startWorkflow: () => undefined,
    gateway: { connected: () => false } as unknown as AgentGateway,
    admission: { maxQueuedPerTier: {}, maxQueuedPerProject: 10, retryAfterSec: 5, maxSpecBytes: 1024 },
    version: 'test',
    triggerSchedule: () => undefined,
    keyring: new Keyring(generateSecretsKey()),
  };
}
