// A self-healing wrapper around @kubernetes/client-node's ListWatch informer. The library's ListWatch
// resumes a watch that ends normally (and relists on 410 Gone) but stops for good on any other error
// (apiserver down, connection reset); this restarts it with backoff and tells the owner whether the
// apiserver is reachable, and when the first full list has been delivered.
import http from 'node:http';
import https from 'node:https';
import * as k8s from '@kubernetes/client-node';
import type { KubernetesObject, ListPromise } from '@kubernetes/client-node';

export interface InformerHandlers<T extends KubernetesObject> {
  upsert(obj: T): void;
  remove(obj: T): void;
  /** Called with false when the informer lost the apiserver and true when it is listed/watching again. */
  onHealth?(ok: boolean, err?: string): void;
}

export interface InformerOptions {
  labelSelector?: string;
  fieldSelector?: string;
  backoff?: { minMs: number; maxMs: number };
}

export class KeptInformer<T extends KubernetesObject> {
  readonly lw: k8s.ListWatch<T>;
  private stopped = false;
  private starting = false;
  private errDuringStart: string | null = null;
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  private resolveSynced!: () => void;
  /** Resolves once the first full list has been delivered to the handlers. */
  readonly synced: Promise<void>;
  private isSynced = false;
  healthy = false;
  lastError: string | null = null;

  constructor(
    kc: k8s.KubeConfig,
    readonly path: string,
    list: ListPromise<T>,
    private readonly h: InformerHandlers<T>,
    private readonly o: InformerOptions = {},
  ) {
    this.synced = new Promise((r) => (this.resolveSynced = r));
    this.lw = new k8s.ListWatch<T>(path, new k8s.Watch(kc), list, false, o.labelSelector, o.fieldSelector);
    this.lw.on('add', (obj) => h.upsert(obj));
    this.lw.on('update', (obj) => h.upsert(obj));
    this.lw.on('delete', (obj) => h.remove(obj));
    this.lw.on('error', (err?: unknown) => this.onError(err));
  }

  get(name: string, namespace?: string): T | undefined {
    return this.lw.get(name, namespace);
  }

  list(namespace?: string): ReadonlyArray<T> {
    return this.lw.list(namespace);
  }

  start(): void {
    this.stopped = false;
    void this.run();
  }

  private async run(): Promise<void> {
    if (this.stopped || this.starting) return;
    this.starting = true;
    this.errDuringStart = null;
    try {
      await this.lw.start();
    } catch (err) {
      this.errDuringStart = errText(err);
    } finally {
      this.starting = false;
    }
    if (this.stopped) return;
    if (this.errDuringStart !== null) return this.retryLater(this.errDuringStart);
    this.attempt = 0;
    this.lastError = null;
    if (!this.healthy) {
      this.healthy = true;
      this.h.onHealth?.(true);
    }
    if (!this.isSynced) {
      this.isSynced = true;
      this.resolveSynced();
    }
  }

  private onError(err: unknown): void {
    if (this.stopped) return;
    const text = errText(err);
    if (this.starting) {
      this.errDuringStart = text;
      return;
    }
    this.retryLater(text);
  }

  private retryLater(err: string): void {
    this.lastError = err;
    if (this.healthy) {
      this.healthy = false;
      this.h.onHealth?.(false, err);
    }
    if (this.timer || this.stopped) return;
    const { minMs, maxMs } = this.o.backoff ?? { minMs: 250, maxMs: 5000 };
    const delay = Math.min(maxMs, minMs * 2 ** this.attempt++) * (0.75 + Math.random() / 4);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run();
    }, delay);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.lw.stop();
  }
}

export function errText(err: unknown): string {
  if (err === undefined || err === null) return 'unknown error';
  if (err instanceof k8s.ApiException) {
    const body = err.body as { message?: string } | string | undefined;
    const msg = typeof body === 'string' ? body : body?.message;
    return `HTTP ${err.code}${msg ? `: ${msg}` : ''}`;
  }
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}

/** The HTTP status of a client-node error, when it has one. */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof k8s.ApiException) return err.code;
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

/**
 * A ListWatch list function that fetches the list as plain JSON (no client-node model deserialisation):
 * for large lists (tens of thousands of pods) that deserialisation costs most of the agent's CPU. The
 * watch side of ListWatch already hands over plain JSON, so both paths give the same shapes (timestamps
 * stay RFC 3339 strings).
 */
export function rawList<T extends KubernetesObject>(kc: k8s.KubeConfig, path: string, query: Record<string, string> = {}): ListPromise<T> {
  return async () => {
    const opts: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    const server = new URL(kc.getCurrentCluster()!.server);
    const qs = new URLSearchParams(query).toString();
    const body = await new Promise<string>((resolve, reject) => {
      const mod = server.protocol === 'http:' ? http : https;
      const req = mod.request(
        { ...opts, protocol: server.protocol, hostname: server.hostname, port: server.port, path: `${server.pathname.replace(/\/$/, '')}${path}${qs ? `?${qs}` : ''}`, method: 'GET', headers: { ...(opts.headers ?? {}), accept: 'application/json' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if ((res.statusCode ?? 0) >= 300) reject(Object.assign(new Error(`list ${path}: HTTP ${res.statusCode} ${text.slice(0, 200)}`), { statusCode: res.statusCode }));
            else resolve(text);
          });
          res.on('error', reject);
        },
      );
      req.setTimeout(120_000, () => req.destroy(new Error(`list ${path}: timed out`)));
      req.on('error', reject);
      req.end();
    });
    return JSON.parse(body) as k8s.KubernetesListObject<T>;
  };
}
