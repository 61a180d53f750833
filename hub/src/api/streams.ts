// Open event streams and the credentials they were opened with. A stream lives as long as its grant: when the
// token is revoked or expires, or its user leaves the project (or the project is archived), the stream ends
// within seconds. Every hub re-checks on a NOTIFY from the store (revocation.ts) and on a short timer, the
// safety net for a notification missed while the LISTEN connection was down.
import type pg from 'pg';
import type { Logger } from 'pino';
import { sha256 } from '../store/hash.ts';
import { PgListener } from '../store/listener.ts';
import { grantsStillValid, REVOKE_CHANNEL } from '../store/repos/revocation.ts';

interface OpenStream {
  tokenHash: string;
  project: string;
  end: (reason: string) => void;
}

export class StreamRegistry {
  private readonly open = new Set<OpenStream>();
  private readonly listener: PgListener | null;
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly log: Logger,
    private readonly opts: { databaseUrl?: string; recheckMs?: number } = {},
  ) {
    this.listener = opts.databaseUrl ? new PgListener(opts.databaseUrl, [REVOKE_CHANNEL], () => this.recheck(), log, () => this.recheck()) : null;
  }

  async start(): Promise<void> {
    await this.listener?.start();
    this.timer = setInterval(() => this.recheck(), this.opts.recheckMs ?? 2000);
    this.timer.unref();
  }

  get size(): number {
    return this.open.size;
  }

  /** Tracks a stream opened with `token` on `project`; `end` is called once if the grant goes. Returns the untrack. */
  track(token: string, project: string, end: (reason: string) => void): () => void {
    const s: OpenStream = { tokenHash: sha256(token), project, end };
    this.open.add(s);
    return () => void this.open.delete(s);
  }

  /** Re-checks every open stream's grant (coalesced: a burst of notifications costs one query after the current one). */
  recheck(): void {
    if (this.checking) {
      this.again = true;
      return;
    }
    this.checking = this.checkOnce()
      .catch((err: unknown) => this.log.debug({ err: (err as Error).message }, 'stream grant check failed; retrying on the next tick'))
      .finally(() => {
        this.checking = null;
        if (this.again) {
          this.again = false;
          this.recheck();
        }
      });
  }

  private async checkOnce(): Promise<void> {
    const streams = [...this.open];
    if (streams.length === 0) return;
    const valid = await grantsStillValid(this.pool, streams);
    streams.forEach((s, i) => {
      if (valid.has(i) || !this.open.has(s)) return;
      this.open.delete(s);
      s.end('credential revoked: the token was revoked or expired, or it no longer grants access to this project');
    });
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.listener?.stop();
    for (const s of this.open) s.end('hub shutting down');
    this.open.clear();
  }
}
