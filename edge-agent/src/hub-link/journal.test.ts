import { mkdtempSync } from 'node:fs';
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
