// Per-tenant sample-rate limits (pure; the caller passes the clock). A token bucket that may go into debt:
// a request is admitted while the bucket is not negative and its samples are then taken, so one request
// larger than the burst still gets through (and the next waits for the debt to be repaid) instead of
// never fitting. Refused requests get Retry-After = time until the bucket is back to zero.

export interface RateLimit {
  samplesPerSecond: number;
  /** bucket size (default: 10 s worth of samples, so a catch-up after an outage drains quickly) */
  burstSamples?: number;
}

export type LimitDecision = { ok: true } | { ok: false; retryAfterMs: number; limit: number };

interface Bucket {
  tokens: number;
  at: number;
}

export class TenantRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly limitFor: (tenant: string) => RateLimit | null) {}

  /** Admits `samples` for `tenant` at time `now` (ms), or says how long to wait. */
  take(tenant: string, samples: number, now: number): LimitDecision {
    const limit = this.limitFor(tenant);
    if (!limit || !(limit.samplesPerSecond > 0)) return { ok: true };
    const burst = limit.burstSamples ?? limit.samplesPerSecond * 10;
    let b = this.buckets.get(tenant);
    if (!b) {
      b = { tokens: burst, at: now };
      this.buckets.set(tenant, b);
    }
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * limit.samplesPerSecond);
    b.at = now;
    if (b.tokens < 0) {
      return { ok: false, retryAfterMs: Math.ceil((-b.tokens / limit.samplesPerSecond) * 1000), limit: limit.samplesPerSecond };
    }
    b.tokens -= samples;
    return { ok: true };
  }
}
