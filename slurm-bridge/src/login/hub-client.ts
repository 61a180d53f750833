// The login node's client for the hub REST API (MERIDIAN_URL, MERIDIAN_TOKEN).
import type { JobSpecInput } from '../../../hub/src/protocol/job-spec.ts';
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

export class HubClient {
  constructor(private readonly opts: HubClientOptions) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.opts.url.replace(/\/$/, '')}${path}`, {
        method,
        headers: { Authorization: `Bearer ${this.opts.token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw new HubError(`Unable to contact Meridian hub at ${this.opts.url}: ${(err as Error).message}`, 0);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = { message: text };
    }
    if (res.status >= 400) {
      const b = parsed as { code?: string; message?: string; error?: string; details?: { path: string; message: string }[] };
      const details = (b.details ?? []).map((d) => `${d.path}: ${d.message}`).join('; ');
      const retry = res.headers.get('retry-after');
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

  nodes(): Promise<{ items: { clusterId: string; name: string; info: { state?: string; unschedulable: boolean; ready: boolean; reason?: string; capacity: { cpuMilli: number; memoryMiB: number; gpus: number }; gpuModel?: string } }[] }> {
    return this.call('GET', '/api/v1/nodes');
  }
}
