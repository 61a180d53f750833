// The edge agent in Slurm mode: the Slurm driver wired to the hub through edge-agent's hub-link (dial out,
// resume, seq/ack, journal). Lives here beside the driver; edge-agent's CLI can construct it directly.
import type { Command } from '@meridian/protocol/agent-protocol';
import { FileJournal, HubLink, MemoryJournal } from '../hub-link/index.ts';
import type { CommandOutcome } from '../hub-link/index.ts';
import type { SlurmDriver } from './driver.ts';
import { slurmCommandHandler } from './link.ts';

export const SLURM_AGENT_VERSION = 'meridian-edge-agent-slurm/0.1.0';

export interface SlurmAgentOptions {
  hubUrl: string;
  credential: string;
  clusterId: string;
  driver: SlurmDriver;
  journalFile?: string;
  backoff?: { minMs: number; maxMs: number };
}

export class SlurmAgent {
  readonly link: HubLink;
  private readonly handler: (c: Command) => Promise<CommandOutcome>;

  constructor(private readonly o: SlurmAgentOptions) {
    this.handler = slurmCommandHandler(o.driver);
    this.link = new HubLink({
      hubUrl: o.hubUrl,
      credential: o.credential,
      clusterId: o.clusterId,
      kind: 'slurm',
      agentVersion: SLURM_AGENT_VERSION,
      journal: o.journalFile ? new FileJournal(o.journalFile) : new MemoryJournal(),
      onCommand: (cmd) => this.handler(cmd),
      ...(o.backoff ? { backoff: o.backoff } : {}),
    });
    o.driver.onEvent((e) => void this.link.emit(e));
    // After every (re)connect the hub gets a full inventory snapshot, then deltas.
    this.link.events.on('ready', () => o.driver.resetInventory());
  }

  start(): void {
    this.link.start();
    this.o.driver.start();
  }

  async stop(): Promise<void> {
    await this.o.driver.stop();
    await this.link.stop();
  }
}
