import fc from 'fast-check';
import snappy from 'snappy';
import { describe, expect, it } from 'vitest';
import {
  compressProto,
  decodeWriteRequest,
  decodeWriteRequestReference,
  encodeWriteRequest,
  encodeWriteRequestProto,
  encodeWriteRequestReference,
  decodeLabelsKey,
  encodeLabelFields,
  fieldSize,
  RemoteWriteDecodeError,
  sampleFieldSize,
  scanWriteRequest,
  SeriesScan,
  sortLabels,
  writeTimeSeriesField,
} from './remote-write.ts';
import type { WriteRequest } from './remote-write.ts';

const sample: WriteRequest = {
  timeseries: [
    { labels: sortLabels([{ name: '__name__', value: 'DCGM_FI_DEV_GPU_UTIL' }, { name: 'gpu', value: '3' }]), samples: [{ value: 97.5, timestamp: 1_763_800_000_123 }] },
    { labels: [{ name: '__name__', value: 'up' }], samples: [{ value: 1, timestamp: 1 }, { value: 0, timestamp: 2 }] },
  ],
};

const arbRequest = fc.record({
  timeseries: fc.array(
    fc.record({
      labels: fc.array(fc.record({ name: fc.string({ maxLength: 30 }), value: fc.string({ unit: 'grapheme', maxLength: 40 }) }), { maxLength: 6 }),
      samples: fc.array(
        fc.record({
          value: fc.double({ noNaN: true }),
          timestamp: fc.oneof(fc.integer({ min: -(2 ** 40), max: 2 ** 45 }), fc.constant(0), fc.constant(Number.MAX_SAFE_INTEGER)),
        }),
        { maxLength: 5 },
      ),
    }),
    { maxLength: 8 },
  ),
});

