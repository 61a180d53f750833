// Reads the write-ahead buffer in order, batches records into one remote-write 1.0 request, POSTs it to the
// hub and acknowledges the records only after a 2xx: at-least-once. One request is in flight at a time, so
// the samples of a series arrive in order (what Prometheus requires).
//
// Responses (per the remote-write spec, plus what a multi-tenant hub needs):
//   2xx                      → ack, next batch
//   429, 5xx, 408, network   → retry the same batch: honour Retry-After (seconds or HTTP date, capped),
//                              else exponential backoff with jitter
//   401, 403                 → fatal: the credential was rotated or revoked and will never work again; the
//                              forwarder stops with one error line and a 'fatal' event, and the records stay
//                              in the buffer for a restart with the current credential (nothing is lost)
//   413                      → split the batch (halve it) and retry; a single record still too large is dropped
//   other 4xx (400 …)        → drop the batch (it will never be accepted), counted in droppedSamples
// Every request carries X-Meridian-Batch: <agent>:<first seq>-<last seq> (WAL sequence numbers are stable
// across restarts); the hub's per-series last-timestamp check is what makes replays harmless.
import { EventEmitter } from 'node:events';
import { compressProto, REMOTE_WRITE_HEADERS } from '@meridian/protocol/telemetry/remote-write';
import type { Wal, WalRecord } from './wal.ts';

export interface ForwarderLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ForwarderOptions {
  wal: Wal;
  /** the hub's receiver, e.g. https://hub.example/api/v1/telemetry/write */
  url: string;
  /** per-cluster bearer credential */
  token?: string;
  /** names this agent in X-Meridian-Batch (default: "agent") */
  agentId?: string;
  headers?: Record<string, string>;
  /** most samples per request (default 10 000) */
  maxBatchSamples?: number;
  /** most uncompressed protobuf bytes per request (default 4 MiB) */
  maxBatchBytes?: number;
  /** first retry delay (default 250 ms); doubles per attempt up to maxBackoffMs (default 30 s) */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** longest Retry-After honoured (default 5 min) */
  maxRetryAfterMs?: number;
  /** per-request timeout (default 30 s) */
  requestTimeoutMs?: number;
  logger?: ForwarderLogger;
  /** jitter source in [0,1) (default Math.random) */
  random?: () => number;
}

export interface ForwarderStats {
  sentRequests: number;
  sentSamples: number;
  sentRecords: number;
  sentBytes: number;
  retries: number;
  droppedSamples: number;
  droppedRecords: number;
  lastStatus: number | null;
  lastError: string | null;
  /** delays actually waited before retries, ms (the last 100) */
  retryDelays: number[];
}

const silent: ForwarderLogger = { info() {}, warn() {}, error() {} };

