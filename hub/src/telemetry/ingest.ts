// The receiver's core, without HTTP: decode → validate → rate limit → backlog check → dedup → tenant labels
// → hot state + health → Prometheus queue. The Fastify plugin maps IngestResult to a response.
// A request is accepted whole or refused whole; a refused request changes no state (dedup, limits' view of
// accepted samples, hot state, queue), so the agent can simply retry it.
import { decodeWriteRequest, RemoteWriteDecodeError } from '@meridian/edge-agent/telemetry/remote-write';
import type { Sample, TimeSeries, WriteRequest } from '@meridian/edge-agent/telemetry/remote-write';
import { SeriesDedup } from './dedup.ts';
import type { DedupOptions } from './dedup.ts';
import { HotState } from './hot-state.ts';
import type { HotStateOptions } from './hot-state.ts';
import { TenantRateLimiter } from './limits.ts';
import type { RateLimit } from './limits.ts';
import { RemoteWriteQueue } from './prom-queue.ts';
import type { RemoteWriteQueueOptions } from './prom-queue.ts';
import { jobRefOf, tenantExtras, withTenantLabels } from './tenant.ts';
import type { ProjectResolver, Tenant } from './tenant.ts';
import { validateSeries, ValidationError } from './validate.ts';
import type { ValidationLimits } from './validate.ts';

export interface TelemetryIngestOptions {
  /** where to forward (a queue is created), or an existing queue, or null to keep hot state only */
  prometheus?: RemoteWriteQueueOptions | RemoteWriteQueue | null;
  /** per-cluster sample-rate limit (default 200 000 samples/s, burst 10 s worth); null = unlimited */
  limits?: RateLimit | ((clusterId: string) => RateLimit | null) | null;
  resolveProject?: ProjectResolver;
  dedup?: DedupOptions;
  validation?: ValidationLimits;
  hotState?: HotStateOptions;
  /**
   * 'forwarded' (default): answer the agent only once Prometheus has the samples (end-to-end at-least-once);
   * 'accepted': answer once queued (lower latency; a hub crash loses what is queued).
   */
  ackMode?: 'forwarded' | 'accepted';
  /** in 'forwarded' mode, how long a request waits for Prometheus before the agent is told 503 (default 10 s) */
  forwardTimeoutMs?: number;
  /** most bytes a body may decompress to (default 64 MiB) */
  maxUncompressedBytes?: number;
  now?: () => number;
}

export type IngestResult =
  | { status: 204; accepted: number; duplicates: number; series: number }
  | { status: 400 | 413; error: string; message: string; field?: string }
  | { status: 429 | 503; error: string; message: string; retryAfterMs: number };

export interface IngestStats {
  requests: number;
  acceptedSamples: number;
  duplicateSamples: number;
  rejectedRequests: Record<string, number>;
  dedupSeries: number;
  hotEntities: number;
}

const SEP = '\xff';

export class TelemetryIngest {
  readonly hot: HotState;
  readonly dedup: SeriesDedup;
  readonly queue: RemoteWriteQueue | null;
  private readonly limiter: TenantRateLimiter;
  private readonly now: () => number;
  private readonly s: IngestStats = { requests: 0, acceptedSamples: 0, duplicateSamples: 0, rejectedRequests: {}, dedupSeries: 0, hotEntities: 0 };

  constructor(private readonly opts: TelemetryIngestOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.hot = new HotState(opts.hotState);
    this.dedup = new SeriesDedup(opts.dedup);
    const p = opts.prometheus;
    this.queue = p === undefined || p === null ? null : p instanceof RemoteWriteQueue ? p : new RemoteWriteQueue(p);
    const lim = opts.limits === undefined ? { samplesPerSecond: 200_000 } : opts.limits;
    this.limiter = new TenantRateLimiter(typeof lim === 'function' ? lim : () => lim);
  }

  start(): void {
    this.queue?.start();
  }

  async stop(): Promise<void> {
    await this.queue?.stop();
  }

  stats(): IngestStats {
    return { ...this.s, rejectedRequests: { ...this.s.rejectedRequests }, dedupSeries: this.dedup.size, hotEntities: this.hot.size };
  }

  private reject<T extends Exclude<IngestResult, { status: 204 }>>(r: T): T {
    this.s.rejectedRequests[r.error] = (this.s.rejectedRequests[r.error] ?? 0) + 1;
    return r;
  }

  /** A snappy-compressed remote-write 1.0 body from `tenant`. */
  async ingestBody(body: Buffer, tenant: Tenant): Promise<IngestResult> {
    this.s.requests++;
    let req: WriteRequest;
    try {
      req = decodeWriteRequest(body, { maxUncompressedBytes: this.opts.maxUncompressedBytes ?? 64 * 1024 * 1024 });
    } catch (err) {
      if (err instanceof RemoteWriteDecodeError) {
        if (err.layer === 'size') return this.reject({ status: 413, error: 'too_large', message: err.message });
        return this.reject({ status: 400, error: err.layer === 'snappy' ? 'bad_snappy' : 'bad_protobuf', message: err.message });
      }
      throw err;
    }
    return this.ingestDecoded(req, tenant);
  }

