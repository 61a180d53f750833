// Leadership by a session-level Postgres advisory lock held on a dedicated connection: exactly one hub
// schedules; when its connection (or process) dies, the lock is released and another hub takes over.
import pg from 'pg';
import type { Logger } from 'pino';
import { tryLeaderLock } from '../store/repos/leader.ts';

export class Leadership {
  private client: pg.Client | null = null;
  private leader = false;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  get isLeader(): boolean {
    return this.leader && this.client !== null;
  }

  /** Tries to become (or stay) leader; cheap when already leader. */
  async tryAcquire(): Promise<boolean> {
    if (this.isLeader) return true;
    try {
      if (!this.client) {
        const c = new pg.Client({ connectionString: this.url });
        c.on('error', () => this.drop(c));
        c.on('end', () => this.drop(c));
        await c.connect();
        this.client = c;
      }
      this.leader = await tryLeaderLock(this.client);
      if (this.leader) this.log.info('became scheduling leader');
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'leader election failed');
      if (this.client) this.drop(this.client);
    }
    return this.leader;
  }

  private drop(c: pg.Client): void {
    if (this.client !== c) return;
    if (this.leader) this.log.warn('lost scheduling leadership (connection closed)');
    this.client = null;
    this.leader = false;
    void c.end().catch(() => undefined);
  }

  async release(): Promise<void> {
    const c = this.client;
    this.client = null;
    this.leader = false;
    await c?.end().catch(() => undefined);
  }
}
