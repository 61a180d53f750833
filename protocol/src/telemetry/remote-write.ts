// Prometheus remote-write 1.0 wire format: a snappy-compressed (block format) protobuf WriteRequest,
// POSTed with Content-Encoding: snappy and X-Prometheus-Remote-Write-Version: 0.1.0.
// Shared by the agent (encode) and the hub receiver (decode) so both speak exactly one schema.
//
// The hot paths (encodeWriteRequest / decodeWriteRequest) are hand-written for this fixed, five-field schema:
// protobufjs' reflection-based fromObject/encode/decode/toObject was ~5× slower and dominated the hub's ingest
// profile. The protobufjs schema stays as the reference implementation (decodeWriteRequestReference /
// encodeWriteRequestReference); the tests cross-check both directions against it.
import protobuf from 'protobufjs';
import snappy from 'snappy';

export interface Label {
  name: string;
  value: string;
}
export interface Sample {
  value: number;
  /** Milliseconds since the epoch. */
  timestamp: number;
}
export interface TimeSeries {
  labels: Label[];
  samples: Sample[];
}
export interface WriteRequest {
  timeseries: TimeSeries[];
}

const root = protobuf.Root.fromJSON({
  nested: {
    prometheus: {
      nested: {
        WriteRequest: { fields: { timeseries: { rule: 'repeated', type: 'TimeSeries', id: 1 } } },
        TimeSeries: {
          fields: {
            labels: { rule: 'repeated', type: 'Label', id: 1 },
            samples: { rule: 'repeated', type: 'Sample', id: 2 },
          },
        },
        Label: { fields: { name: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
        Sample: { fields: { value: { type: 'double', id: 1 }, timestamp: { type: 'int64', id: 2 } } },
      },
    },
  },
});
const WriteRequestType = root.lookupType('prometheus.WriteRequest');

export const REMOTE_WRITE_HEADERS = {
  'content-type': 'application/x-protobuf',
  'content-encoding': 'snappy',
  'x-prometheus-remote-write-version': '0.1.0',
} as const;

/** Thrown for a body that is not a valid snappy-compressed remote-write 1.0 WriteRequest. */
export class RemoteWriteDecodeError extends Error {
  constructor(
    message: string,
    /** 'snappy' when decompression failed, 'protobuf' when the payload is not a WriteRequest, 'size' when over a limit */
    readonly layer: 'snappy' | 'protobuf' | 'size',
  ) {
    super(message);
    this.name = 'RemoteWriteDecodeError';
  }
}

/** Labels must be sorted by name for Prometheus to accept a series. */
export function sortLabels(labels: Label[]): Label[] {
  return [...labels].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------- encoding

const utf8 = new TextEncoder();

function varintSize(n: number): number {
  // n is a non-negative safe integer
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  let size = 4;
  n = Math.floor(n / 0x10000000);
  while (n > 0) {
    size++;
    n = Math.floor(n / 0x80);
  }
  return size;
}

function int64Size(n: number): number {
  return n < 0 ? 10 : varintSize(n);
}

class Writer {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(n: number): void {
    const buf = this.buf;
    while (n >= 0x80) {
      buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    buf[this.pos++] = n;
  }

  int64(n: number): void {
    if (n >= 0) {
      this.varint(n);
      return;
    }
    // two's complement over 64 bits, ten bytes
    const big = BigInt.asUintN(64, BigInt(n));
    let v = big;
    for (let i = 0; i < 9; i++) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  double(v: number): void {
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

/** Per-string encoding cache: label names and most label values repeat across series and scrapes. */
const encodeCache = new Map<string, Uint8Array>();
const ENCODE_CACHE_MAX = 50_000;

function strBytes(s: string): Uint8Array {
  let b = encodeCache.get(s);
  if (b === undefined) {
    b = utf8.encode(s);
    if (encodeCache.size >= ENCODE_CACHE_MAX) encodeCache.clear();
    encodeCache.set(s, b);
  }
  return b;
}

function labelSize(l: Label): number {
  const n = strBytes(l.name).length;
  const v = strBytes(l.value).length;
  // field 1 (name) and field 2 (value), each: tag + length + bytes; proto3 omits empty strings
  return (n ? 1 + varintSize(n) + n : 0) + (v ? 1 + varintSize(v) + v : 0);
}

function sampleSize(s: Sample): number {
  return (s.value !== 0 || Object.is(s.value, -0) ? 9 : 0) + (s.timestamp !== 0 ? 1 + int64Size(s.timestamp) : 0);
}

/** Protobuf bytes of a WriteRequest (not compressed). Concatenating two of these is a valid WriteRequest of both. */
export function encodeWriteRequestProto(req: WriteRequest): Buffer {
  const series = req.timeseries;
  const seriesSizes = new Array<number>(series.length);
  let total = 0;
  for (let i = 0; i < series.length; i++) {
    const ts = series[i]!;
    let size = 0;
    for (const l of ts.labels) {
      const ls = labelSize(l);
      size += 1 + varintSize(ls) + ls;
    }
    for (const s of ts.samples) {
      const ss = sampleSize(s);
      size += 1 + varintSize(ss) + ss;
    }
    seriesSizes[i] = size;
    total += 1 + varintSize(size) + size;
  }
  const w = new Writer(Buffer.allocUnsafe(total));
  for (let i = 0; i < series.length; i++) {
    const ts = series[i]!;
    w.buf[w.pos++] = 0x0a; // field 1, length-delimited
    w.varint(seriesSizes[i]!);
    for (const l of ts.labels) {
      w.buf[w.pos++] = 0x0a;
      w.varint(labelSize(l));
      const n = strBytes(l.name);
      if (n.length) {
        w.buf[w.pos++] = 0x0a;
        w.varint(n.length);
        w.bytes(n);
      }
      const v = strBytes(l.value);
      if (v.length) {
        w.buf[w.pos++] = 0x12;
        w.varint(v.length);
        w.bytes(v);
      }
    }
    for (const s of ts.samples) {
      w.buf[w.pos++] = 0x12; // field 2, length-delimited
      w.varint(sampleSize(s));
      if (s.value !== 0 || Object.is(s.value, -0)) {
        w.buf[w.pos++] = 0x09; // field 1, fixed64
        w.double(s.value);
      }
      if (s.timestamp !== 0) {
        w.buf[w.pos++] = 0x10; // field 2, varint
        w.int64(s.timestamp);
      }
    }
  }
  return w.buf;
}

/** snappy-compresses WriteRequest protobuf bytes (e.g. several concatenated encodeWriteRequestProto results). */
export function compressProto(proto: Uint8Array): Buffer {
  return snappy.compressSync(proto);
}

export function encodeWriteRequest(req: WriteRequest): Buffer {
  return snappy.compressSync(encodeWriteRequestProto(req));
}

// ---------------------------------------------------------------------------------------------- decoding

export interface DecodeOptions {
  /** Refuse bodies that decompress to more than this many bytes (read from the snappy header first). Default 64 MiB. */
  maxUncompressedBytes?: number;
}

const DEFAULT_MAX_UNCOMPRESSED = 64 * 1024 * 1024;

/** The uncompressed length a snappy block declares in its varint preamble (or null when the preamble is garbage). */
export function snappyDeclaredLength(body: Uint8Array): number | null {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 5 && i < body.length; i++) {
    const b = body[i]!;
    result += (b & 0x7f) * mul;
    if (b < 0x80) return result;
    mul *= 0x80;
  }
  return null;
}

export function decompressBody(body: Uint8Array, opts: DecodeOptions = {}): Buffer {
  const max = opts.maxUncompressedBytes ?? DEFAULT_MAX_UNCOMPRESSED;
  const declared = snappyDeclaredLength(body);
  if (declared === null || body.length === 0) throw new RemoteWriteDecodeError('body is not snappy block-compressed: bad length preamble', 'snappy');
  if (declared > max) throw new RemoteWriteDecodeError(`body decompresses to ${declared} bytes, over the ${max}-byte limit; send smaller batches`, 'size');
  try {
    return snappy.uncompressSync(body, { asBuffer: true }) as Buffer;
  } catch (err) {
    throw new RemoteWriteDecodeError(`body is not snappy block-compressed: ${(err as Error).message}`, 'snappy');
  }
}

const decodeCache = new Map<number, string[]>();

class Reader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    public end: number,
  ) {}

  fail(what: string): never {
    throw new RemoteWriteDecodeError(`payload is not a remote-write 1.0 WriteRequest: ${what} at byte ${this.pos}`, 'protobuf');
  }

  varint(): number {
    const buf = this.buf;
    let b = buf[this.pos++]!;
    if (b < 0x80 && this.pos <= this.end) return b;
    let result = b & 0x7f;
    let mul = 0x80;
    for (let i = 1; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      b = buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 0x80;
    }
    this.fail('varint longer than 10 bytes');
  }

  /** int64 as a JS number; negative values (ten-byte two's complement) handled exactly where safe. */
  int64(): number {
    const start = this.pos;
    const v = this.varint();
    if (this.pos - start === 10 || v >= 2 ** 63) {
      // negative: reinterpret the 64-bit value
      let big = 0n;
      for (let i = this.pos - 1; i >= start; i--) big = (big << 7n) | BigInt(this.buf[i]! & 0x7f);
      return Number(BigInt.asIntN(64, big));
    }
    return v;
  }

  len(): number {
    const n = this.varint();
    if (this.pos + n > this.end) this.fail(`length ${n} runs past the end of its message`);
    return n;
  }

  str(): string {
    const n = this.len();
    const start = this.pos;
    this.pos += n;
    if (n === 0) return '';
    if (n <= 24) {
      // short strings repeat a lot (label names, GPU indexes, hostnames): intern by a cheap hash
      const buf = this.buf;
      let h = n;
      let ascii = true;
      for (let i = start; i < start + n; i++) {
        const c = buf[i]!;
        if (c >= 0x80) ascii = false;
        h = (Math.imul(h, 31) + c) | 0;
      }
      if (ascii) {
        const bucket = decodeCache.get(h);
        if (bucket !== undefined) {
          for (const s of bucket) {
            if (s.length !== n) continue;
            let same = true;
            for (let i = 0; i < n; i++) {
              if (s.charCodeAt(i) !== buf[start + i]) {
                same = false;
                break;
              }
            }
            if (same) return s;
          }
        }
        const s = buf.toString('latin1', start, start + n);
        if (bucket === undefined) {
          if (decodeCache.size > 100_000) decodeCache.clear();
          decodeCache.set(h, [s]);
        } else if (bucket.length < 4) bucket.push(s);
        return s;
      }
    }
    return this.buf.toString('utf8', start, start + n);
  }

  /** Skips a length-delimited field the schema knows but we do not need (1.0 metadata, exemplars, histograms). */
  skipKnown(tag: number): void {
    if ((tag & 7) !== 2) this.fail(`field ${tag >> 3} has wire type ${tag & 7}, expected 2`);
    const n = this.len();
    this.pos += n;
  }
}

function decodeLabel(r: Reader, end: number): Label {
  let name = '';
  let value = '';
  const outer = r.end;
  r.end = end;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x0a) name = r.str();
    else if (tag === 0x12) value = r.str();
    else r.fail(`unexpected Label field ${tag >> 3} (wire type ${tag & 7})`);
  }
  r.end = outer;
  return { name, value };
}

function decodeSample(r: Reader, end: number): Sample {
  let value = 0;
  let timestamp = 0;
  const outer = r.end;
  r.end = end;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x09) {
      if (r.pos + 8 > end) r.fail('truncated double');
      value = r.buf.readDoubleLE(r.pos);
      r.pos += 8;
    } else if (tag === 0x10) timestamp = r.int64();
    else r.fail(`unexpected Sample field ${tag >> 3} (wire type ${tag & 7})`);
  }
  r.end = outer;
  return { value, timestamp };
}