  /** A decoded WriteRequest from `tenant` (counted as a request only through ingestBody). */
  async ingestDecoded(req: WriteRequest, tenant: Tenant): Promise<IngestResult> {
    const now = this.now();
    const series = req.timeseries;
    let total: number;
    try {
      total = validateSeries(series, now, this.opts.validation);
    } catch (err) {
      if (err instanceof ValidationError) return this.reject({ status: 400, error: 'invalid_series', message: err.message, field: `timeseries[${err.seriesIndex}].${err.field}` });
      throw err;
    }

    // dedup: plan first (no state change), so a refusal below leaves nothing behind
    const keys = new Array<string>(series.length);
    const samples = new Array<Sample[]>(series.length);
    const prefix = tenant.clusterId + SEP;
    for (let i = 0; i < series.length; i++) {
      const ts = series[i]!;
      let k = prefix;
      for (const l of ts.labels) k += l.name + SEP + l.value + SEP;
      keys[i] = k;
      samples[i] = ts.samples;
    }
    const plan = this.dedup.plan(keys, samples);

    if (plan.accepted > 0) {
      const lim = this.limiter.take(tenant.clusterId, plan.accepted, now);
      if (!lim.ok) {
        return this.reject({
          status: 429,
          error: 'rate_limited',
          message: `cluster ${tenant.clusterId} is over its telemetry limit of ${lim.limit} samples/s; retry after the Retry-After delay`,
          retryAfterMs: lim.retryAfterMs,
        });
      }
      if (this.queue && !this.queue.canAccept(plan.accepted)) {
        return this.reject({
          status: 503,
          error: 'backlog',
          message: `the hub's Prometheus queue is full (${this.queue.queuedSamples} samples waiting; last error: ${this.queue.stats.lastError ?? 'none'}); keep the samples and retry`,
          retryAfterMs: 5_000,
        });
      }
    }
    this.dedup.commit(plan);
    this.s.duplicateSamples += total - plan.accepted;
    if (plan.accepted === 0) return { status: 204, accepted: 0, duplicates: total, series: 0 };

    // tenant labels, hot state, forward
    const out: TimeSeries[] = [];
    const projectCache = new Map<string, string | undefined>();
    const resolve = this.opts.resolveProject;
    const plainExtras = tenantExtras(tenant, undefined);
    for (let i = 0; i < series.length; i++) {
      const ts = series[i]!;
      const from = plan.keepFrom[i]!;
      const ss = ts.samples;
      if (from >= ss.length) continue;
      let kept: Sample[];
      if (from === 0 && isStrictlyIncreasing(ss)) kept = ss;
      else {
        kept = [];
        let last = -Infinity;
        for (let k = from; k < ss.length; k++) {
          const smp = ss[k]!;
          if (smp.timestamp > last) {
            kept.push(smp);
            last = smp.timestamp;
          }
        }
      }
      let extras = plainExtras;
      if (resolve) {
        const ref = jobRefOf(ts.labels, tenant.clusterId);
        if (ref) {
          const ck = `${ref.jobId ?? ''}${SEP}${ref.slurmJobId ?? ''}${SEP}${ref.namespace ?? ''}`;
          let project = projectCache.get(ck);
          if (!projectCache.has(ck)) projectCache.set(ck, (project = resolve(ref)));
          if (project) extras = tenantExtras(tenant, project);
        }
      }
      const labels = withTenantLabels(ts.labels, extras);
      const lastSample = kept[kept.length - 1]!;
      this.hot.observe(labels, lastSample.value, lastSample.timestamp);
      out.push({ labels, samples: kept });
    }
    this.hot.evaluate(now);
    this.s.acceptedSamples += plan.accepted;

    if (this.queue) {
      const written = this.queue.enqueue(out, plan.accepted);
      if ((this.opts.ackMode ?? 'forwarded') === 'forwarded') {
        const timeoutMs = this.opts.forwardTimeoutMs ?? 10_000;
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          written.then(() => false),
          new Promise<boolean>((r) => {
            timer = setTimeout(() => r(true), timeoutMs);
          }),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          // The samples stay queued and will reach Prometheus; the agent's retry is answered as duplicates.
          return this.reject({
            status: 503,
            error: 'forward_timeout',
            message: `Prometheus did not take the samples within ${timeoutMs} ms (last error: ${this.queue.stats.lastError ?? 'none'}); they are queued at the hub — retry`,
            retryAfterMs: 2_000,
          });
        }
      }
    }
    return { status: 204, accepted: plan.accepted, duplicates: total - plan.accepted, series: out.length };
  }
}

function isStrictlyIncreasing(ss: Sample[]): boolean {
  for (let k = 1; k < ss.length; k++) if (ss[k]!.timestamp <= ss[k - 1]!.timestamp) return false;
  return true;
}
