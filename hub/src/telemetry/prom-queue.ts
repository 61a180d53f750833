// The hub's own remote-write queue to Prometheus: bounded, in order, one request in flight, retrying
// 5xx / 429 / network errors with backoff (Retry-After honoured). When Prometheus refuses a batch with a 4xx
// (e.g. one sample too old), the batch is split in halves and retried so that only the offending series
// are dropped, not the whole batch. Each enqueue() resolves once its series are written (or dropped as
// invalid), which lets the receiver acknowledge an agent only after Prometheus has the data.
import { compressProto, decodeWriteRequestProto, encodeWriteRequestProto, REMOTE_WRITE_HEADERS } from '@meridian/protocol/telemetry/remote-write';
import type { TimeSeries } from '@meridian/protocol/telemetry/remote-write';

export interface RemoteWriteQueueOptions {
  /** e.g. http://prometheus:9090/api/v1/write */
  url: string;
  headers?: Record<string, string>;
  /** samples waiting at most; enqueue beyond is refused so the receiver can push back (default 2 000 000) */
  maxQueuedSamples?: number;
  /** samples per request (default 20 000) */
  maxBatchSamples?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  requestTimeoutMs?: number;
  onError?: (err: { status: number | null; message: string; samples: number; dropped: boolean }) => void;
}

export interface RemoteWriteQueueStats {
  queuedSamples: number;
  sentSamples: number;
  sentRequests: number;
  droppedSamples: number;
  retries: number;
  lastError: string | null;
}

interface Entry {
  /** WriteRequest protobuf bytes (TimeSeries fields): concatenating entries concatenates their series */
  proto: Buffer;
  samples: number;
  done: () => void;
}

type SendResult = { kind: 'ok' } | { kind: 'retry'; delayMs: number; message: string; status: number | null } | { kind: 'reject'; message: string; status: number };

export class RemoteWriteQueue {
  private readonly queue: Entry[] = [];
  private queued = 0;
  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private abort: AbortController | null = null;
  private attempt = 0;
  private readonly s: RemoteWriteQueueStats = { queuedSamples: 0, sentSamples: 0, sentRequests: 0, droppedSamples: 0, retries: 0, lastError: null };

  constructor(readonly opts: RemoteWriteQueueOptions) {}

  get stats(): RemoteWriteQueueStats {
    return { ...this.s, queuedSamples: this.queued };
  }

  get queuedSamples(): number {
    return this.queued;
  }

  /** Whether `samples` more fit under maxQueuedSamples. */
  canAccept(samples: number): boolean {
    return this.queued === 0 || this.queued + samples <= (this.opts.maxQueuedSamples ?? 2_000_000);
  }

  /** Queues series (labels final, samples in order); resolves when written or dropped as invalid. */
  enqueue(series: TimeSeries[], samples: number): Promise<void> {
    return this.enqueueProto(encodeWriteRequestProto({ timeseries: series }), samples);
  }

  /** Queues WriteRequest protobuf bytes holding `samples` samples. */
  enqueueProto(proto: Buffer, samples: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.queue.push({ proto, samples, done: resolve });
      this.queued += samples;
      this.wake?.();
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops sending (what is queued stays queued; a later start() resumes). */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abort?.abort();
    this.wake?.();
    await this.loop;
  }

  /** Resolves when the queue is empty (or rejects after timeoutMs). */
  async drain(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.queued > 0) {
      if (Date.now() > deadline) throw new Error(`Prometheus queue did not drain in ${timeoutMs} ms (${this.queued} samples, last error ${this.s.lastError ?? 'none'})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (this.queue.length === 0) {
        await new Promise<void>((r) => {
          this.wake = r;
          if (this.queue.length > 0 || !this.running) r();
        });
        this.wake = null;
        continue;
      }
      const max = this.opts.maxBatchSamples ?? 20_000;
      let n = 0;
      let samples = 0;
      while (n < this.queue.length && (n === 0 || samples + this.queue[n]!.samples <= max)) samples += this.queue[n++]!.samples;
      const entries = this.queue.slice(0, n);
      const proto = entries.length === 1 ? entries[0]!.proto : Buffer.concat(entries.map((e) => e.proto));
      const ok = await this.deliver(proto, samples);
      if (!ok) continue; // stopped mid-way: the entries stay queued
      this.queue.splice(0, n);
      this.queued -= samples;
      for (const e of entries) e.done();
    }
  }

  /** Sends until written or rejected (split on rejection); false only when stopped. */
  private async deliver(proto: Buffer, samples: number): Promise<boolean> {
    for (;;) {
      if (!this.running) return false;
      const r = await this.send(proto);
      if (r.kind === 'ok') {
        this.attempt = 0;
        this.s.sentRequests++;
        this.s.sentSamples += samples;
        return true;
      }
      if (r.kind === 'reject') {
        this.attempt = 0;
        const series = decodeWriteRequestProto(proto).timeseries;
        if (series.length > 1) {
          const mid = Math.floor(series.length / 2);
          const a = series.slice(0, mid);
          const b = series.slice(mid);
          const count = (x: TimeSeries[]) => x.reduce((k, t) => k + t.samples.length, 0);
          if (!(await this.deliver(encodeWriteRequestProto({ timeseries: a }), count(a)))) return false;
          return this.deliver(encodeWriteRequestProto({ timeseries: b }), count(b));
        }
        this.s.droppedSamples += samples;
        this.s.lastError = r.message;
        this.opts.onError?.({ status: r.status, message: r.message, samples, dropped: true });
        return true;
      }
      this.s.retries++;
      this.s.lastError = r.message;
      this.opts.onError?.({ status: r.status, message: r.message, samples, dropped: false });
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, r.delayMs);
        this.wake = () => {
          if (!this.running) {
            clearTimeout(t);
            resolve();
          }
        };
      });
      this.wake = null;
    }
  }

  private backoff(): number {
    const min = this.opts.minBackoffMs ?? 100;
    const max = this.opts.maxBackoffMs ?? 10_000;
    const base = Math.min(max, min * 2 ** Math.min(this.attempt++, 30));
    return Math.round(base / 2 + (base / 2) * Math.random());
  }

  private async send(proto: Buffer): Promise<SendResult> {
    const body = compressProto(proto);
    this.abort = new AbortController();
    const timer = setTimeout(() => this.abort?.abort(new Error('request timed out')), this.opts.requestTimeoutMs ?? 30_000);
    try {
      const res = await fetch(this.opts.url, { method: 'POST', headers: { ...REMOTE_WRITE_HEADERS, ...this.opts.headers }, body, signal: this.abort.signal });
      const text = res.status >= 300 ? (await res.text().catch(() => '')).trim().slice(0, 300) : '';
      if (res.status < 300) {
        await res.arrayBuffer().catch(() => undefined);
        return { kind: 'ok' };
      }
      const message = `Prometheus answered ${res.status}${text ? `: ${text}` : ''}`;
      if (res.status === 429 || res.status >= 500 || res.status === 408) {
        const ra = res.headers.get('retry-after');
        const delayMs = ra && /^\d+$/.test(ra.trim()) ? Math.min(Number(ra) * 1000, 300_000) : this.backoff();
        return { kind: 'retry', delayMs, message, status: res.status };
      }
      return { kind: 'reject', message, status: res.status };
    } catch (err) {
      const e = err as Error;
      return { kind: 'retry', delayMs: this.backoff(), message: `Prometheus unreachable: ${e.message}${e.cause instanceof Error ? `: ${e.cause.message}` : ''}`, status: null };
    } finally {
      clearTimeout(timer);
    }
  }
}
