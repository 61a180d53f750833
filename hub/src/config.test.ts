// Hub configuration: the dispatch withdraw timeout's default, value and refusal.
import { describe, expect, it } from 'vitest';
import { dispatchWaitTimeoutMs } from './config.ts';

describe('MERIDIAN_DISPATCH_WAIT_TIMEOUT_MS', () => {
  it('defaults to two minutes and takes whole milliseconds; 0 never withdraws', () => {
    expect(dispatchWaitTimeoutMs(undefined)).toBe(120_000);
    expect(dispatchWaitTimeoutMs('')).toBe(120_000);
    expect(dispatchWaitTimeoutMs('8000')).toBe(8000);
    expect(dispatchWaitTimeoutMs('0')).toBe(0);
  });

  it.each(['2m', '-1', '1.5', 'soon'])('refuses %j, naming the variable and the fix', (v) => {
    expect(() => dispatchWaitTimeoutMs(v)).toThrow(/MERIDIAN_DISPATCH_WAIT_TIMEOUT_MS=.*whole milliseconds, e\.g\. 120000/);
  });
});
