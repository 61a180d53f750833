// One agent connection: hello/welcome resume, events stored before they are acked, commands sent from the
// Postgres outbox in seq order and resent after a reconnect until the agent acks them.
import type pg from 'pg';
import type { Logger } from 'pino';
import type WebSocket from 'ws';
import { AgentToHubFrame, CLOSE_CREDENTIAL_REVOKED, CREDENTIAL_REVOKED, PROTOCOL_VERSION } from '@meridian/protocol/agent-protocol';
import type { AgentEvent, Hello, HubToAgentFrame } from '@meridian/protocol/agent-protocol';
import { fieldErrors } from '@meridian/protocol/job-spec';
import { tx } from '../store/db.ts';
import { ackCommands, markEventStored, pendingCommands, streamState } from '../store/repos/agent-stream.ts';
import { setClusterStatus, touchCluster } from '../store/repos/clusters.ts';
import type { Keyring } from '../store/sealed.ts';
import { credentialStillValid } from '../store/repos/revocation.ts';
import { applyEvent } from './apply-event.ts';
import type { Effects } from './apply-event.ts';

export interface SessionHooks {
  afterCommit(fx: Effects): void;
  onState(clusterId: string, connected: boolean): void;
}

export class AgentSession {
  private sentUpTo = 0;
  private ready = false;
  private chain: Promise<void> = Promise.resolve();
  private flushing = false;
  private flushAgain = false;
  private lastFrameAt = Date.now();
  private lastTouch = 0;
  /** Highest agent event seq stored; one session per cluster handles frames in order, so it can be cached. */
  private storedSeq = 0;
  private holdSince: number | null = null;
  closed = false;

  constructor(
    readonly clusterId: string,
    private readonly ws: WebSocket,
    private readonly pool: pg.Pool,
    private readonly log: Logger,
    private readonly heartbeatIntervalMs: number,
    private readonly hooks: SessionHooks,
    /** SHA-256 of the credential this connection authenticated with: it must stay the cluster's. */
    readonly credentialHash: string,
    /** Opens the jobs' sealed environments as their dispatch commands go out. */
    private readonly keyring: Keyring,
  ) {
    ws.on('message', (data) => {
      this.lastFrameAt = Date.now();
      this.onMessage(String(data));
    });
  }

  get idleMs(): number {
    return Date.now() - this.lastFrameAt;
  }

