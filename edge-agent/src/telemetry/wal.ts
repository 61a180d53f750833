// Disk-backed write-ahead buffer between the collector and the forwarder.
//
// Layout: <dir>/<20-digit segment number>.seg files of records, and <dir>/ack, a checkpoint (written by
// temp file + rename) of the first unacknowledged record. A record is
//   u32 payload length | u32 CRC-32 of the rest | f64 sequence number | u32 sample count | payload
// (little-endian; the payload is WriteRequest protobuf bytes, so concatenated payloads form one request).
//
// - Appends go to the newest segment; a segment rolls at `segmentBytes`.
// - Memory stays bounded: nothing is cached; reads come back from the (page-cached) files.
// - ack(position) persists the checkpoint and deletes every segment wholly before it.
// - open() replays: segments before the checkpoint are removed, the rest are scanned, a torn or corrupt tail
//   (the process was killed mid-write) is cut off, and appends continue in a fresh segment. Records after the
//   checkpoint are read again: delivery is at-least-once and the hub drops what it has already seen.
// - Backpressure: 'high' is emitted when unacknowledged bytes reach the high watermark, 'low' when they fall
//   back to the low watermark (2/3 of high by default, as LoongCollector does); at `maxBytes` append() throws
//   WalFullError and the caller decides what to drop.
import { EventEmitter } from 'node:events';
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface WalOptions {
  dir: string;
  /** roll to a new segment file past this size (default 8 MiB) */
  segmentBytes?: number;
  /** hard cap on unacknowledged bytes on disk; append() throws WalFullError beyond it (default 512 MiB) */
  maxBytes?: number;
  /** emit 'high' at this many unacknowledged bytes (default 80 % of maxBytes) */
  highWatermarkBytes?: number;
  /** emit 'low' when back at this many (default 2/3 of the high watermark) */
  lowWatermarkBytes?: number;
  /** 'always': fdatasync every append (survives power loss); 'interval' (default): every fsyncIntervalMs;
   *  'never': leave it to the OS. Every policy survives a process kill: written bytes are in the page cache. */
  fsync?: FsyncPolicy;
  fsyncIntervalMs?: number;
}

export interface WalPosition {
  segment: number;
  offset: number;
}

export interface WalRecord {
  seq: number;
  samples: number;
  payload: Buffer;
  position: WalPosition;
  /** the position just after this record: ack(next) acknowledges it and everything before */
  next: WalPosition;
}

export interface WalStats {
  segments: number;
  pendingBytes: number;
  pendingRecords: number;
  appendedRecords: number;
  appendedBytes: number;
  /** records dropped because they were torn or failed their CRC (at open or on read) */
  corruptRecords: number;
  /** bytes cut off a torn tail at open */
  truncatedBytes: number;
  aboveHighWatermark: boolean;
}

export class WalFullError extends Error {
  constructor(
    readonly pendingBytes: number,
    readonly maxBytes: number,
  ) {
    super(`write-ahead buffer full: ${pendingBytes} unacknowledged bytes, limit ${maxBytes}`);
    this.name = 'WalFullError';
  }
}

const HEADER = 20;
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

