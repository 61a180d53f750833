import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWriteRequest, REMOTE_WRITE_HEADERS, sortLabels } from '@meridian/protocol/telemetry/remote-write';
import { PrometheusEngine } from './prometheus.ts';

describe('Prometheus engine', () => {
  let prom: PrometheusEngine;
  beforeAll(async () => {
    prom = await PrometheusEngine.start();
  });
  afterAll(async () => {
    await prom?.stop();
  });

  it('accepts a remote-written sample that PromQL then finds', async () => {
    const now = Date.now();
    const body = encodeWriteRequest({
      timeseries: [
        {
          labels: sortLabels([
            { name: '__name__', value: 'meridian_harness_check' },
            { name: 'cluster', value: 'region-a' },
            { name: 'gpu', value: '0' },
          ]),
          samples: [{ value: 42.5, timestamp: now }],
        },
      ],
    });
    const res = await fetch(prom.remoteWriteUrl, { method: 'POST', headers: REMOTE_WRITE_HEADERS, body });
    expect(res.status).toBe(204);
    const result = await prom.query('meridian_harness_check{cluster="region-a"}');
    expect(result).toHaveLength(1);
    expect(result[0]?.metric.gpu).toBe('0');
    expect(Number(result[0]?.value[1])).toBe(42.5);
  });

  it('rejects a remote-write body that is not snappy protobuf', async () => {
    const res = await fetch(prom.remoteWriteUrl, { method: 'POST', headers: REMOTE_WRITE_HEADERS, body: 'garbage' });
    expect(res.status).toBe(400);
  });
});
