import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { crc32, Wal, WalFullError } from './wal.ts';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'wal-test-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const rec = (i: number, size = 10) => Buffer.alloc(size, i % 256);
const segs = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.seg'));

describe('crc32', () => {
  it('matches the standard check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });
});

describe('Wal', () => {
  it('reads back appended records in order with sample counts and sequence numbers', () => {
    const wal = Wal.open({ dir: tmp(), fsync: 'never' });
    for (let i = 0; i < 5; i++) expect(wal.append(rec(i), i + 1)).toBe(i);
    const got = wal.read();
    expect(got.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(got.map((r) => r.samples)).toEqual([1, 2, 3, 4, 5]);
    expect(got[3]!.payload).toEqual(rec(3));
    expect(wal.pendingBytes).toBe(5 * 30);
    wal.close();
  });

  it('limits reads by records and bytes, always returning at least one record', () => {
    const wal = Wal.open({ dir: tmp(), fsync: 'never' });
    for (let i = 0; i < 10; i++) wal.append(rec(i, 100), 1);
    expect(wal.read(undefined, 1024, 3)).toHaveLength(3);
    expect(wal.read(undefined, 250)).toHaveLength(3); // stops once 250 payload bytes are reached
    expect(wal.read(undefined, 1)).toHaveLength(1);
    const big = Wal.open({ dir: tmp(), fsync: 'never' });
    big.append(rec(1, 200_000), 7); // larger than one read chunk
    expect(big.read(undefined, 10)[0]!.payload.length).toBe(200_000);
    wal.close();
    big.close();
  });

  it('rolls segments, and ack deletes wholly acknowledged segments', () => {
    const dir = tmp();
    const wal = Wal.open({ dir, segmentBytes: 100, fsync: 'never' });
    for (let i = 0; i < 10; i++) wal.append(rec(i, 30), 1); // 50 bytes per record: 2 per segment
    expect(segs(dir).length).toBe(5);
    const all = wal.read(undefined, 1e9);
    expect(all).toHaveLength(10);
    wal.ack(all[4]!);
    expect(wal.pendingBytes).toBe(5 * 50);
    expect(segs(dir).length).toBe(3);
    expect(wal.read()[0]!.seq).toBe(5);
    wal.ack(all[9]!);
    expect(wal.pendingBytes).toBe(0);
    expect(wal.read()).toEqual([]);
    expect(wal.stats().pendingRecords).toBe(0);
    wal.close();
  });

  it('replays unacknowledged records after a restart and continues sequence numbers', () => {
    const dir = tmp();
    let wal = Wal.open({ dir, segmentBytes: 200, fsync: 'never' });
    for (let i = 0; i < 8; i++) wal.append(rec(i, 40), 2);
    wal.ack(wal.read(undefined, 1e9, 3)[2]!);
    // no close(): as if the process were killed
    wal = Wal.open({ dir, segmentBytes: 200, fsync: 'never' });
    expect(wal.read(undefined, 1e9).map((r) => r.seq)).toEqual([3, 4, 5, 6, 7]);
    expect(wal.nextSeq).toBe(8);
    expect(wal.append(rec(8), 1)).toBe(8);
    expect(wal.read(undefined, 1e9).map((r) => r.seq)).toEqual([3, 4, 5, 6, 7, 8]);
    wal.close();
  });

  it('keeps sequence numbers across a restart with everything acknowledged', () => {
    const dir = tmp();
    let wal = Wal.open({ dir, fsync: 'never' });
    for (let i = 0; i < 3; i++) wal.append(rec(i), 1);
    wal.ack(wal.read().at(-1)!);
    wal.close();
    wal = Wal.open({ dir, fsync: 'never' });
    expect(wal.pendingBytes).toBe(0);
    expect(wal.append(rec(3), 1)).toBe(3);
    wal.close();
  });

  it('cuts a torn tail (killed mid-write) and a corrupt record at open', () => {
    const dir = tmp();
    let wal = Wal.open({ dir, fsync: 'never' });
    for (let i = 0; i < 4; i++) wal.append(rec(i, 50), 1);
    const seg = join(dir, segs(dir)[0]!);
    appendFileSync(seg, Buffer.from([200, 0, 0, 0, 1, 2, 3])); // half a header of a 5th record
    wal = Wal.open({ dir, fsync: 'never' });
    expect(wal.read(undefined, 1e9).map((r) => r.seq)).toEqual([0, 1, 2, 3]);
    expect(wal.stats().truncatedBytes).toBe(7);
    expect(statSync(seg).size).toBe(4 * 70);
    // flip a payload byte in record 2: records from there on in that segment are dropped
    const fd = Buffer.alloc(1, 0xee);
    writeFileSync(seg, fd, { flag: 'r+' });
    truncateSync(seg, 4 * 70);
    wal.close();
    const wal2 = Wal.open({ dir, fsync: 'never' });
    // the first byte of the file (record 0's length) was overwritten: the segment is unreadable from there
    expect(wal2.read(undefined, 1e9)).toEqual([]);
    expect(wal2.stats().truncatedBytes).toBe(4 * 70);
    expect(wal2.append(rec(9), 1)).toBe(0);
    wal2.close();
  });

  it('signals high and low watermarks and refuses appends past maxBytes', () => {
    const wal = Wal.open({ dir: tmp(), maxBytes: 1000, highWatermarkBytes: 600, lowWatermarkBytes: 300, fsync: 'never' });
    const events: string[] = [];
    wal.on('high', () => events.push('high'));
    wal.on('low', () => events.push('low'));
    for (let i = 0; i < 5; i++) wal.append(rec(i, 80), 1); // 100 bytes each
    expect(events).toEqual([]);
    wal.append(rec(5, 80), 1);
    expect(events).toEqual(['high']);
    expect(wal.backpressure).toBe(true);
    for (let i = 6; i < 10; i++) wal.append(rec(i, 80), 1);
    expect(() => wal.append(rec(10, 80), 1)).toThrow(WalFullError);
    const all = wal.read(undefined, 1e9);
    wal.ack(all[5]!); // 400 left: still above low
    expect(events).toEqual(['high']);
    wal.ack(all[6]!); // 300 left
    expect(events).toEqual(['high', 'low']);
    expect(wal.backpressure).toBe(false);
    wal.close();
  });

  it('rejects watermarks in the wrong order', () => {
    expect(() => Wal.open({ dir: tmp(), maxBytes: 100, highWatermarkBytes: 50, lowWatermarkBytes: 60 })).toThrow(/low < high/);
  });

  it('survives fsync=always and interval policies', () => {
    for (const fsync of ['always', 'interval'] as const) {
      const dir = tmp();
      const wal = Wal.open({ dir, fsync, fsyncIntervalMs: 10 });
      wal.append(rec(1), 1);
      wal.close();
      expect(Wal.open({ dir, fsync: 'never' }).read()).toHaveLength(1);
    }
  });
});
