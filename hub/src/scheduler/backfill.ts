// EASY-style backfill. When a gang at the head of the line cannot start, it holds a reservation on the
// (cluster, GPU model) where it will fit soonest: the "shadow time" at which running jobs will have
// freed enough. Later jobs may still start there only if they finish before the shadow time, or if they
// use only the "extra" capacity the gang will not need. Filler work is exempt because it is evicted the
// moment the gang is ready, so it can never delay it.
import type { Tier } from './model.ts';
import type { Timeline } from './timeline.ts';

export interface Reservation {
  jobId: string;
  clusterId: string;
  model: string;
  needMilli: number;
  shadowSec: number;
  extraMilli: number;
}

export class Reservations {
  private readonly byKey = new Map<string, Reservation>();

  private static key(clusterId: string, model: string): string {
    return `${clusterId}\u0000${model}`;
  }

  /** Hold capacity for a blocked gang unless that cluster/model is already held. Returns the reservation. */
  hold(jobId: string, clusterId: string, model: string, freeMilli: number, needMilli: number, tl: Timeline): Reservation | null {
    const k = Reservations.key(clusterId, model);
    if (this.byKey.has(k)) return null;
    const shadow = tl.etaSec(clusterId, model, freeMilli, needMilli);
    if (shadow === null) return null;
    const r: Reservation = {
      jobId,
      clusterId,
      model,
      needMilli,
      shadowSec: shadow,
      extraMilli: Math.max(0, freeMilli + tl.releasedBy(clusterId, model, shadow) - needMilli),
    };
    this.byKey.set(k, r);
    return r;
  }

  get(clusterId: string, model: string): Reservation | undefined {
    return this.byKey.get(Reservations.key(clusterId, model));
  }

  /**
   * The reservation that forbids this start, or null when it may start (consuming extra capacity
   * if it runs past the shadow time).
   */
  blocker(clusterId: string, model: string | null, tier: Tier, runtimeSec: number, milli: number): Reservation | null {
    if (model === null || tier === 'filler') return null;
    const r = this.byKey.get(Reservations.key(clusterId, model));
    if (!r) return null;
    if (runtimeSec <= r.shadowSec) return null;
    if (milli <= r.extraMilli) return null;
    return r;
  }

  /** Record a long job started in the extra capacity. */
  consume(clusterId: string, model: string | null, tier: Tier, runtimeSec: number, milli: number): void {
    if (model === null || tier === 'filler') return;
    const r = this.byKey.get(Reservations.key(clusterId, model));
    if (r && runtimeSec > r.shadowSec) r.extraMilli -= milli;
  }

  all(): Reservation[] {
    return [...this.byKey.values()];
  }
}
