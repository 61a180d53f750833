// The agent's journal: events not yet acked by the hub, the next event seq, and the highest hub command
// seq applied. Kept in memory or on disk (an atomically replaced JSON file), so an agent restart neither
// loses events nor re-applies commands.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AgentEvent } from '../../../hub/src/protocol/agent-protocol.ts';

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
    this.persist();
    return e;
  }

  ackUpTo(seq: number): void {
    const before = this.state.unacked.length;
    while (this.state.unacked.length && this.state.unacked[0]!.seq <= seq) this.state.unacked.shift();
    // The hub may have stored events this journal never saw (a lost journal): never reuse those seqs.
    if (seq > this.state.lastEventSeq) this.state.lastEventSeq = seq;
    if (before !== this.state.unacked.length) this.persist();
  }

  setApplied(seq: number): void {
    if (seq > this.state.appliedCommandSeq) {
      this.state.appliedCommandSeq = seq;
      this.persist();
    }
  }

  protected persist(): void {}
}

/** A journal in one JSON file, rewritten atomically (write + rename) on every change. */
export class FileJournal extends MemoryJournal {
  constructor(private readonly file: string) {
    super(existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as JournalState) : undefined);
    mkdirSync(dirname(file), { recursive: true });
  }

  protected override persist(): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state));
    renameSync(tmp, this.file);
  }
}
