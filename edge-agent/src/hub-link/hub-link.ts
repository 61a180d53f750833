// The agent side of agent protocol v1 (protocol/src/agent-protocol.ts), reusable by every agent.
//
//   const link = new HubLink({ hubUrl, credential, clusterId, kind: 'kubernetes', agentVersion,
//                              journal: new FileJournal('/var/lib/meridian/journal.json'),
//                              onCommand: async (cmd, seq) => { ...apply idempotently...; return { ok: true } } });
//   link.start();
//   link.emit({ type: 'inventory.snapshot', nodes });
//
// It dials out (WebSocket), reconnects with jittered exponential backoff, says hello with the highest command
// seq it applied, drops journal entries the hub's welcome says are stored and resends the rest, acks each
// command after `onCommand` resolves (a command already applied is acked again, not re-run), and sends
// heartbeats at the interval the hub asks for. `emit` journals the event first, so nothing is lost while
// disconnected. When `onCommand` returns a result, a `command.result` event carries it back to the hub.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { AGENT_CONNECT_PATH, CLOSE_CREDENTIAL_REVOKED, CREDENTIAL_REVOKED, HubToAgentFrame, PROTOCOL_VERSION } from '@meridian/protocol/agent-protocol';
import type { AgentEvent, AgentToHubFrame, Command } from '@meridian/protocol/agent-protocol';
import { MemoryJournal } from './journal.ts';
import type { Journal } from './journal.ts';

export interface CommandOutcome {
  ok: boolean;
  error?: string;
  detail?: unknown;
}

export interface HubLinkOptions {
  /** The hub's base URL (http(s)://host:port); the link connects to ws(s)://host:port/api/v1/agents/connect. */
  hubUrl: string;
  credential: string;
  clusterId: string;
  kind: 'kubernetes' | 'slurm';
  agentVersion: string;
  journal?: Journal;
  /** Applies one command idempotently. Return an outcome to report a `command.result`; throw to report failure. */
  onCommand: (command: Command, seq: number) => Promise<CommandOutcome | void>;
  log?: Pick<Logger, 'info' | 'warn' | 'debug'> & Partial<Pick<Logger, 'error'>>;
  backoff?: { minMs: number; maxMs: number };
}

export type LinkState = 'idle' | 'connecting' | 'ready' | 'closed' | 'revoked';

/**
 * Every link of this process reports here, once, when the hub says its credential is revoked: the process
 * (edge-agent main) logs it and exits, since no retry with that credential can succeed.
 */
export const linkRevocations = new EventEmitter<{ revoked: [{ clusterId: string; message: string }] }>();

export class HubLink {
  readonly journal: Journal;
  /** Lifecycle notifications: 'ready', 'disconnected', 'hub-error' (ErrorFrame), 'acked' (seq), 'revoked' (message). */
  readonly events = new EventEmitter();
  private ws: WebSocket | null = null;
  private state: LinkState = 'idle';
  private attempt = 0;
  private heartbeat: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private commands: Promise<void> = Promise.resolve();

  constructor(private readonly opts: HubLinkOptions) {
    this.journal = opts.journal ?? new MemoryJournal();
  }

  get status(): LinkState {
    return this.state;
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.connect();
  }

  /** Journals the event and sends it when connected; returns its seq. */
  emit(event: AgentEvent): number {
    const entry = this.journal.append(event);
    if (this.state === 'ready') this.send({ v: PROTOCOL_VERSION, type: 'event', seq: entry.seq, event: entry.event });
    return entry.seq;
  }

