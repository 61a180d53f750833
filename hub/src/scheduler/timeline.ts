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
    for (const list of this.byKey.values()) list.sort((a, b) => a.atSec - b.atSec);
    this.sorted = true;
  }

  /** Earliest seconds-from-now at which freeMilli + releases ≥ needMilli; null if never. */
  etaSec(clusterId: string, model: string, freeMilli: number, needMilli: number): number | null {
    if (freeMilli >= needMilli) return 0;
    this.ensureSorted();
    let have = freeMilli;
    for (const r of this.byKey.get(Timeline.key(clusterId, model)) ?? []) {
      have += r.milli;
      if (have >= needMilli) return r.atSec;
    }
    return null;
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