function decodeSeries(r: Reader, end: number): TimeSeries {
  const labels: Label[] = [];
  const samples: Sample[] = [];
  const outer = r.end;
  r.end = end;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x0a) {
      const n = r.len();
      labels.push(decodeLabel(r, r.pos + n));
    } else if (tag === 0x12) {
      const n = r.len();
      samples.push(decodeSample(r, r.pos + n));
    } else if (tag >> 3 === 3 || tag >> 3 === 4) r.skipKnown(tag); // exemplars, native histograms
    else r.fail(`unexpected TimeSeries field ${tag >> 3} (wire type ${tag & 7})`);
  }
  r.end = outer;
  return { labels, samples };
}

/** Decodes WriteRequest protobuf bytes (already decompressed). Metadata, exemplars and histograms are skipped; any other field is an error. */
export function decodeWriteRequestProto(raw: Buffer): WriteRequest {
  const r = new Reader(raw, raw.length);
  const timeseries: TimeSeries[] = [];
  while (r.pos < raw.length) {
    const tag = r.varint();
    if (tag === 0x0a) {
      const n = r.len();
      timeseries.push(decodeSeries(r, r.pos + n));
    } else if (tag >> 3 === 3) r.skipKnown(tag); // metadata
    else r.fail(`unexpected WriteRequest field ${tag >> 3} (wire type ${tag & 7})`);
  }
  if (r.pos !== raw.length) r.fail('trailing bytes');
  return { timeseries };
}