  /** Resolves once the hub has acked every event emitted so far. */
  async flushed(timeoutMs = 30_000): Promise<void> {
    const target = this.journal.state.lastEventSeq;
    const deadline = Date.now() + timeoutMs;
    while (this.journal.state.unacked.some((e) => e.seq <= target)) {
      if (Date.now() > deadline) throw new Error(`hub did not ack events up to ${target} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    if (this.state !== 'revoked') this.state = 'closed';
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close(1000, 'agent stopping');
        setTimeout(() => {
          ws.terminate();
          resolve();
        }, 2000).unref();
      });
    }
    await this.commands.catch(() => undefined);
  }

  private clearTimers(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.heartbeat = this.reconnectTimer = null;
  }

  private send(frame: AgentToHubFrame): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  /**
   * The hub refused this credential for good (a `credential-revoked` frame or close code, or 401 on connect):
   * stop, without the reconnect loop, and say once what to do.
   */
  private revoked(message: string): void {
    if (this.state === 'revoked') return;
    this.state = 'revoked';
    this.clearTimers();
    const line = `credential revoked: ${this.opts.clusterId}; get a new credential with \`meridian cluster credential ${this.opts.clusterId}\` (an administrator) and restart the agent with it`;
    (this.opts.log?.error ?? this.opts.log?.warn)?.call(this.opts.log, { hub: message }, line);
    const ws = this.ws;
    this.ws = null;
    ws?.terminate();
    this.events.emit('revoked', line);
    linkRevocations.emit('revoked', { clusterId: this.opts.clusterId, message: line });
  }

  private connect(): void {
    if (this.state === 'closed' || this.state === 'revoked') return;
    this.state = 'connecting';
    const url = this.opts.hubUrl.replace(/^http/, 'ws').replace(/\/$/, '') + AGENT_CONNECT_PATH;
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${this.opts.credential}` }, handshakeTimeout: 10_000 });
    this.ws = ws;
    ws.on('open', () => {
      this.send({
        v: PROTOCOL_VERSION,
        type: 'hello',
        clusterId: this.opts.clusterId,
        kind: this.opts.kind,
        agentVersion: this.opts.agentVersion,
        appliedCommandSeq: this.journal.state.appliedCommandSeq,
      });
    });
    ws.on('message', (data) => this.onFrame(String(data)));
    ws.on('unexpected-response', (_req, res) => {
      // 401 is the hub's final word on this credential (unknown, rotated or revoked); other refusals are retried
      if (res.statusCode === 401) return this.revoked('the hub answered 401 to the connection');
      this.opts.log?.warn({ status: res.statusCode }, 'hub refused the agent connection');
      ws.terminate();
    });
    ws.on('error', (err) => this.opts.log?.debug({ err: err.message }, 'hub link error'));
    ws.on('close', (code) => {
      if (code === CLOSE_CREDENTIAL_REVOKED) return this.revoked('the hub closed the session: credential revoked');
      if (this.ws !== ws) return;
      this.ws = null;
      const wasReady = this.state === 'ready';
      if (this.heartbeat) clearInterval(this.heartbeat);
      this.heartbeat = null;
      if (this.state === 'closed' || this.state === 'revoked') return;
      this.state = 'connecting';
      if (wasReady) this.events.emit('disconnected');
      const { minMs, maxMs } = this.opts.backoff ?? { minMs: 200, maxMs: 5000 };
      const delay = Math.min(maxMs, minMs * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    });
  }

  private onFrame(text: string): void {
    let frame: HubToAgentFrame;
    try {
      frame = HubToAgentFrame.parse(JSON.parse(text));
    } catch (err) {
      this.opts.log?.warn({ err: (err as Error).message }, 'unreadable frame from the hub');
      return;
    }
    switch (frame.type) {
      case 'welcome': {
        this.attempt = 0;
        this.journal.ackUpTo(frame.storedEventSeq);
        this.state = 'ready';
        for (const e of this.journal.state.unacked) this.send({ v: PROTOCOL_VERSION, type: 'event', seq: e.seq, event: e.event });
        this.heartbeat = setInterval(() => this.emit({ type: 'heartbeat' }), frame.heartbeatIntervalMs);
        this.opts.log?.info({ stored: frame.storedEventSeq, resent: this.journal.state.unacked.length }, 'connected to hub');
        this.events.emit('ready');
        break;
      }
      case 'ack':
        this.journal.ackUpTo(frame.seq);
        this.events.emit('acked', frame.seq);
        break;
      case 'command': {
        const { seq, command } = frame;
        this.commands = this.commands.then(() => this.applyCommand(seq, command));
        break;
      }
      case 'error':
        if (frame.code === CREDENTIAL_REVOKED) return this.revoked(frame.message);
        this.opts.log?.warn({ code: frame.code, message: frame.message, fatal: frame.fatal }, 'hub error');
        this.events.emit('hub-error', frame);
        break;
    }
  }

  private async applyCommand(seq: number, command: Command): Promise<void> {
    if (seq <= this.journal.state.appliedCommandSeq) {
      this.send({ v: PROTOCOL_VERSION, type: 'ack', seq: this.journal.state.appliedCommandSeq });
      return;
    }
    let outcome: CommandOutcome | void;
    try {
      outcome = await this.opts.onCommand(command, seq);
    } catch (err) {
      outcome = { ok: false, error: (err as Error).message };
    }
    // Result first, then applied: a crash in between re-runs an idempotent command rather than losing its result.
    if (outcome) this.emit({ type: 'command.result', commandSeq: seq, ok: outcome.ok, ...(outcome.error ? { error: outcome.error } : {}), ...(outcome.detail !== undefined ? { detail: outcome.detail } : {}) });
    this.journal.setApplied(seq);
    this.send({ v: PROTOCOL_VERSION, type: 'ack', seq });
  }
}
