// The agent side of the hub protocol: dial out, resume, seq/ack, journal, commands. See hub-link.ts.
export { HubLink, linkRevocations } from './hub-link.ts';
export type { HubLinkOptions, CommandOutcome, LinkState } from './hub-link.ts';
export { MemoryJournal, FileJournal } from './journal.ts';
export type { Journal, JournalEntry, JournalState } from './journal.ts';
