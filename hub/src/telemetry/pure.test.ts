import { describe, expect, it } from 'vitest';
import { commitSeries, newSeriesState, planSamples, SeriesCache } from './series-cache.ts';
import type { SeriesState } from './series-cache.ts';
import { TenantRateLimiter } from './limits.ts';
import { jobRefOf, tenantExtras, withTenantLabels } from './tenant.ts';
import type { ValidationError } from './validate.ts';
import { validateSeries } from './validate.ts';


describe('series cache dedup', () => {
  const st = () => newSeriesState([], [], Buffer.alloc(0));
  const plan = (s: SeriesState, epoch: number, ts: number[]) => {
    const keep = new Int32Array(ts.length);
    const n = planSamples(s, epoch, Float64Array.from(ts), 0, ts.length, keep, 0);
    return [...keep.slice(0, n)];
  };

  it('keeps only samples after the series last timestamp; planning changes nothing until commit', () => {
    const a = st();
    expect(plan(a, 1, [1, 2, 3])).toEqual([0, 1, 2]);
    expect(a.lastTs).toBe(-Infinity);
    expect(plan(a, 2, [1, 2, 3])).toEqual([0, 1, 2]); // request 1 was never committed
    commitSeries([a]);
    expect(plan(a, 3, [2, 3, 4])).toEqual([2]);
  });

  it('handles a series appearing twice in one request (concatenated WAL records)', () => {
    const a = st();
    expect(plan(a, 1, [1])).toEqual([0]);
    expect(plan(a, 1, [2])).toEqual([0]);
    expect(plan(a, 1, [2])).toEqual([]);
    commitSeries([a]);
    expect(a.lastTs).toBe(2);
  });

  it('drops out-of-order samples inside a series', () => {
    expect(plan(st(), 1, [1, 3, 2, 4])).toEqual([0, 1, 3]);
  });

  it('stays bounded per tenant', () => {
    const c = new SeriesCache({ maxSeriesPerTenant: 100 });
    const t = c.tenant('x');
    for (let i = 0; i < 1000; i++) c.add(t, `s${i}`, st());
    expect(t.size).toBeLessThanOrEqual(100);
    expect(c.evicted).toBeGreaterThan(0);
  });
});

describe('TenantRateLimiter', () => {
  it('admits up to the burst, then refuses with the time until the debt is repaid', () => {
    const l = new TenantRateLimiter(() => ({ samplesPerSecond: 100, burstSamples: 200 }));
    expect(l.take('c', 150, 0)).toEqual({ ok: true });
    expect(l.take('c', 150, 0)).toEqual({ ok: true }); // 50 left → goes to -100
    expect(l.take('c', 1, 0)).toEqual({ ok: false, retryAfterMs: 1000, limit: 100 });
    expect(l.take('c', 1, 500)).toEqual({ ok: false, retryAfterMs: 500, limit: 100 });
    expect(l.take('c', 1, 1000)).toEqual({ ok: true });
    // tenants are independent
    expect(l.take('other', 150, 0)).toEqual({ ok: true });
  });

  it('a request larger than the burst still passes once', () => {
    const l = new TenantRateLimiter(() => ({ samplesPerSecond: 10, burstSamples: 10 }));
    expect(l.take('c', 1000, 0).ok).toBe(true);
    expect(l.take('c', 1, 1000).ok).toBe(false);
  });

  it('no limit for a tenant → always admitted', () => {
    const l = new TenantRateLimiter(() => null);
    expect(l.take('c', 1e9, 0).ok).toBe(true);
  });
});

describe('tenant labels', () => {
  const labels = [
    { name: 'Hostname', value: 'n1' },
    { name: '__name__', value: 'DCGM_FI_DEV_GPU_UTIL' },
    { name: 'cluster', value: 'spoofed' },
    { name: 'gpu', value: '0' },
    { name: 'meridian_job_id', value: 'j-1' },
    { name: 'region', value: 'spoofed' },
  ];

  it('replaces agent-sent tenant labels and keeps labels sorted', () => {
    const out = withTenantLabels(labels, tenantExtras({ clusterId: 'c1', region: 'eu' }, 'proj'));
    expect(out.map((l) => `${l.name}=${l.value}`)).toEqual(['Hostname=n1', '__name__=DCGM_FI_DEV_GPU_UTIL', 'cluster=c1', 'gpu=0', 'meridian_job_id=j-1', 'project=proj', 'region=eu']);
    const names = out.map((l) => l.name);
    expect([...names].sort()).toEqual(names);
  });

  it('finds job references', () => {
    expect(jobRefOf(labels, 'c1')).toEqual({ clusterId: 'c1', jobId: 'j-1' });
    expect(jobRefOf([{ name: 'slurm_job_id', value: '42' }], 'c')).toEqual({ clusterId: 'c', slurmJobId: '42' });
    expect(jobRefOf([{ name: 'gpu', value: '0' }], 'c')).toBeNull();
  });
});

describe('validateSeries', () => {
  const now = 1_763_800_000_000;
  const ok = { labels: [{ name: '__name__', value: 'up' }, { name: 'job', value: 'x' }], samples: [{ value: 1, timestamp: now }] };
  const err = (series: unknown[]) => {
    try {
      validateSeries(series as never, now);
      return null;
    } catch (e) {
      return e as ValidationError;
    }
  };

  it('accepts well-formed series and counts samples', () => {
    expect(validateSeries([ok, ok], now)).toBe(2);
  });

  it('names the series, the field and the fix', () => {
    const unsorted = err([ok, { labels: [{ name: '__name__', value: 'up' }, { name: 'z', value: '1' }, { name: 'a', value: '2' }], samples: [] }]);
    expect(unsorted?.message).toMatch(/timeseries\[1\] \(up\): labels are not sorted by name \("a" comes after "z"\); sort labels/);
    expect(unsorted?.field).toBe('labels.a');
    expect(err([{ labels: [], samples: [] }])?.message).toMatch(/no labels/);
    expect(err([{ labels: [{ name: 'job', value: 'x' }], samples: [] }])?.message).toMatch(/no __name__/);
    expect(err([{ labels: [{ name: '__name__', value: '1bad' }], samples: [] }])?.message).toMatch(/invalid metric name/);
    expect(err([{ labels: [{ name: '__name__', value: 'up' }, { name: 'bad-name', value: 'x' }], samples: [] }])?.message).toMatch(/invalid label name "bad-name"/);
    expect(err([{ labels: [{ name: '__name__', value: 'up' }, { name: 'a', value: '1' }, { name: 'a', value: '2' }], samples: [] }])?.message).toMatch(/twice/);
    expect(err([{ labels: [{ name: '__name__', value: 'up' }, { name: 'a', value: '' }], samples: [] }])?.message).toMatch(/empty value/);
    expect(err([{ ...ok, samples: [{ value: 1, timestamp: now + 3_600_000 }] }])?.message).toMatch(/3600 s in the future/);
    expect(err([{ ...ok, samples: [{ value: 1, timestamp: 0 }] }])?.field).toBe('samples[0].timestamp');
  });
});
