// A LISTEN connection that survives Postgres restarts: reconnects with backoff and re-subscribes.
import pg from 'pg';
import type { Logger } from 'pino';

export class PgListener {
  private client: pg.Client | null = null;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly url: string,
    private readonly channels: string[],
    private readonly onNotify: (channel: string, payload: string) => void,
    private readonly log: Logger,
    /** Called after every (re)connect: notifications may have been missed while disconnected. */
    private readonly onReconnect: () => void = () => undefined,
  ) {}

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const c = new pg.Client({ connectionString: this.url });
    c.on('error', () => undefined);
    c.on('end', () => {
      if (this.client === c) this.client = null;
      this.retry();
    });
    c.on('notification', (n) => this.onNotify(n.channel, n.payload ?? ''));
    try {
      await c.connect();
      for (const ch of this.channels) await c.query(`LISTEN ${ch}`);
      this.client = c;
      this.onReconnect();
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'LISTEN connection failed; retrying');
      await c.end().catch(() => undefined);
      this.retry();
    }
  }

  private retry(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, 1000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => undefined);
  }
}
