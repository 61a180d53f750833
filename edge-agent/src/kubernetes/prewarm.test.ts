import { describe, expect, it } from 'vitest';
import { copyJob, expectedSeconds, jobProgress, prewarmConfig, prewarmJobName } from './prewarm.ts';

describe('prewarm copy Job', () => {
  it('expects size / bandwidth seconds, at least 1 and capped', () => {
    expect(expectedSeconds(20e9, { bytesPerSec: 2e9, maxSeconds: 3600 })).toBe(10);
    expect(expectedSeconds(0, { bytesPerSec: 2e9, maxSeconds: 3600 })).toBe(1);
    expect(expectedSeconds(1e15, { bytesPerSec: 1e9, maxSeconds: 600 })).toBe(600);
  });

  it('names one DNS-1123 Job per dataset and labels it', () => {
    expect(prewarmJobName('ImageNet_1k.v2')).toMatch(/^pw-imagenet-1k-v2-[0-9a-f]{8}$/);
    expect(prewarmJobName('x'.repeat(300)).length).toBeLessThanOrEqual(63);
    expect(prewarmJobName('a')).not.toBe(prewarmJobName('A'));
    const cfg = prewarmConfig({});
    const j = copyJob({ kind: 'prewarm', dataset: 'imagenet', sizeBytes: 5e9, source: 'near' }, 'ns', cfg);
    expect(j.metadata).toMatchObject({ namespace: 'ns', labels: { 'meridian.dev/prewarm': 'imagenet', 'app.kubernetes.io/managed-by': 'meridian' } });
    expect(j.spec?.template.metadata?.annotations?.['kwok.meridian.dev/run-duration']).toBe('5s');
    expect(j.spec?.template.spec?.containers[0]?.env).toContainEqual({ name: 'MERIDIAN_DATASET_SOURCE', value: 'near' });
    expect(j.spec?.template.spec?.containers[0]?.image).toBe('busybox:1.36');
  });

  it('reads image, command and bandwidth from the environment, naming a bad variable and the fix', () => {
    const cfg = prewarmConfig({ MERIDIAN_PREWARM_IMAGE: 'rclone/rclone:1.68', MERIDIAN_PREWARM_COMMAND: '["rclone","copy","a","b"]', MERIDIAN_PREWARM_BYTES_PER_SEC: '5e8' });
    expect(cfg).toMatchObject({ image: 'rclone/rclone:1.68', command: ['rclone', 'copy', 'a', 'b'], bytesPerSec: 5e8 });
    expect(() => prewarmConfig({ MERIDIAN_PREWARM_COMMAND: 'rclone copy a b' })).toThrow(/MERIDIAN_PREWARM_COMMAND must be a JSON array of strings/);
    expect(() => prewarmConfig({ MERIDIAN_PREWARM_BYTES_PER_SEC: 'fast' })).toThrow(/MERIDIAN_PREWARM_BYTES_PER_SEC must be a number/);
    expect(() => prewarmConfig({ MERIDIAN_PREWARM_MAX_SECONDS: '0' })).toThrow(/MERIDIAN_PREWARM_MAX_SECONDS must be > 0/);
  });

  it('reports progress as elapsed / expected, then the outcome', () => {
    const base = { metadata: { name: 'pw-x', annotations: { 'meridian.dev/prewarm-expected-seconds': '10' } } };
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    expect(jobProgress({ ...base, status: { startTime: new Date(t0) } }, t0 + 4000)).toEqual({ phase: 'Running', percent: 40 });
    expect(jobProgress({ ...base, status: { startTime: new Date(t0) } }, t0 + 60_000)).toEqual({ phase: 'Running', percent: 99 });
    expect(jobProgress({ ...base, status: { succeeded: 1 } }, t0)).toEqual({ phase: 'Succeeded', percent: 100 });
    const failed = jobProgress({ ...base, status: { conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' }] } }, t0);
    expect(failed).toMatchObject({ phase: 'Failed', reason: expect.stringMatching(/pw-x failed: BackoffLimitExceeded/) });
  });
});
