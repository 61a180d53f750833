// Shared helpers for the hub's engine tests: a small API client and polling.
import { expect } from 'vitest';
import { generateSecretsKey } from '@meridian/hub/store/sealed';

export interface ApiAnswer<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

export class Api {
  constructor(
    readonly url: string,
    readonly token: string | null,
  ) {}

  as(token: string | null): Api {
    return new Api(this.url, token);
  }

  async req<T = Record<string, unknown>>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer<T>> {
    const h: Record<string, string> = { ...headers };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await fetch(this.url + path, { method, headers: h, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* text answer */
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  get<T = Record<string, unknown>>(path: string): Promise<ApiAnswer<T>> {
    return this.req<T>('GET', path);
  }

  post<T = Record<string, unknown>>(path: string, body?: unknown): Promise<ApiAnswer<T>> {
    return this.req<T>('POST', path, body ?? {});
  }

  /** Submits a job spec and returns its id; the test fails unless the hub answers 201. */
  async submitJob(spec: Record<string, unknown>): Promise<string> {
    const r = await this.post<{ id: string }>('/api/v1/jobs', spec);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.id;
  }

  /**
   * Waits until job `id` is in `state`. A job that ends in another state fails at once, with `context()` (e.g. an
   * agent's log tail) appended to the error.
   */
  untilJobState<J extends { state: string; reason: string | null }>(id: string, state: string, o: { ms?: number; everyMs?: number; context?: () => string } = {}): Promise<J> {
    return waitFor(`job ${id} ${state}`, async () => {
      const j = (await this.get<J>(`/api/v1/jobs/${id}`)).body;
      if (['Succeeded', 'Failed', 'Cancelled'].includes(j.state) && j.state !== state) throw new Error(`job ${id} ended ${j.state}: ${j.reason}${o.context ? `\n${o.context()}` : ''}`);
      return j.state === state ? j : null;
    }, o.ms ?? 90_000, o.everyMs ?? 200);
  }
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const ADMIN_TOKEN = 'mrd_test-admin-token-0123456789';

export function helloJob(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    project: 'ml',
    resources: { gpus: 1, cpu: 2, memory: '8Gi' },
    workload: { image: 'busybox', command: ['sh', '-c', 'echo hello'] },
    ...extra,
  };
}

/** The secrets key of this test process's hubs (every hub refuses to start without one). */
export const TEST_SECRETS_KEY = generateSecretsKey();

/** The scrape token of the test hubs' GET /metrics. */
export const TEST_METRICS_TOKEN = 'test-metrics-scrape-token-0123456789';

/** Settings that make a test hub react quickly. */
export const FAST = {
  metricsToken: TEST_METRICS_TOKEN,
  secretsKey: TEST_SECRETS_KEY,
  port: 0,
  logLevel: process.env.HUB_LOG_LEVEL ?? 'warn',
  bootstrapToken: ADMIN_TOKEN,
  schedulerIntervalMs: 500,
  workflowPollMs: 60_000,
  heartbeatIntervalMs: 1000,
  clusterLostTimeoutMs: 5000,
  cancelConfirmMs: 10_000,
  workflowMaxHistory: 60,
} as const;
