// The agent's journal: events not yet acked by the hub, the next event seq, and the highest hub command
// seq applied. Kept in memory or on disk (an append-only log, compacted now and then), so an agent restart
// neither loses events nor re-applies commands.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AgentEvent } from '@meridian/protocol/agent-protocol';

export interface JournalEntry {
  seq: number;
  event: AgentEvent;
}

export interface JournalState {
  /** Seq of the last event appended (0 = none). */
  lastEventSeq: number;
  /** Highest hub command seq this agent has applied. */
  appliedCommandSeq: number;
  unacked: JournalEntry[];
}

export interface Journal {
  readonly state: Readonly<JournalState>;
  append(event: AgentEvent): JournalEntry;
  /** Drops every entry with seq <= `seq` (the hub stored them). */
  ackUpTo(seq: number): void;
  setApplied(seq: number): void;
}

export class MemoryJournal implements Journal {
  readonly state: JournalState;

  constructor(initial?: JournalState) {
    this.state = initial ?? { lastEventSeq: 0, appliedCommandSeq: 0, unacked: [] };
  }

  append(event: AgentEvent): JournalEntry {
    const e = { seq: ++this.state.lastEventSeq, event };
    this.state.unacked.push(e);
    this.record({ append: e });
    return e;
  }

  ackUpTo(seq: number): void {
    const before = this.state.unacked.length;
    const lastBefore = this.state.lastEventSeq;
    while (this.state.unacked.length && this.state.unacked[0]!.seq <= seq) this.state.unacked.shift();
    // The hub may have stored events this journal never saw (a lost journal): never reuse those seqs.
    if (seq > this.state.lastEventSeq) this.state.lastEventSeq = seq;
    if (before !== this.state.unacked.length || lastBefore !== this.state.lastEventSeq) this.record({ ack: seq });
  }

  setApplied(seq: number): void {
    if (seq > this.state.appliedCommandSeq) {
      this.state.appliedCommandSeq = seq;
      this.record({ applied: seq });
    }
  }

  /** Called after every change of state, with the change. */
  protected record(_change: JournalRecord): void {}
}

/** One line of the on-disk journal. */
export type JournalRecord = { snapshot: JournalState } | { append: JournalEntry } | { ack: number } | { applied: number };

/** Replays journal lines onto a state. A torn last line (a crash mid-write) is dropped; damage before it is an error. */
export function replayJournal(text: string, file: string): JournalState {
  const trimmed = text.trim();
  if (trimmed === '') return { lastEventSeq: 0, appliedCommandSeq: 0, unacked: [] };
  const lines = trimmed.split('\n');
  // The journal of earlier agent versions: one JSON object holding the whole state.
  if (lines.length === 1 && trimmed.startsWith('{"lastEventSeq"')) return JSON.parse(trimmed) as JournalState;
  const j = new MemoryJournal();
  lines.forEach((line, i) => {
    let r: JournalRecord;
    try {
      r = JSON.parse(line) as JournalRecord;
    } catch {
      if (i === lines.length - 1) return;
      throw new Error(`agent journal ${file} line ${i + 1} is damaged; move the file away to start a fresh journal (events not yet stored at the hub are then resent by nobody)`);
    }
    if ('snapshot' in r) Object.assign(j.state, { ...r.snapshot, unacked: [...r.snapshot.unacked] });
    else if ('append' in r) {
      j.state.unacked.push(r.append);
      j.state.lastEventSeq = Math.max(j.state.lastEventSeq, r.append.seq);
    } else if ('ack' in r) j.ackUpTo(r.ack);
    else if ('applied' in r) j.setApplied(r.applied);
  });
  return j.state;
}

/**
 * A journal on disk: one JSON line per change appended to the file, so an event costs one small write
 * however many are unacked; rewritten as a single snapshot line (write + rename) once the log has grown
 * well past what it describes.
 */
export class FileJournal extends MemoryJournal {
  private fd: number;
  private linesSinceSnapshot = 0;

  constructor(
    private readonly file: string,
    private readonly opts: { compactAfterLines?: number; fsync?: boolean } = {},
  ) {
    super(existsSync(file) ? replayJournal(readFileSync(file, 'utf8'), file) : undefined);
    mkdirSync(dirname(file), { recursive: true });
    this.fd = this.snapshot();
  }

  protected override record(change: JournalRecord): void {
    writeSync(this.fd, `${JSON.stringify(change)}\n`);
    if (this.opts.fsync) fsyncSync(this.fd);
    if (++this.linesSinceSnapshot >= Math.max(this.opts.compactAfterLines ?? 1000, 4 * this.state.unacked.length)) {
      closeSync(this.fd);
      this.fd = this.snapshot();
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  private snapshot(): number {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ snapshot: this.state })}\n`);
    renameSync(tmp, this.file);
    this.linesSinceSnapshot = 0;
    return openSync(this.file, 'a');
  }
}
