// The receiver's core, without HTTP: decompress → scan → (per new series: decode labels, validate, tenant
// labels) → timestamps → dedup plan → rate limit → backlog check → commit → hot state + health → Prometheus
// queue. The Fastify plugin maps IngestResult to a response.
//
// Everything derived from a series' labels is computed once per series (SeriesCache, keyed by the raw label
// bytes), so the per-sample cost is a map lookup, a timestamp compare and a byte copy: the re-encoded
// request to Prometheus reuses the agent's sample bytes behind pre-encoded tenant-labelled label fields.
// A request is accepted whole or refused whole; a refused request changes no dedup state, so the agent can
// simply retry it.
import {
  decodeLabelsKey,
  decompressBody,
  encodeLabelFields,
  encodeWriteRequestProto,
  fieldSize,
  RemoteWriteDecodeError,
  sampleFieldSize,
  scanWriteRequest,
  SeriesScan,
  writeTimeSeriesField,
} from '@meridian/protocol/telemetry/remote-write';
import type { WriteRequest } from '@meridian/protocol/telemetry/remote-write';
import { HotState } from './hot-state.ts';
import type { HotStateOptions } from './hot-state.ts';
import { TenantRateLimiter } from './limits.ts';
import type { RateLimit } from './limits.ts';
import { RemoteWriteQueue } from './prom-queue.ts';
import type { RemoteWriteQueueOptions } from './prom-queue.ts';
import { commitSeries, newSeriesState, planSamples, SeriesCache } from './series-cache.ts';
import type { SeriesCacheOptions, SeriesState } from './series-cache.ts';
import { jobRefOf, tenantExtras, withTenantLabels } from './tenant.ts';
import type { ProjectResolver, Tenant } from './tenant.ts';
import { latestAccepted, validateLabels, validateTimestamp, ValidationError } from './validate.ts';
import type { ValidationLimits } from './validate.ts';

export interface TelemetryIngestOptions {
  /** where to forward (a queue is created), or an existing queue, or null to keep hot state only */
  prometheus?: RemoteWriteQueueOptions | RemoteWriteQueue | null;
  /** per-cluster sample-rate limit (default 200 000 samples/s, burst 10 s worth); null = unlimited */
  limits?: RateLimit | ((clusterId: string) => RateLimit | null) | null;
  resolveProject?: ProjectResolver;
  series?: SeriesCacheOptions;
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
  series: number;
  hotEntities: number;
}

export class TelemetryIngest {
  readonly hot: HotState;
  readonly series: SeriesCache;
  readonly queue: RemoteWriteQueue | null;
  private readonly limiter: TenantRateLimiter;
  private readonly now: () => number;
  private readonly scan = new SeriesScan();
  private keep = new Int32Array(8192);
  private keepAt = new Int32Array(1024);
  private keepN = new Int32Array(1024);
  private readonly s: IngestStats = { requests: 0, acceptedSamples: 0, duplicateSamples: 0, rejectedRequests: {}, series: 0, hotEntities: 0 };

  constructor(private readonly opts: TelemetryIngestOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.hot = new HotState(opts.hotState);
    this.series = new SeriesCache(opts.series);
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
    return { ...this.s, rejectedRequests: { ...this.s.rejectedRequests }, series: this.series.size, hotEntities: this.hot.size };
  }

  private reject<T extends Exclude<IngestResult, { status: 204 }>>(r: T): T {
    this.s.rejectedRequests[r.error] = (this.s.rejectedRequests[r.error] ?? 0) + 1;
    return r;
  }

  /** A snappy-compressed remote-write 1.0 body from `tenant`. */
  async ingestBody(body: Buffer, tenant: Tenant): Promise<IngestResult> {
    this.s.requests++;
    let raw: Buffer;
    try {
      raw = decompressBody(body, { maxUncompressedBytes: this.opts.maxUncompressedBytes ?? 64 * 1024 * 1024 });
    } catch (err) {
      if (err instanceof RemoteWriteDecodeError) {
        if (err.layer === 'size') return this.reject({ status: 413, error: 'too_large', message: err.message });
        return this.reject({ status: 400, error: 'bad_snappy', message: err.message });
      }
      throw err;
    }
    return this.ingestProto(raw, tenant);
  }

  /** A decoded WriteRequest (e.g. from another protocol) from `tenant`. */
  async ingestDecoded(req: WriteRequest, tenant: Tenant): Promise<IngestResult> {
    return this.ingestProto(encodeWriteRequestProto(req), tenant);
  }

