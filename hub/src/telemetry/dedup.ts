// Per-series last-timestamp filter (pure, in-memory, bounded). Agents deliver at least once: after a
// retry or a restart they resend samples the hub already has. A sample is new only when its timestamp is
// after the last one accepted for its series; everything else is a replayed duplicate (or out of order,
// which Prometheus would refuse anyway).
//
// Checking is split from committing so that a request refused for other reasons (rate limit, backlog)
// leaves no trace: plan() computes what a request would add, commit() records it.

export interface DedupOptions {
  /** series remembered at most; past it the least recently inserted tenth is forgotten (default 2 000 000) */
  maxSeries?: number;
}

export interface DedupPlan {
  /** per input series: index of the first sample to keep (samples before it are duplicates) */
  keepFrom: Int32Array;
  accepted: number;
  duplicates: number;
  /** series key → last timestamp after this request */
  updates: Map<string, number>;
}

export class SeriesDedup {
  private readonly last = new Map<string, number>();
  private readonly max: number;
  evicted = 0;

  constructor(opts: DedupOptions = {}) {
    this.max = opts.maxSeries ?? 2_000_000;
  }

  get size(): number {
    return this.last.size;
  }

  lastTimestamp(key: string): number | undefined {
    return this.last.get(key);
  }

  /**
   * keys[i] identifies series i (tenant + labels); samples must be in time order within a series, as
   * remote-write requires — a sample at or before the series' last timestamp is dropped.
   */
  plan(keys: string[], samples: { timestamp: number }[][]): DedupPlan {
    const updates = new Map<string, number>();
    const keepFrom = new Int32Array(keys.length);
    let accepted = 0;
    let duplicates = 0;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const ss = samples[i]!;
      let last = updates.get(key) ?? this.last.get(key) ?? -Infinity;
      let from = 0;
      while (from < ss.length && ss[from]!.timestamp <= last) from++;
      // a series is in order; anything out of order after the first new sample is dropped too (rare)
      let kept = 0;
      for (let k = from; k < ss.length; k++) {
        const t = ss[k]!.timestamp;
        if (t > last) {
          last = t;
          kept++;
        }
      }
      keepFrom[i] = from;
      accepted += kept;
      duplicates += ss.length - kept;
      if (kept > 0) updates.set(key, last);
    }
    return { keepFrom, accepted, duplicates, updates };
  }

  commit(plan: DedupPlan): void {
    for (const [k, t] of plan.updates) {
      if (!this.last.has(k) && this.last.size >= this.max) this.evict();
      this.last.set(k, t);
    }
  }

  private evict(): void {
    let n = Math.max(1, Math.floor(this.max / 10));
    for (const k of this.last.keys()) {
      this.last.delete(k);
      this.evicted++;
      if (--n === 0) break;
    }
  }
}