export function decodeWriteRequest(body: Uint8Array, opts: DecodeOptions = {}): WriteRequest {
  return decodeWriteRequestProto(decompressBody(body, opts));
}

// ---------------------------------------------------------------------------------------------- reference (protobufjs)

export function encodeWriteRequestReference(req: WriteRequest): Buffer {
  const proto = WriteRequestType.encode(WriteRequestType.fromObject(req)).finish();
  return snappy.compressSync(Buffer.from(proto.buffer, proto.byteOffset, proto.byteLength));
}

export function decodeWriteRequestReference(body: Buffer): WriteRequest {
  const raw = snappy.uncompressSync(body, { asBuffer: true }) as Buffer;
  const msg = WriteRequestType.decode(raw);
  return WriteRequestType.toObject(msg, { longs: Number, defaults: true }) as WriteRequest;
}

// ---------------------------------------------------------------------------------------------- scanning (receiver fast path)

/**
 * A scanned WriteRequest: per series, the raw bytes of its label fields as a latin1 string (identical label
 * sets give identical keys, so a receiver can cache everything it derives from the labels and decode them
 * only the first time), and its samples in flat typed arrays. Reused across requests to avoid garbage.
 */
export class SeriesScan {
  count = 0;
  samples = 0;
  keys: string[] = [];
  /** index of series i's first sample in ts/val; series i has sampleCount[i] samples */
  sampleStart = new Int32Array(1024);
  sampleCount = new Int32Array(1024);
  /** byte range of series i's sample fields in the scanned buffer when contiguous, else -1 */
  sampleBytesStart = new Int32Array(1024);
  sampleBytesEnd = new Int32Array(1024);
  ts = new Float64Array(8192);
  val = new Float64Array(8192);

