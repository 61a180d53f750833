// The login node's client for the hub REST API (MERIDIAN_URL, MERIDIAN_TOKEN).
import type { JobSpecInput } from '@meridian/protocol/job-spec';
import type { HubJobView } from './rows.ts';

export class HubError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** The hub's error code and bare message (without field details), e.g. invalid_partition. */
    readonly code?: string,
    readonly bare?: string,
  ) {
    super(message);
    this.name = 'HubError';
  }
}

export interface HubClientOptions {
  url: string;
  token: string;
  timeoutMs?: number;
}

export function hubClientFromEnv(env: Record<string, string | undefined>, cmd: string): HubClient {
  const url = env.MERIDIAN_URL;
  const token = env.MERIDIAN_TOKEN;
  if (!url) throw new HubError(`${cmd}: error: MERIDIAN_URL is not set (the hub's address, e.g. https://meridian.example.org)`, 0);
  if (!token) throw new HubError(`${cmd}: error: MERIDIAN_TOKEN is not set (your Meridian API token)`, 0);
  return new HubClient({ url, token });
}

interface HttpAnswer {
  status: number;
  retryAfter: string | undefined;
  text: string;
}

/**
 * One request over node:http(s). Not `fetch`: loading undici and web streams costs a login command about
 * 170 ms of CPU per start (more than Node's own start-up), node:http about 20 ms.
 */
async function exchange(url: string, method: string, authorization: string, body: string | undefined, timeoutMs: number): Promise<HttpAnswer> {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`MERIDIAN_URL must start with http:// or https:// (got ${u.protocol}//)`);
  const { request } = u.protocol === 'https:' ? await import('node:https') : await import('node:http');
  const headers: Record<string, string | number> = { Authorization: authorization };
  if (body !== undefined) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  return new Promise((resolve, reject) => {
    const req = request(u, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(timer);
        const retry = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, retryAfter: Array.isArray(retry) ? retry[0] : retry, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    // A deadline for the whole exchange, as AbortSignal.timeout gave fetch.
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    function fail(err: Error): void {
      clearTimeout(timer);
      reject(err);
    }
    req.on('error', fail);
    req.end(body);
  });
}

/** A node as GET /api/v1/nodes lists it (the agent's NodeInfo under `info`). */
export interface HubNode {
  clusterId: string;
  name: string;
  info: {
    state?: string;
    unschedulable: boolean;
    ready: boolean;
    reason?: string;
    capacity: { cpuMilli: number; memoryMiB: number; gpus: number };
    requested?: { cpuMilli: number; memoryMiB: number; gpus: number };
    gpus?: { index: number; milliUsed?: number }[];
    labels?: Record<string, string>;
    gpuModel?: string;
  };
}

export class HubClient {
  constructor(private readonly opts: HubClientOptions) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: HttpAnswer;
    try {
      res = await exchange(`${this.opts.url.replace(/\/$/, '')}${path}`, method, `Bearer ${this.opts.token}`, body === undefined ? undefined : JSON.stringify(body), this.opts.timeoutMs ?? 30_000);
    } catch (err) {
      throw new HubError(`Unable to contact Meridian hub at ${this.opts.url}: ${(err as Error).message}`, 0);
    }
    const text = res.text;
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = { message: text };
    }
    if (res.status >= 400) {
      const b = parsed as { code?: string; message?: string; error?: string; details?: { path: string; message: string }[] };
      const details = (b.details ?? []).map((d) => `${d.path}: ${d.message}`).join('; ');
      const retry = res.retryAfter;
      throw new HubError(`${b.message ?? b.error ?? `HTTP ${res.status}`}${details ? ` (${details})` : ''}${retry ? ` [retry after ${retry}s]` : ''}`, res.status, b.code, b.message);
    }
    return parsed as T;
  }

  submit(spec: JobSpecInput): Promise<HubJobView> {
    return this.call<HubJobView>('POST', '/api/v1/jobs', spec);
  }

  get(id: string): Promise<HubJobView> {
    return this.call<HubJobView>('GET', `/api/v1/jobs/${encodeURIComponent(id)}`);
  }

  async list(query: Record<string, string> = {}): Promise<HubJobView[]> {
    const out: HubJobView[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 100; page++) {
      const qs = new URLSearchParams({ limit: '1000', ...query, ...(cursor ? { cursor } : {}) });
      const r: { items: HubJobView[]; nextCursor: string | null } = await this.call('GET', `/api/v1/jobs?${qs}`);
      out.push(...r.items);
      cursor = r.nextCursor;
      if (!cursor) break;
    }
    return out;
  }

  cancel(id: string): Promise<HubJobView> {
    return this.call<HubJobView>('POST', `/api/v1/jobs/${encodeURIComponent(id)}/cancel`);
  }

  /** Holds a Queued job (409 when it is not Queued). */
  hold(id: string): Promise<HubJobView> {
    return this.call<HubJobView>('POST', `/api/v1/jobs/${encodeURIComponent(id)}/hold`);
  }

  /** Releases a held job (409 when it is not held). */
  release(id: string): Promise<HubJobView> {
    return this.call<HubJobView>('POST', `/api/v1/jobs/${encodeURIComponent(id)}/release`);
  }

  nodes(): Promise<{ items: HubNode[] }> {
    return this.call('GET', '/api/v1/nodes');
  }

  clusters(): Promise<{ items: { id: string; kind: string; region?: string }[] }> {
    return this.call('GET', '/api/v1/clusters');
  }
}
