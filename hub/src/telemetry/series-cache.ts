// Per-tenant series table (pure, in memory, bounded): everything the receiver derives from a series' labels,
// computed once per series instead of once per sample, and the per-series last timestamp that drops
// replayed duplicates. Keyed by the raw bytes of the series' label fields (SeriesScan keys).
//
// Dedup is planned then committed: plan() marks which samples of a request are new without changing the
// table's last timestamps; commit() records them. A request refused after planning (rate limit, backlog)
// therefore leaves no trace and is accepted whole when retried.
import type { Label } from '@meridian/protocol/telemetry/remote-write';
import type { HotHandle } from './hot-state.ts';

export interface SeriesState {
  /** labels as the agent sent them (validated) */
  labels: Label[];
  /** with the hub's tenant labels */
  outLabels: Label[];
  /** outLabels encoded as TimeSeries label fields */
  outLabelFields: Buffer;
  /** last accepted sample timestamp, -Infinity when none */
  lastTs: number;
  /** during a request: last timestamp including this request's accepted samples */
  planTs: number;
  /** request epoch planTs belongs to */
  epoch: number;
  /** hot-state handle: undefined = not resolved yet, null = not a hot-state series */
  hot: HotHandle | null | undefined;
}

export interface SeriesCacheOptions {
  /** series remembered per tenant at most; past it the oldest-inserted tenth is forgotten (default 2 000 000) */
  maxSeriesPerTenant?: number;
}

export class SeriesCache {
  private readonly tenants = new Map<string, Map<string, SeriesState>>();
  private readonly max: number;
  private epochNo = 0;
  evicted = 0;

  constructor(opts: SeriesCacheOptions = {}) {
    this.max = opts.maxSeriesPerTenant ?? 2_000_000;
  }

  tenant(clusterId: string): Map<string, SeriesState> {
    let t = this.tenants.get(clusterId);
    if (!t) {
      t = new Map();
      this.tenants.set(clusterId, t);
    }
    return t;
  }

  add(table: Map<string, SeriesState>, key: string, state: SeriesState): void {
    if (table.size >= this.max) {
      let n = Math.max(1, Math.floor(this.max / 10));
      for (const k of table.keys()) {
        table.delete(k);
        this.evicted++;
        if (--n === 0) break;
      }
    }
    table.set(key, state);
  }

  /** Starts planning a request; returns its epoch. */
  begin(): number {
    return ++this.epochNo;
  }

  get size(): number {
    let n = 0;
    for (const t of this.tenants.values()) n += t.size;
    return n;
  }
}

/**
 * Plans one series occurrence: writes into `keep` the indexes (into ts) of samples newer than everything
 * accepted for the series so far (including earlier occurrences in this request). Returns how many.
 */
export function planSamples(st: SeriesState, epoch: number, ts: Float64Array, first: number, count: number, keep: Int32Array, keepAt: number): number {
  if (st.epoch !== epoch) {
    st.epoch = epoch;
    st.planTs = st.lastTs;
  }
  let last = st.planTs;
  let n = 0;
  for (let j = first; j < first + count; j++) {
    const t = ts[j]!;
    if (t > last) {
      keep[keepAt + n++] = j;
      last = t;
    }
  }
  st.planTs = last;
  return n;
}

/** Commits a planned request: every touched series' last timestamp becomes its planned one. */
export function commitSeries(touched: SeriesState[]): void {
  for (const st of touched) st.lastTs = st.planTs;
}

export function newSeriesState(labels: Label[], outLabels: Label[], outLabelFields: Buffer): SeriesState {
  return { labels, outLabels, outLabelFields, lastTs: -Infinity, planTs: -Infinity, epoch: 0, hot: undefined };
}