  reset(): void {
    this.count = 0;
    this.samples = 0;
  }

  private growSeries(): void {
    const n = this.sampleStart.length * 2;
    const g = (a: Int32Array) => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    this.sampleStart = g(this.sampleStart);
    this.sampleCount = g(this.sampleCount);
    this.sampleBytesStart = g(this.sampleBytesStart);
    this.sampleBytesEnd = g(this.sampleBytesEnd);
  }

  private growSamples(): void {
    const n = this.ts.length * 2;
    const t = new Float64Array(n);
    t.set(this.ts);
    const v = new Float64Array(n);
    v.set(this.val);
    this.ts = t;
    this.val = v;
  }

  /** @internal */
  addSeries(key: string, first: number, count: number, bytesStart: number, bytesEnd: number): void {
    if (this.count === this.sampleStart.length) this.growSeries();
    const i = this.count++;
    this.keys[i] = key;
    this.sampleStart[i] = first;
    this.sampleCount[i] = count;
    this.sampleBytesStart[i] = bytesStart;
    this.sampleBytesEnd[i] = bytesEnd;
  }

  /** @internal */
  addSample(value: number, timestamp: number): void {
    if (this.samples === this.ts.length) this.growSamples();
    this.ts[this.samples] = timestamp;
    this.val[this.samples] = value;
    this.samples++;
  }
}

/** Scans WriteRequest protobuf bytes into `scan` (reset first). Throws RemoteWriteDecodeError like decodeWriteRequestProto. */
export function scanWriteRequest(raw: Buffer, scan: SeriesScan): void {
  scan.reset();
  const r = new Reader(raw, raw.length);
  while (r.pos < raw.length) {
    const tag = r.varint();
    if (tag === 0x0a) {
      const n = r.len();
      scanSeries(r, r.pos + n, scan);
    } else if (tag >> 3 === 3) r.skipKnown(tag);
    else r.fail(`unexpected WriteRequest field ${tag >> 3} (wire type ${tag & 7})`);
  }
}

