import { describe, expect, it } from 'vitest';
import { decodeWriteRequest, encodeWriteRequest, sortLabels } from './remote-write.ts';

describe('remote-write codec', () => {
  it('round-trips series, labels, values and millisecond timestamps', () => {
    const req = {
      timeseries: [
        { labels: sortLabels([{ name: '__name__', value: 'DCGM_FI_DEV_GPU_UTIL' }, { name: 'gpu', value: '3' }]), samples: [{ value: 97.5, timestamp: 1_763_800_000_123 }] },
        { labels: [{ name: '__name__', value: 'up' }], samples: [{ value: 1, timestamp: 1 }, { value: 0, timestamp: 2 }] },
      ],
    };
    expect(decodeWriteRequest(encodeWriteRequest(req))).toEqual(req);
  });

  it('sorts labels by name', () => {
    expect(sortLabels([{ name: 'b', value: '1' }, { name: '__name__', value: 'x' }, { name: 'a', value: '2' }]).map((l) => l.name)).toEqual([
      '__name__',
      'a',
      'b',
    ]);
  });

  it('rejects a body that is not snappy-compressed protobuf', () => {
    expect(() => decodeWriteRequest(Buffer.from('not snappy at all'))).toThrow();
  });
});
