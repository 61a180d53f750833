// When will capacity free up? Running jobs end at startedAt + expectedRuntimeSec; summing those releases
// per cluster and GPU model gives a step function used for ETAs and backfill shadow times. It is an
// estimate (it ignores node-level fit), which is why reasons say "~".

export interface Release {
  /** Seconds from now. */
  atSec: number;
  milli: number;
}

export class Timeline {
  private readonly byKey = new Map<string, Release[]>();
  /**
   * Per key, running totals of released milli in time order, so etaSec is a binary search instead of a
   * walk over every running job of the model (it runs for every non-fitting target of every job).
   * Totals are kept only where every release is a whole number of milli (always, for valid input), so
   * they are exact and the answer equals the walk's; other keys still walk.
   */
  private readonly cum = new Map<string, Float64Array>();
  private sorted = true;

  static key(clusterId: string, model: string): string {
    return `${clusterId}\u0000${model}`;
  }

  add(clusterId: string, model: string, atSec: number, milli: number): void {
    const k = Timeline.key(clusterId, model);
    let list = this.byKey.get(k);
    if (!list) this.byKey.set(k, (list = []));
    list.push({ atSec: Math.max(0, atSec), milli });
    this.sorted = false;
  }

  private ensureSorted(): void {
    if (this.sorted) return;
    this.cum.clear();
    for (const [k, list] of this.byKey) {
      list.sort((a, b) => a.atSec - b.atSec);
      const c = new Float64Array(list.length);
      let s = 0;
      let exact = true;
      for (let i = 0; i < list.length; i++) {
        const m = list[i]!.milli;
        if (!Number.isSafeInteger(m) || m < 0) exact = false;
        c[i] = s += m;
      }
      if (exact && Number.isSafeInteger(s)) this.cum.set(k, c);
    }
    this.sorted = true;
  }

  /** Earliest seconds-from-now at which freeMilli + releases ≥ needMilli; null if never. */
  etaSec(clusterId: string, model: string, freeMilli: number, needMilli: number): number | null {
    return this.etaSecAt(Timeline.key(clusterId, model), freeMilli, needMilli);
  }

  /** etaSec by a key from Timeline.key, which callers on hot paths build once (ModelIndex.timelineKey). */
  etaSecAt(k: string, freeMilli: number, needMilli: number): number | null {
    if (freeMilli >= needMilli) return 0;
    this.ensureSorted();
    const c = this.cum.get(k);
    if (!c || !Number.isSafeInteger(freeMilli)) {
      let have = freeMilli;
      for (const r of this.byKey.get(k) ?? []) {
        have += r.milli;
        if (have >= needMilli) return r.atSec;
      }
      return null;
    }
    if (c.length === 0 || freeMilli + c[c.length - 1]! < needMilli) return null;
    // First release after which freeMilli plus the released total reaches needMilli (totals only grow).
    let lo = 0;
    let hi = c.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (freeMilli + c[mid]! >= needMilli) hi = mid;
      else lo = mid + 1;
    }
    return this.byKey.get(k)![lo]!.atSec;
  }

  /** Capacity released by time t (seconds from now). */
  releasedBy(clusterId: string, model: string, atSec: number): number {
    this.ensureSorted();
    let s = 0;
    for (const r of this.byKey.get(Timeline.key(clusterId, model)) ?? []) {
      if (r.atSec > atSec) break;
      s += r.milli;
    }
    return s;
  }

  /** First release strictly after now on that cluster/model, or null. */
  nextRelease(clusterId: string, model: string): number | null {
    this.ensureSorted();
    const list = this.byKey.get(Timeline.key(clusterId, model));
    return list && list.length ? list[0]!.atSec : null;
  }
}