  send(frame: HubToAgentFrame): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(frame));
  }

  close(code: number, reason: string): void {
    this.closed = true;
    this.ws.close(code, reason);
  }

  /** The credential was rotated or revoked: a fatal frame the agent does not retry past, then the close. */
  revoke(): void {
    if (this.closed) return;
    this.log.warn({ cluster: this.clusterId }, 'closing the agent session: its credential was rotated or revoked');
    this.send({ v: PROTOCOL_VERSION, type: 'error', code: CREDENTIAL_REVOKED, message: `credential revoked: ${this.clusterId}; an administrator issues a new one (meridian cluster credential ${this.clusterId})`, fatal: true });
    this.close(CLOSE_CREDENTIAL_REVOKED, 'credential revoked');
  }

  private fatal(code: string, message: string): void {
    this.send({ v: PROTOCOL_VERSION, type: 'error', code, message, fatal: true });
    this.close(4000, code);
  }

  private onMessage(text: string): void {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return this.fatal('bad-frame', 'frames are JSON objects');
    }
    const parsed = AgentToHubFrame.safeParse(raw);
    if (!parsed.success) {
      const errs = fieldErrors(parsed.error).map((e) => `${e.path}: ${e.message}`).join('; ');
      return this.send({ v: PROTOCOL_VERSION, type: 'error', code: 'bad-frame', message: errs, fatal: false });
    }
    const f = parsed.data;
    // Frames are handled strictly in order: an event is acked only after every earlier one is stored.
    this.chain = this.chain
      .then(async () => {
        if (this.closed) return;
        if (f.type === 'hello') await this.onHello(f);
        else if (!this.ready) this.fatal('no-hello', 'send hello first');
        else if (f.type === 'event') await this.onEvent(f.seq, f.event);
        else if (f.type === 'ack') await ackCommands(this.pool, this.clusterId, f.seq);
        else if (f.type === 'error') this.log.warn({ cluster: this.clusterId, code: f.code, message: f.message }, 'agent reported an error');
      })
      .catch((err: unknown) => {
        // Storage failed (e.g. Postgres restarting): drop the connection so the agent resends from our ack.
        this.log.warn({ cluster: this.clusterId, err: (err as Error).message }, 'agent frame failed; closing the session');
        this.close(1011, 'hub storage error');
      });
  }

  private async onHello(h: Hello): Promise<void> {
    if (this.ready) return this.fatal('duplicate-hello', 'hello was already received');
    if (h.clusterId !== this.clusterId) return this.fatal('cluster-mismatch', `this credential belongs to cluster ${this.clusterId}, not ${h.clusterId}`);
    await ackCommands(this.pool, this.clusterId, h.appliedCommandSeq);
    await setClusterStatus(this.pool, this.clusterId, 'connected', h.agentVersion);
    const st = await streamState(this.pool, this.clusterId);
    this.sentUpTo = Math.max(h.appliedCommandSeq, 0);
    this.storedSeq = st.storedEventSeq;
    this.ready = true;
    this.send({ v: PROTOCOL_VERSION, type: 'welcome', storedEventSeq: st.storedEventSeq, heartbeatIntervalMs: this.heartbeatIntervalMs });
    this.hooks.onState(this.clusterId, true);
    this.log.info({ cluster: this.clusterId, applied: h.appliedCommandSeq, stored: st.storedEventSeq }, 'agent connected');
    void this.flush();
  }

  private async onEvent(seq: number, event: AgentEvent): Promise<void> {
    const fx: Effects = { wake: [], inventoryChanged: false, refusals: [] };
    // The event and its effect commit together, before the ack; a resend (seq <= stored) is only acked again.
    // Either way only while this connection's credential is still the cluster's: nothing sent on a revoked
    // session is applied or acked, however soon after the rotation it arrives.
    const valid = await tx(this.pool, async (c) => {
      if (!(await credentialStillValid(c, this.clusterId, this.credentialHash))) return false;
      if (seq > this.storedSeq) {
        await applyEvent(c, this.clusterId, event, fx);
        await markEventStored(c, this.clusterId, seq, event.type, event);
      }
      return true;
    });
    if (!valid) return this.revoke();
    if (seq > this.storedSeq) this.storedSeq = seq;
    this.send({ v: PROTOCOL_VERSION, type: 'ack', seq });
    if (Date.now() - this.lastTouch > 1000) {
      this.lastTouch = Date.now();
      await touchCluster(this.pool, this.clusterId);
    }
    for (const r of fx.refusals) this.send({ v: PROTOCOL_VERSION, type: 'error', code: 'refused', message: r, fatal: false });
    this.hooks.afterCommit(fx);
  }

  /** Sends every outbox command past what this connection has sent (called on notify and on a timer). */
  async flush(): Promise<void> {
    if (!this.ready || this.closed) return;
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    this.flushing = true;
    try {
      do {
        this.flushAgain = false;
        const cmds = await pendingCommands(this.pool, this.clusterId, this.sentUpTo, this.keyring);
        for (const c of cmds) {
          // Committed seqs have no holes (a rolled-back allocation rolls the counter back too), so a hole means an
          // earlier command is not visible yet: stop there and send it first on the next flush. Sending past it
          // would let the agent apply a later seq first and skip the earlier one as already applied.
          if (c.seq !== this.sentUpTo + 1) {
            this.holdSince ??= Date.now();
            if (Date.now() - this.holdSince < 5000) {
              this.flushAgain = true;
              break;
            }
            this.log.warn({ cluster: this.clusterId, expected: this.sentUpTo + 1, got: c.seq }, 'command seq hole persisted; sending past it');
          }
          this.holdSince = null;
          this.send({ v: PROTOCOL_VERSION, type: 'command', seq: c.seq, command: c.command });
          this.sentUpTo = c.seq;
        }
        if (this.flushAgain) await new Promise((r) => setTimeout(r, 20));
        if (cmds.length === 500) this.flushAgain = true;
      } while (this.flushAgain && !this.closed);
    } catch (err) {
      this.log.debug({ cluster: this.clusterId, err: (err as Error).message }, 'outbox flush failed; retrying on the next tick');
    } finally {
      this.flushing = false;
    }
  }

  async onClosed(): Promise<void> {
    this.closed = true;
    if (this.ready) {
      this.hooks.onState(this.clusterId, false);
      await setClusterStatus(this.pool, this.clusterId, 'disconnected').catch(() => undefined);
    }
  }
}