/** Parses a Retry-After header: delta-seconds or an HTTP date. Returns ms, or null when absent/garbled. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null) return null;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const date = Date.parse(v);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - now);
}

type Outcome = { kind: 'ok' } | { kind: 'retry'; delayMs: number; reason: string } | { kind: 'split' } | { kind: 'drop'; reason: string } | { kind: 'fatal'; status: number; reason: string };

export class Forwarder extends EventEmitter {
  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private abort: AbortController | null = null;
  private attempt = 0;
  private splitTo = Infinity;
  private readonly s: ForwarderStats = {
    sentRequests: 0,
    sentSamples: 0,
    sentRecords: 0,
    sentBytes: 0,
    retries: 0,
    droppedSamples: 0,
    droppedRecords: 0,
    lastStatus: null,
    lastError: null,
    retryDelays: [],
  };
  private readonly log: ForwarderLogger;
  private readonly onAppend = () => this.wake?.();

  constructor(readonly opts: ForwarderOptions) {
    super();
    this.log = opts.logger ?? silent;
  }

  get stats(): ForwarderStats {
    return { ...this.s, retryDelays: [...this.s.retryDelays] };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.opts.wal.on('append', this.onAppend);
    this.loop = this.run();
  }

  /** Stops after aborting any request in flight; unacknowledged records stay in the buffer for next time. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.opts.wal.off('append', this.onAppend);
    this.abort?.abort();
    this.wake?.();
    await this.loop;
  }

  /** Resolves once everything appended so far is acknowledged (or rejects after timeoutMs). */
  async drain(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.opts.wal.pendingBytes > 0) {
      if (Date.now() > deadline) throw new Error(`forwarder did not drain within ${timeoutMs} ms (${this.opts.wal.pendingBytes} bytes pending, last error: ${this.s.lastError ?? 'none'})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async run(): Promise<void> {
    const wal = this.opts.wal;
    while (this.running) {
      const batch = this.nextBatch();
      if (batch.length === 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          if (wal.pendingBytes > 0 || !this.running) resolve();
        });
        this.wake = null;
        // nothing readable although bytes are pending would spin: give the writer a moment
        if (this.running && this.nextBatch().length === 0) await this.sleep(50);
        continue;
      }
      const outcome = await this.send(batch);
      if (!this.running && outcome.kind !== 'ok') break;
      switch (outcome.kind) {
        case 'ok':
          wal.ack(batch[batch.length - 1]!);
          this.attempt = 0;
          this.splitTo = Infinity;
          break;
        case 'split':
          this.splitTo = Math.max(1, Math.floor(batch.length / 2));
          break;
        case 'drop': {
          const samples = batch.reduce((n, r) => n + r.samples, 0);
          this.s.droppedSamples += samples;
          this.s.droppedRecords += batch.length;
          this.log.error({ samples, records: batch.length, reason: outcome.reason }, 'telemetry batch rejected by the hub; dropped');
          this.emit('dropped', { samples, reason: outcome.reason });
          wal.ack(batch[batch.length - 1]!);
          this.attempt = 0;
          this.splitTo = Infinity;
          break;
        }
        case 'fatal':
          this.log.error(
            { status: outcome.status, reason: outcome.reason, pendingBytes: wal.pendingBytes },
            'the hub refused the telemetry credential (rotated or revoked): forwarding stops; buffered samples are kept for a restart with the current credential',
          );
          this.running = false;
          wal.off('append', this.onAppend);
          this.emit('fatal', { status: outcome.status, reason: outcome.reason });
          return;
        case 'retry':
          this.s.retries++;
          this.s.retryDelays.push(outcome.delayMs);
          if (this.s.retryDelays.length > 100) this.s.retryDelays.shift();
          this.emit('retry', { delayMs: outcome.delayMs, reason: outcome.reason });
          this.log.warn({ delayMs: outcome.delayMs, reason: outcome.reason, attempt: this.attempt }, 'telemetry send failed; retrying');
          await this.sleep(outcome.delayMs);
          break;
      }
    }
  }

  private nextBatch(): WalRecord[] {
    const maxSamples = this.opts.maxBatchSamples ?? 10_000;
    const records = this.opts.wal.read(undefined, this.opts.maxBatchBytes ?? 4 * 1024 * 1024, this.splitTo);
    let samples = 0;
    let i = 0;
    for (; i < records.length; i++) {
      samples += records[i]!.samples;
      if (samples > maxSamples && i > 0) break;
    }
    return records.slice(0, i);
  }

  private backoff(): number {
    const min = this.opts.minBackoffMs ?? 250;
    const max = this.opts.maxBackoffMs ?? 30_000;
    const base = Math.min(max, min * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    const r = (this.opts.random ?? Math.random)();
    return Math.round(base / 2 + (base / 2) * r); // "equal jitter": never less than half the step
  }

  private async send(batch: WalRecord[]): Promise<Outcome> {
    const samples = batch.reduce((n, r) => n + r.samples, 0);
    const body = compressProto(batch.length === 1 ? batch[0]!.payload : Buffer.concat(batch.map((r) => r.payload)));
    const headers: Record<string, string> = {
      ...REMOTE_WRITE_HEADERS,
      'user-agent': 'meridian-edge-agent',
      'x-meridian-batch': `${this.opts.agentId ?? 'agent'}:${batch[0]!.seq}-${batch[batch.length - 1]!.seq}`,
      ...this.opts.headers,
    };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    this.abort = new AbortController();
    const timeout = setTimeout(() => this.abort?.abort(new Error('request timed out')), this.opts.requestTimeoutMs ?? 30_000);
    let res: Response;
    try {
      res = await fetch(this.opts.url, { method: 'POST', headers, body, signal: this.abort.signal });
    } catch (err) {
      const msg = err instanceof Error ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}` : String(err);
      this.s.lastError = msg;
      this.s.lastStatus = null;
      return { kind: 'retry', delayMs: this.backoff(), reason: msg };
    } finally {
      clearTimeout(timeout);
    }
    this.s.lastStatus = res.status;
    const text = res.status >= 300 ? (await res.text().catch(() => '')).slice(0, 500) : '';
    if (res.status < 300) await res.arrayBuffer().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) {
      this.s.sentRequests++;
      this.s.sentSamples += samples;
      this.s.sentRecords += batch.length;
      this.s.sentBytes += body.length;
      this.s.lastError = null;
      this.emit('sent', { samples, records: batch.length, bytes: body.length });
      return { kind: 'ok' };
    }
    const reason = `HTTP ${res.status}${text ? `: ${text}` : ''}`;
    this.s.lastError = reason;
    if (res.status === 429 || res.status >= 500 || res.status === 408) {
      const ra = parseRetryAfter(res.headers.get('retry-after'));
      if (ra !== null) {
        this.attempt++; // keep growing the fallback in case the server stops sending Retry-After
        return { kind: 'retry', delayMs: Math.min(ra, this.opts.maxRetryAfterMs ?? 300_000), reason };
      }
      return { kind: 'retry', delayMs: this.backoff(), reason };
    }
    if (res.status === 401 || res.status === 403) return { kind: 'fatal', status: res.status, reason };
    if (res.status === 413 && batch.length > 1) return { kind: 'split' };
    return { kind: 'drop', reason };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        // a stop() cuts the wait short; a new append does not (the batch is already waiting to be retried)
        if (!this.running) {
          clearTimeout(t);
          resolve();
        }
      };
    });
  }
}