function scanSeries(r: Reader, end: number, scan: SeriesScan): void {
  const buf = r.buf;
  const outer = r.end;
  r.end = end;
  let lStart = -1;
  let lEnd = -1;
  let parts: string[] | null = null;
  let sStart = -1;
  let sEnd = -1;
  let sContig = true;
  const first = scan.samples;
  while (r.pos < end) {
    const fieldStart = r.pos;
    const tag = r.varint();
    if (tag === 0x0a) {
      const n = r.len();
      r.pos += n;
      if (lStart < 0) {
        lStart = fieldStart;
        lEnd = r.pos;
      } else if (fieldStart === lEnd) lEnd = r.pos;
      else {
        // labels interleaved with other fields (legal, unusual): build the key from the pieces
        (parts ??= []).push(buf.toString('latin1', lStart, lEnd));
        lStart = fieldStart;
        lEnd = r.pos;
      }
    } else if (tag === 0x12) {
      const n = r.len();
      const sampleEnd = r.pos + n;
      let value = 0;
      let timestamp = 0;
      r.end = sampleEnd;
      while (r.pos < sampleEnd) {
        const t = r.varint();
        if (t === 0x09) {
          if (r.pos + 8 > sampleEnd) r.fail('truncated double');
          value = buf.readDoubleLE(r.pos);
          r.pos += 8;
        } else if (t === 0x10) timestamp = r.int64();
        else r.fail(`unexpected Sample field ${t >> 3} (wire type ${t & 7})`);
      }
      r.end = end;
      scan.addSample(value, timestamp);
      if (sStart < 0) {
        sStart = fieldStart;
        sEnd = sampleEnd;
      } else if (fieldStart === sEnd) sEnd = sampleEnd;
      else sContig = false;
    } else if (tag >> 3 === 3 || tag >> 3 === 4) {
      r.skipKnown(tag);
    } else r.fail(`unexpected TimeSeries field ${tag >> 3} (wire type ${tag & 7})`);
  }
  r.end = outer;
  let key: string;
  if (parts) {
    parts.push(buf.toString('latin1', lStart, lEnd));
    key = parts.join('');
  } else key = lStart < 0 ? '' : buf.toString('latin1', lStart, lEnd);
  const count = scan.samples - first;
  scan.addSeries(key, first, count, sContig && sStart >= 0 ? sStart : -1, sContig && sStart >= 0 ? sEnd : -1);
}

/** Decodes the labels of a scanned series from its key. */
export function decodeLabelsKey(key: string): Label[] {
  const raw = Buffer.from(key, 'latin1');
  const r = new Reader(raw, raw.length);
  const labels: Label[] = [];
  while (r.pos < raw.length) {
    const tag = r.varint();
    if (tag !== 0x0a) r.fail(`unexpected field in labels (tag ${tag})`);
    const n = r.len();
    labels.push(decodeLabel(r, r.pos + n));
  }
  return labels;
}

/** Label fields (TimeSeries.labels, tag included) for `labels`: the prefix of a TimeSeries message. */
export function encodeLabelFields(labels: Label[]): Buffer {
  let size = 0;
  for (const l of labels) {
    const ls = labelSize(l);
    size += 1 + varintSize(ls) + ls;
  }
  const w = new Writer(Buffer.allocUnsafe(size));
  for (const l of labels) {
    w.buf[w.pos++] = 0x0a;
    w.varint(labelSize(l));
    const n = strBytes(l.name);
    if (n.length) {
      w.buf[w.pos++] = 0x0a;
      w.varint(n.length);
      w.bytes(n);
    }
    const v = strBytes(l.value);
    if (v.length) {
      w.buf[w.pos++] = 0x12;
      w.varint(v.length);
      w.bytes(v);
    }
  }
  return w.buf;
}

/** Size of the Sample fields (tag included) for one sample. */
export function sampleFieldSize(value: number, timestamp: number): number {
  const s = sampleSize({ value, timestamp });
  return 1 + varintSize(s) + s;
}

/**
 * Writes one TimeSeries field (tag 0x0a) into `out` at `pos`: pre-encoded label fields, then either raw sample
 * field bytes (`rawSamples`) or the given samples. Returns the new position. Size it with timeSeriesFieldSize.
 */
export function writeTimeSeriesField(out: Buffer, pos: number, labelFields: Buffer, body: number, rawSamples: Buffer | null, rawStart: number, rawEnd: number, ts: Float64Array, val: Float64Array, idx: Int32Array, from: number, to: number): number {
  const w = new Writer(out);
  w.pos = pos;
  out[w.pos++] = 0x0a;
  w.varint(body);
  out.set(labelFields, w.pos);
  w.pos += labelFields.length;
  if (rawSamples) {
    rawSamples.copy(out, w.pos, rawStart, rawEnd);
    w.pos += rawEnd - rawStart;
    return w.pos;
  }
  for (let k = from; k < to; k++) {
    const j = idx[k]!;
    const value = val[j]!;
    const timestamp = ts[j]!;
    out[w.pos++] = 0x12;
    w.varint(sampleSize({ value, timestamp }));
    if (value !== 0 || Object.is(value, -0)) {
      out[w.pos++] = 0x09;
      w.double(value);
    }
    if (timestamp !== 0) {
      out[w.pos++] = 0x10;
      w.int64(timestamp);
    }
  }
  return w.pos;
}

export function fieldSize(body: number): number {
  return 1 + varintSize(body) + body;
}