describe('remote-write codec', () => {
  it('round-trips series, labels, values and millisecond timestamps', () => {
    expect(decodeWriteRequest(encodeWriteRequest(sample))).toEqual(sample);
  });

  it('sorts labels by name', () => {
    expect(sortLabels([{ name: 'b', value: '1' }, { name: '__name__', value: 'x' }, { name: 'a', value: '2' }]).map((l) => l.name)).toEqual([
      '__name__',
      'a',
      'b',
    ]);
  });

  it('rejects a body that is not snappy-compressed protobuf', () => {
    expect(() => decodeWriteRequest(Buffer.from('not snappy at all'))).toThrow(RemoteWriteDecodeError);
    expect(() => decodeWriteRequest(Buffer.alloc(0))).toThrow(/snappy/);
  });

  it('hand-written encoder and decoder agree with protobufjs on arbitrary requests', () => {
    fc.assert(
      fc.property(arbRequest, (req) => {
        // protobufjs is the reference: our bytes decode there, its bytes decode here, both to the same object
        const ours = encodeWriteRequest(req);
        const theirs = encodeWriteRequestReference(req);
        const norm = (r: WriteRequest) => ({ timeseries: r.timeseries.map((t) => ({ labels: t.labels, samples: t.samples.map((s) => ({ value: Object.is(s.value, -0) ? 0 : s.value, timestamp: s.timestamp })) })) });
        expect(norm(decodeWriteRequestReference(ours))).toEqual(norm(req));
        expect(norm(decodeWriteRequest(theirs))).toEqual(norm(req));
        expect(norm(decodeWriteRequest(ours))).toEqual(norm(req));
      }),
      { numRuns: 300 },
    );
  });

  it('concatenated WriteRequest protobufs decode as one request holding every series', () => {
    const a = encodeWriteRequestProto({ timeseries: [sample.timeseries[0]!] });
    const b = encodeWriteRequestProto({ timeseries: [sample.timeseries[1]!] });
    expect(decodeWriteRequest(compressProto(Buffer.concat([a, b])))).toEqual(sample);
  });

  it('names the layer that failed: snappy, protobuf or size', () => {
    const layer = (body: Buffer, max?: number) => {
      try {
        decodeWriteRequest(body, max === undefined ? {} : { maxUncompressedBytes: max });
        return 'ok';
      } catch (err) {
        return (err as RemoteWriteDecodeError).layer;
      }
    };
    expect(layer(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toBe('snappy');
    expect(layer(snappy.compressSync(Buffer.from('this is plain text, not protobuf')))).toBe('protobuf');
    // a series whose label length runs past the end
    expect(layer(snappy.compressSync(Buffer.from([0x0a, 0x05, 0x0a, 0x09, 0x0a])))).toBe('protobuf');
    // a truncated varint
    expect(layer(snappy.compressSync(Buffer.from([0x0a, 0xff])))).toBe('protobuf');
    expect(layer(encodeWriteRequest(sample), 10)).toBe('size');
    expect(layer(encodeWriteRequest(sample))).toBe('ok');
  });

  it('skips 1.0 metadata and exemplars but rejects unknown fields', () => {
    const proto = encodeWriteRequestProto(sample);
    const metadata = Buffer.from([0x1a, 0x02, 0x08, 0x01]); // WriteRequest.metadata { type: COUNTER }
    expect(decodeWriteRequest(compressProto(Buffer.concat([proto, metadata])))).toEqual(sample);
    const unknown = Buffer.from([0x28, 0x01]); // field 5 varint
    expect(() => decodeWriteRequest(compressProto(Buffer.concat([proto, unknown])))).toThrow(/unexpected WriteRequest field 5/);
  });

  it('scanning agrees with decoding: label keys decode to the labels, samples land in the flat arrays', () => {
    const scan = new SeriesScan();
    fc.assert(
      fc.property(arbRequest, (req) => {
        scanWriteRequest(encodeWriteRequestProto(req), scan);
        expect(scan.count).toBe(req.timeseries.length);
        req.timeseries.forEach((t, i) => {
          expect(decodeLabelsKey(scan.keys[i]!)).toEqual(t.labels.map((l) => ({ name: l.name, value: l.value })));
          expect(scan.sampleCount[i]).toBe(t.samples.length);
          t.samples.forEach((smp, k) => {
            expect(scan.ts[scan.sampleStart[i]! + k]).toBe(smp.timestamp);
            expect(Object.is(scan.val[scan.sampleStart[i]! + k], smp.value) || (smp.value === 0 && scan.val[scan.sampleStart[i]! + k] === 0)).toBe(true);
          });
        });
      }),
      { numRuns: 200 },
    );
  });

  it('identical label sets give identical keys, also when labels are interleaved with samples', () => {
    const labels = [{ name: '__name__', value: 'm' }, { name: 'a', value: '1' }];
    const normal = encodeWriteRequestProto({ timeseries: [{ labels, samples: [{ value: 1, timestamp: 5 }] }] });
    // hand-build: label, sample, label
    const l0 = encodeLabelFields([labels[0]!]);
    const l1 = encodeLabelFields([labels[1]!]);
    const sample = encodeWriteRequestProto({ timeseries: [{ labels: [], samples: [{ value: 1, timestamp: 5 }] }] }).subarray(2); // strip the series header
    const body = Buffer.concat([l0, sample, l1]);
    const interleaved = Buffer.concat([Buffer.from([0x0a, body.length]), body]);
    const scan = new SeriesScan();
    scanWriteRequest(normal, scan);
    const k1 = scan.keys[0];
    expect(scan.sampleBytesStart[0]).toBeGreaterThan(0);
    scanWriteRequest(interleaved, scan);
    expect(scan.keys[0]).toBe(k1);
    expect(scan.ts[0]).toBe(5);
  });

  it('writeTimeSeriesField re-encodes a series with new labels, from raw sample bytes or from kept samples', () => {
    const req = { timeseries: [{ labels: [{ name: '__name__', value: 'm' }], samples: [{ value: 1.5, timestamp: 10 }, { value: 2, timestamp: 20 }] }] };
    const raw = encodeWriteRequestProto(req);
    const scan = new SeriesScan();
    scanWriteRequest(raw, scan);
    const labels = encodeLabelFields([{ name: '__name__', value: 'm' }, { name: 'cluster', value: 'c' }]);
    const rawLen = scan.sampleBytesEnd[0]! - scan.sampleBytesStart[0]!;
    const out1 = Buffer.alloc(fieldSize(labels.length + rawLen));
    writeTimeSeriesField(out1, 0, labels, labels.length + rawLen, raw, scan.sampleBytesStart[0]!, scan.sampleBytesEnd[0]!, scan.ts, scan.val, new Int32Array(0), 0, 0);
    expect(decodeWriteRequest(compressProto(out1)).timeseries[0]).toEqual({ labels: [{ name: '__name__', value: 'm' }, { name: 'cluster', value: 'c' }], samples: req.timeseries[0]!.samples });
    const keep = Int32Array.from([1]);
    const body = labels.length + sampleFieldSize(2, 20); // tag + len + (9 value + 2 timestamp) = 13
    const out2 = Buffer.alloc(fieldSize(body));
    writeTimeSeriesField(out2, 0, labels, body, null, -1, -1, scan.ts, scan.val, keep, 0, 1);
    expect(decodeWriteRequest(compressProto(out2)).timeseries[0]!.samples).toEqual([{ value: 2, timestamp: 20 }]);
  });
});