  /** WriteRequest protobuf bytes (uncompressed) from `tenant`. */
  async ingestProto(raw: Buffer, tenant: Tenant): Promise<IngestResult> {
    const now = this.now();
    const scan = this.scan;
    try {
      scanWriteRequest(raw, scan);
    } catch (err) {
      if (err instanceof RemoteWriteDecodeError) return this.reject({ status: 400, error: 'bad_protobuf', message: err.message });
      throw err;
    }
    const n = scan.count;
    if (this.keep.length < scan.samples) this.keep = new Int32Array(Math.max(scan.samples, this.keep.length * 2));
    if (this.keepAt.length < n) {
      this.keepAt = new Int32Array(Math.max(n, this.keepAt.length * 2));
      this.keepN = new Int32Array(this.keepAt.length);
    }
    const keep = this.keep;
    const keepAt = this.keepAt;
    const keepN = this.keepN;
    const table = this.series.tenant(tenant.clusterId);
    const epoch = this.series.begin();
    const states = new Array<SeriesState>(n);
    const touched: SeriesState[] = [];
    let fresh: Map<string, SeriesState> | null = null;
    const latest = latestAccepted(now, this.opts.validation);
    let accepted = 0;
    let kept = 0;
    try {
      for (let i = 0; i < n; i++) {
        const key = scan.keys[i]!;
        let st = table.get(key) ?? fresh?.get(key);
        if (st === undefined) {
          st = this.newState(key, i, tenant);
          (fresh ??= new Map()).set(key, st);
        }
        states[i] = st;
        const first = scan.sampleStart[i]!;
        const count = scan.sampleCount[i]!;
        const ts = scan.ts;
        for (let j = first; j < first + count; j++) {
          const t = ts[j]!;
          if (!(t > 0 && t <= latest && Number.isSafeInteger(t))) validateTimestamp(t, i, j - first, now, latest, () => st.labels);
        }
        if (st.epoch !== epoch) touched.push(st);
        const k = planSamples(st, epoch, ts, first, count, keep, kept);
        keepAt[i] = kept;
        keepN[i] = k;
        kept += k;
        accepted += k;
      }
    } catch (err) {
      if (err instanceof ValidationError) return this.reject({ status: 400, error: 'invalid_series', message: err.message, field: `timeseries[${err.seriesIndex}].${err.field}` });
      if (err instanceof RemoteWriteDecodeError) return this.reject({ status: 400, error: 'bad_protobuf', message: err.message });
      throw err;
    }
    const total = scan.samples;

    if (accepted > 0) {
      const lim = this.limiter.take(tenant.clusterId, accepted, now);
      if (!lim.ok) {
        return this.reject({
          status: 429,
          error: 'rate_limited',
          message: `cluster ${tenant.clusterId} is over its telemetry limit of ${lim.limit} samples/s; retry after the Retry-After delay`,
          retryAfterMs: lim.retryAfterMs,
        });
      }
      if (this.queue && !this.queue.canAccept(accepted)) {
        return this.reject({
          status: 503,
          error: 'backlog',
          message: `the hub's Prometheus queue is full (${this.queue.queuedSamples} samples waiting; last error: ${this.queue.stats.lastError ?? 'none'}); keep the samples and retry`,
          retryAfterMs: 5_000,
        });
      }
    }
    commitSeries(touched);
    if (fresh) for (const [k, st] of fresh) this.series.add(table, k, st);
    this.s.duplicateSamples += total - accepted;
    if (accepted === 0) return { status: 204, accepted: 0, duplicates: total, series: 0 };

    // re-encode for Prometheus: tenant-labelled label fields + the agent's sample bytes where all were kept
    let size = 0;
    const bodies = new Int32Array(n);
    let outSeries = 0;
    for (let i = 0; i < n; i++) {
      const k = keepN[i]!;
      if (k === 0) continue;
      outSeries++;
      let body = states[i]!.outLabelFields.length;
      if (k === scan.sampleCount[i] && scan.sampleBytesStart[i]! >= 0) body += scan.sampleBytesEnd[i]! - scan.sampleBytesStart[i]!;
      else for (let q = keepAt[i]!; q < keepAt[i]! + k; q++) body += sampleFieldSize(scan.val[keep[q]!]!, scan.ts[keep[q]!]!);
      bodies[i] = body;
      size += fieldSize(body);
    }
    const out = Buffer.allocUnsafe(size);
    let pos = 0;
    const hot = this.hot;
    for (let i = 0; i < n; i++) {
      const k = keepN[i]!;
      if (k === 0) continue;
      const st = states[i]!;
      const whole = k === scan.sampleCount[i] && scan.sampleBytesStart[i]! >= 0;
      pos = writeTimeSeriesField(out, pos, st.outLabelFields, bodies[i]!, whole ? raw : null, scan.sampleBytesStart[i]!, scan.sampleBytesEnd[i]!, scan.ts, scan.val, keep, keepAt[i]!, keepAt[i]! + k);
      if (st.hot === undefined) st.hot = hot.handleFor(st.outLabels, now);
      if (st.hot !== null) {
        const last = keep[keepAt[i]! + k - 1]!;
        st.hot = hot.observeHandle(st.hot, scan.val[last]!, scan.ts[last]!);
      }
    }
    hot.evaluate(now);
    this.s.acceptedSamples += accepted;

    if (this.queue) {
      const written = this.queue.enqueueProto(out, accepted);
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
    return { status: 204, accepted, duplicates: total - accepted, series: outSeries };
  }

  private newState(key: string, i: number, tenant: Tenant): SeriesState {
    const labels = decodeLabelsKey(key);
    validateLabels(labels, i, this.opts.validation);
    let project: string | undefined;
    const resolve = this.opts.resolveProject;
    if (resolve) {
      const ref = jobRefOf(labels, tenant.clusterId);
      if (ref) project = resolve(ref);
    }
    const outLabels = withTenantLabels(labels, tenantExtras(tenant, project));
    return newSeriesState(labels, outLabels, encodeLabelFields(outLabels));
  }
}
