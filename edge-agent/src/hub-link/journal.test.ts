import { appendFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileJournal, MemoryJournal } from './journal.ts';

describe('hub-link journal', () => {
  it('numbers events from 1, drops acked ones and never reuses a seq', () => {
    const j = new MemoryJournal();
    expect(j.append({ type: 'heartbeat' }).seq).toBe(1);
    expect(j.append({ type: 'heartbeat' }).seq).toBe(2);
    j.append({ type: 'heartbeat' });
    j.ackUpTo(2);
    expect(j.state.unacked.map((e) => e.seq)).toEqual([3]);
    // The hub stored more than this journal knows (journal lost): continue after the hub's seq.
    j.ackUpTo(10);
    expect(j.append({ type: 'heartbeat' }).seq).toBe(11);
  });

  it('tracks the highest applied command seq monotonically', () => {
    const j = new MemoryJournal();
    j.setApplied(5);
    j.setApplied(3);
    expect(j.state.appliedCommandSeq).toBe(5);
  });

  it('survives a restart on disk', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'journal-')), 'j.json');
    const a = new FileJournal(file);
    a.append({ type: 'job.status', jobId: '7', attempt: 1, phase: 'Running', tasks: [] });
    a.append({ type: 'heartbeat' });
    a.ackUpTo(1);
    a.setApplied(42);
    const b = new FileJournal(file);
    expect(b.state.lastEventSeq).toBe(2);
    expect(b.state.appliedCommandSeq).toBe(42);
    expect(b.state.unacked).toEqual([{ seq: 2, event: { type: 'heartbeat' } }]);
  });
});

describe('hub-link journal on disk', () => {
  const tmpFile = () => join(mkdtempSync(join(tmpdir(), 'journal-')), 'j.log');

  it('appends one line per change instead of rewriting every unacked event', () => {
    const file = tmpFile();
    const j = new FileJournal(file, { compactAfterLines: 100_000 });
    for (let i = 0; i < 500; i++) j.append({ type: 'heartbeat' });
    const size500 = statSync(file).size;
    j.append({ type: 'heartbeat' });
    // The 501st event adds one short line, not a copy of the 500 before it.
    expect(statSync(file).size - size500).toBeLessThan(100);
    j.close();
  });

  it('compacts into one snapshot line and keeps the same state', () => {
    const file = tmpFile();
    const j = new FileJournal(file, { compactAfterLines: 50 });
    for (let i = 0; i < 120; i++) {
      j.append({ type: 'heartbeat' });
      j.ackUpTo(i - 2);
    }
    j.setApplied(9);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.length).toBeLessThan(60);
    expect(lines[0]).toMatch(/^\{"snapshot":/);
    j.close();
    const b = new FileJournal(file);
    expect(b.state).toEqual(j.state);
    expect(b.state.unacked.map((e) => e.seq)).toEqual([118, 119, 120]);
    b.close();
  });

  it('drops a torn last line (a crash mid-write) and keeps everything before it', () => {
    const file = tmpFile();
    const j = new FileJournal(file);
    j.append({ type: 'heartbeat' });
    j.append({ type: 'heartbeat' });
    j.close();
    appendFileSync(file, '{"append":{"seq":3,"ev');
    const b = new FileJournal(file);
    expect(b.state.unacked.map((e) => e.seq)).toEqual([1, 2]);
    expect(b.append({ type: 'heartbeat' }).seq).toBe(3);
    b.close();
  });

  it('refuses a journal damaged before its end, naming the file, the line and the fix', () => {
    const file = tmpFile();
    writeFileSync(file, '{"snapshot":{"lastEventSeq":0,"appliedCommandSeq":0,"unacked":[]}}\nnot json\n{"ack":1}\n');
    expect(() => new FileJournal(file)).toThrow(new RegExp(`agent journal ${file} line 2 is damaged; move the file away`));
  });

  it('reads the single-object journal of earlier agent versions', () => {
    const file = tmpFile();
    writeFileSync(file, JSON.stringify({ lastEventSeq: 4, appliedCommandSeq: 7, unacked: [{ seq: 4, event: { type: 'heartbeat' } }] }));
    const j = new FileJournal(file);
    expect(j.state).toEqual({ lastEventSeq: 4, appliedCommandSeq: 7, unacked: [{ seq: 4, event: { type: 'heartbeat' } }] });
    expect(j.append({ type: 'heartbeat' }).seq).toBe(5);
    j.close();
  });

  it('reopens to exactly the in-memory state after any sequence of changes', () => {
    const op = fc.oneof(
      fc.constant({ kind: 'append' as const, n: 0 }),
      fc.nat(40).map((n) => ({ kind: 'ack' as const, n })),
      fc.nat(40).map((n) => ({ kind: 'applied' as const, n })),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), fc.integer({ min: 1, max: 20 }), (ops, compactAfterLines) => {
        const file = tmpFile();
        const disk = new FileJournal(file, { compactAfterLines });
        const mem = new MemoryJournal();
        for (const o of ops) {
          for (const j of [disk, mem]) {
            if (o.kind === 'append') j.append({ type: 'heartbeat' });
            else if (o.kind === 'ack') j.ackUpTo(o.n);
            else j.setApplied(o.n);
          }
        }
        disk.close();
        const reopened = new FileJournal(file);
        reopened.close();
        expect(reopened.state).toEqual(mem.state);
      }),
      { numRuns: 60 },
    );
  });
});