export function crc32(buf: Uint8Array, start = 0, end = buf.length, seed = 0): number {
  let c = ~seed;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function segName(n: number): string {
  return `${String(n).padStart(20, '0')}.seg`;
}

function cmp(a: WalPosition, b: WalPosition): number {
  return a.segment - b.segment || a.offset - b.offset;
}

interface Checkpoint {
  segment: number;
  offset: number;
  /** sequence number of the first unacknowledged record */
  seq: number;
}

export class Wal extends EventEmitter {
  private readonly segmentBytes: number;
  private readonly maxBytes: number;
  private readonly high: number;
  private readonly low: number;
  private readonly fsync: FsyncPolicy;
  /** segment number → size in bytes (every segment on disk from the checkpoint on) */
  private readonly sizes = new Map<number, number>();
  private writeSeg = 0;
  private writeFd = -1;
  private readSeg = -1;
  private readFd = -1;
  private ackPos: WalPosition = { segment: 0, offset: 0 };
  private ackSeq = 0;
  private nextSeqNo = 0;
  private pending = 0;
  private dirty = false;
  private aboveHigh = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private appendedRecords = 0;
  private appendedBytes = 0;
  private corrupt = 0;
  private truncated = 0;

  private constructor(readonly opts: WalOptions) {
    super();
    this.segmentBytes = opts.segmentBytes ?? 8 * 1024 * 1024;
    this.maxBytes = opts.maxBytes ?? 512 * 1024 * 1024;
    this.high = opts.highWatermarkBytes ?? Math.floor(this.maxBytes * 0.8);
    this.low = opts.lowWatermarkBytes ?? Math.floor((this.high * 2) / 3);
    if (!(this.low < this.high && this.high <= this.maxBytes)) throw new Error(`WAL watermarks must satisfy low < high <= max (got ${this.low}, ${this.high}, ${this.maxBytes})`);
    this.fsync = opts.fsync ?? 'interval';
  }

  /** Opens (creating if needed) the buffer in `dir`, recovering whatever a previous process left. */
  static open(opts: WalOptions): Wal {
    const wal = new Wal(opts);
    wal.recover();
    return wal;
  }

  private path(seg: number): string {
    return join(this.opts.dir, segName(seg));
  }

  private recover(): void {
    const dir = this.opts.dir;
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(dir)) if (f.endsWith('.tmp')) unlinkSync(join(dir, f));
    const segs = readdirSync(dir)
      .filter((f) => /^\d{20}\.seg$/.test(f))
      .map((f) => Number(f.slice(0, 20)))
      .sort((a, b) => a - b);
    const ckPath = join(dir, 'ack');
    let ck: Checkpoint = { segment: segs[0] ?? 0, offset: 0, seq: 0 };
    if (existsSync(ckPath)) {
      try {
        const parsed = JSON.parse(readFileSync(ckPath, 'utf8')) as Checkpoint;
        if (Number.isSafeInteger(parsed.segment) && Number.isSafeInteger(parsed.offset) && Number.isSafeInteger(parsed.seq)) ck = parsed;
      } catch {
        // unreadable checkpoint: replay everything on disk (duplicates are dropped at the hub)
      }
    }
    this.ackPos = { segment: ck.segment, offset: ck.offset };
    this.ackSeq = ck.seq;
    this.nextSeqNo = ck.seq;
    let last = ck.segment;
    for (const seg of segs) {
      last = Math.max(last, seg);
      if (seg < ck.segment) {
        unlinkSync(this.path(seg)); // wholly acknowledged; deletion was interrupted
        continue;
      }
      const start = seg === ck.segment ? ck.offset : 0;
      const { valid, lastSeq } = this.scan(seg, start);
      if (lastSeq !== null) this.nextSeqNo = lastSeq + 1;
      if (valid === 0 && seg !== ck.segment) {
        unlinkSync(this.path(seg)); // an empty segment a previous process opened and never wrote
        continue;
      }
      this.sizes.set(seg, valid);
      this.pending += valid - start;
    }
    if (!this.sizes.has(ck.segment) && this.sizes.size > 0) {
      // the checkpoint's segment is gone (fully acked and deleted): reading starts at the next one
      const first = Math.min(...this.sizes.keys());
      this.ackPos = { segment: first, offset: 0 };
    }
    this.openWriteSegment(last + 1);
    this.aboveHigh = this.pending >= this.high;
  }

  /** Walks the records of a segment from `start`; cuts the file at the first torn or corrupt record. */
  private scan(seg: number, start: number): { valid: number; lastSeq: number | null } {
    const fd = openSync(this.path(seg), 'r+');
    try {
      const size = fstatSync(fd).size;
      const buf = Buffer.allocUnsafe(Math.max(0, size - start));
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, start + got);
        if (n === 0) break;
        got += n;
      }
      let off = 0;
      let lastSeq: number | null = null;
      while (off + HEADER <= got) {
        const len = buf.readUInt32LE(off);
        if (off + HEADER + len > got) break;
        if (buf.readUInt32LE(off + 4) !== crc32(buf, off + 8, off + HEADER + len)) break;
        lastSeq = buf.readDoubleLE(off + 8);
        off += HEADER + len;
      }
      if (off < size - start) {
        if (off < got) this.corrupt++;
        this.truncated += size - start - off;
        ftruncateSync(fd, start + off);
        fsyncSync(fd);
      }
      return { valid: start + off, lastSeq };
    } finally {
      closeSync(fd);
    }
  }

  private openWriteSegment(seg: number): void {
    if (this.writeFd >= 0) {
      if (this.dirty && this.fsync !== 'never') fdatasyncSync(this.writeFd);
      closeSync(this.writeFd);
    }
    this.writeSeg = seg;
    this.writeFd = openSync(this.path(seg), 'a');
    this.sizes.set(seg, 0);
    this.dirty = false;
    if (this.fsync !== 'never') this.syncDir();
    if (this.fsync === 'interval' && this.timer === null) {
      this.timer = setInterval(() => this.sync(), this.opts.fsyncIntervalMs ?? 1000);
      this.timer.unref();
    }
  }

  private syncDir(): void {
    try {
      const fd = openSync(this.opts.dir, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch {
      // some filesystems refuse fsync on a directory
    }
  }

  /** Appends one record (WriteRequest protobuf bytes holding `samples` samples); returns its sequence number. */
  append(payload: Uint8Array, samples: number): number {
    if (this.closed) throw new Error('WAL is closed');
    const size = HEADER + payload.length;
    if (this.pending + size > this.maxBytes) throw new WalFullError(this.pending, this.maxBytes);
    let segSize = this.sizes.get(this.writeSeg)!;
    if (segSize > 0 && segSize + size > this.segmentBytes) {
      this.openWriteSegment(this.writeSeg + 1);
      segSize = 0;
    }
    const seq = this.nextSeqNo++;
    const rec = Buffer.allocUnsafe(size);
    rec.writeUInt32LE(payload.length, 0);
    rec.writeDoubleLE(seq, 8);
    rec.writeUInt32LE(samples, 16);
    rec.set(payload, HEADER);
    rec.writeUInt32LE(crc32(rec, 8, size), 4);
    let written = 0;
    while (written < size) written += writeSync(this.writeFd, rec, written, size - written);
    this.sizes.set(this.writeSeg, segSize + size);
    this.pending += size;
    this.appendedRecords++;
    this.appendedBytes += size;
    this.dirty = true;
    if (this.fsync === 'always') this.sync();
    if (!this.aboveHigh && this.pending >= this.high) {
      this.aboveHigh = true;
      this.emit('high', this.pending);
    }
    this.emit('append', seq);
    return seq;
  }

  /** Flushes appended bytes to stable storage (what 'interval' does on its timer). */
  sync(): void {
    if (this.dirty && this.writeFd >= 0) {
      fdatasyncSync(this.writeFd);
      this.dirty = false;
    }
  }

  /** Position of the first unacknowledged record. */
  get ackedPosition(): WalPosition {
    return { ...this.ackPos };
  }

  get endPosition(): WalPosition {
    return { segment: this.writeSeg, offset: this.sizes.get(this.writeSeg) ?? 0 };
  }

  /** Sequence number the next append gets. */
  get nextSeq(): number {
    return this.nextSeqNo;
  }

  get pendingBytes(): number {
    return this.pending;
  }

  /** true between a 'high' and the following 'low': producers should slow down or shed load. */
  get backpressure(): boolean {
    return this.aboveHigh;
  }

  /**
   * Reads records from `from` (default: the checkpoint) until `maxBytes` of payload or `maxRecords` records;
   * the first record is returned even when it alone exceeds maxBytes. A record failing its CRC ends its segment.
   */
  read(from: WalPosition = this.ackPos, maxBytes = 1024 * 1024, maxRecords = Infinity): WalRecord[] {
    const out: WalRecord[] = [];
    let pos = { ...from };
    let bytes = 0;
    while (out.length < maxRecords && bytes < maxBytes) {
      const segSize = this.sizes.get(pos.segment);
      if (segSize === undefined || pos.offset >= segSize) {
        // end of this segment: move on to the next one that exists
        const next = [...this.sizes.keys()].filter((s) => s > pos.segment).sort((a, b) => a - b)[0];
        if (next === undefined) break;
        pos = { segment: next, offset: 0 };
        continue;
      }
      const fd = this.readFdFor(pos.segment);
      const want = Math.min(segSize - pos.offset, Math.max(maxBytes - bytes + HEADER, 64 * 1024));
      const buf = Buffer.allocUnsafe(want);
      const got = readSync(fd, buf, 0, want, pos.offset);
      let off = 0;
      let progressed = false;
      while (off + HEADER <= got && out.length < maxRecords && (bytes < maxBytes || out.length === 0)) {
        const len = buf.readUInt32LE(off);
        if (off + HEADER + len > got) {
          if (!progressed && out.length === 0) {
            // a single record larger than the chunk: read it whole
            const rec = Buffer.allocUnsafe(HEADER + len);
            readSync(fd, rec, 0, rec.length, pos.offset);
            if (!this.pushRecord(out, rec, 0, pos)) return this.skipCorrupt(out, pos, maxBytes, maxRecords);
            bytes += len;
            pos = out[out.length - 1]!.next;
            progressed = true;
          }
          break;
        }
        if (!this.pushRecord(out, buf, off, { segment: pos.segment, offset: pos.offset + off })) {
          return this.skipCorrupt(out, { segment: pos.segment, offset: pos.offset + off }, maxBytes, maxRecords);
        }
        off += HEADER + len;
        bytes += len;
        progressed = true;
      }
      if (off > 0) pos = { segment: pos.segment, offset: pos.offset + off };
      if (!progressed) break;
    }
    return out;
  }

  private pushRecord(out: WalRecord[], buf: Buffer, off: number, position: WalPosition): boolean {
    const len = buf.readUInt32LE(off);
    if (buf.readUInt32LE(off + 4) !== crc32(buf, off + 8, off + HEADER + len)) return false;
    out.push({
      seq: buf.readDoubleLE(off + 8),
      samples: buf.readUInt32LE(off + 16),
      payload: buf.subarray(off + HEADER, off + HEADER + len),
      position,
      next: { segment: position.segment, offset: position.offset + HEADER + len },
    });
    return true;
  }

  private skipCorrupt(out: WalRecord[], at: WalPosition, maxBytes: number, maxRecords: number): WalRecord[] {
    // Corruption in the middle of a segment (disk error): the rest of that segment is unreadable. Count it,
    // shrink the segment to the good part and carry on with the next segment.
    this.corrupt++;
    const size = this.sizes.get(at.segment)!;
    this.pending -= size - at.offset;
    this.sizes.set(at.segment, at.offset);
    this.emit('corrupt', at);
    if (out.length > 0) return out;
    return this.read(at, maxBytes, maxRecords);
  }

  private readFdFor(seg: number): number {
    if (this.readSeg !== seg) {
      if (this.readFd >= 0) closeSync(this.readFd);
      this.readFd = openSync(this.path(seg), 'r');
      this.readSeg = seg;
    }
    return this.readFd;
  }

  /**
   * Acknowledges `upTo` (a record read from this buffer, or its next position and sequence number) and every
   * record before it: persists the checkpoint and deletes segments that are now wholly acknowledged.
   */
  ack(upTo: { next: WalPosition; seq: number }): void {
    const next = upTo.next;
    if (cmp(next, this.ackPos) <= 0) return;
    if (cmp(next, this.endPosition) > 0) throw new Error(`ack position ${next.segment}:${next.offset} is past the end of the buffer`);
    let freed = 0;
    for (const [seg, size] of [...this.sizes]) {
      if (seg > next.segment) continue;
      const from = seg === this.ackPos.segment ? this.ackPos.offset : 0;
      const to = seg === next.segment ? next.offset : size;
      if (seg < this.ackPos.segment) continue;
      freed += Math.max(0, to - from);
    }
    this.ackPos = { ...next };
    this.ackSeq = upTo.seq + 1;
    this.pending -= freed;
    this.writeCheckpoint();
    for (const seg of [...this.sizes.keys()]) {
      if (seg < next.segment) {
        if (this.readSeg === seg) {
          closeSync(this.readFd);
          this.readFd = -1;
          this.readSeg = -1;
        }
        unlinkSync(this.path(seg));
        this.sizes.delete(seg);
      }
    }
    if (this.aboveHigh && this.pending <= this.low) {
      this.aboveHigh = false;
      this.emit('low', this.pending);
    }
  }

  private writeCheckpoint(): void {
    const path = join(this.opts.dir, 'ack');
    const tmp = `${path}.tmp`;
    const ck: Checkpoint = { segment: this.ackPos.segment, offset: this.ackPos.offset, seq: this.ackSeq };
    writeFileSync(tmp, JSON.stringify(ck));
    if (this.fsync !== 'never') {
      const fd = openSync(tmp, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    renameSync(tmp, path);
  }

  stats(): WalStats {
    return {
      segments: this.sizes.size,
      pendingBytes: this.pending,
      pendingRecords: this.nextSeqNo - this.ackSeq,
      appendedRecords: this.appendedRecords,
      appendedBytes: this.appendedBytes,
      corruptRecords: this.corrupt,
      truncatedBytes: this.truncated,
      aboveHighWatermark: this.aboveHigh,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.writeFd >= 0) {
      if (this.dirty && this.fsync !== 'never') fdatasyncSync(this.writeFd);
      closeSync(this.writeFd);
      this.writeFd = -1;
    }
    if (this.readFd >= 0) closeSync(this.readFd);
    this.readFd = -1;
  }
}
