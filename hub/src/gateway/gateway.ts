// The agent gateway: one WebSocket per cluster at AGENT_CONNECT_PATH, authenticated by the cluster's
// credential. It hosts AgentSessions, pushes outbox commands on NOTIFY (and on a timer as a fallback),
// drops sessions that have gone silent, and ends those whose credential was rotated or revoked (NOTIFY, timer).
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type pg from 'pg';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { AGENT_CONNECT_PATH } from '@meridian/protocol/agent-protocol';
import { PgListener } from '../store/listener.ts';
import { OUTBOX_CHANNEL } from '../store/repos/agent-stream.ts';
import { clusterForCredential } from '../store/repos/clusters.ts';
import { sha256 } from '../store/hash.ts';
import type { Keyring } from '../store/sealed.ts';
import { liveCredentialHashes, REVOKE_CHANNEL } from '../store/repos/revocation.ts';
import { AgentSession } from './session.ts';
import type { SessionHooks } from './session.ts';

export interface GatewayConfig {
  databaseUrl: string;
  heartbeatIntervalMs: number;
  /** Close a session that sent nothing for this long (the agent reconnects and resumes). */
  idleTimeoutMs: number;
  /** Re-check open sessions' credentials this often, besides the NOTIFY a rotation sends (default 2 s). */
  revocationRecheckMs?: number;
  /** Opens jobs' sealed environments for their dispatch commands (store/sealed.ts). */
  keyring: Keyring;
}

export class AgentGateway {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
  readonly sessions = new Map<string, AgentSession>();
  private readonly listener: PgListener;
  private tick: NodeJS.Timeout | null = null;
  private recheckTimer: NodeJS.Timeout | null = null;
  private checking = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly log: Logger,
    private readonly cfg: GatewayConfig,
    private readonly hooks: SessionHooks,
  ) {
    this.listener = new PgListener(
      cfg.databaseUrl,
      [OUTBOX_CHANNEL, REVOKE_CHANNEL],
      (ch, payload) => (ch === REVOKE_CHANNEL ? void this.recheckCredentials() : void this.sessions.get(payload)?.flush()),
      log,
      () => {
        this.flushAll();
        void this.recheckCredentials();
      },
    );
  }

  async start(server: Server): Promise<void> {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== AGENT_CONNECT_PATH) return; // other upgrade handlers (none today) may take it
      void this.upgrade(req, socket, head);
    });
    await this.listener.start();
    this.tick = setInterval(() => {
      this.flushAll();
      for (const s of this.sessions.values()) if (s.idleMs > this.cfg.idleTimeoutMs) s.close(4001, 'no frames within the idle timeout');
    }, 1000);
    // the safety net for a rotation NOTIFY missed while the LISTEN connection was down
    this.recheckTimer = setInterval(() => void this.recheckCredentials(), this.cfg.revocationRecheckMs ?? 2000);
  }

  /** Ends every session whose credential is no longer its cluster's (rotated, revoked, cluster archived). */
  async recheckCredentials(): Promise<void> {
    if (this.checking || this.sessions.size === 0) return;
    this.checking = true;
    try {
      const current = await liveCredentialHashes(this.pool, [...this.sessions.keys()]);
      for (const s of this.sessions.values()) if (current.get(s.clusterId) !== s.credentialHash) s.revoke();
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'credential re-check failed; retrying on the next tick');
    } finally {
      this.checking = false;
    }
  }

  private flushAll(): void {
    for (const s of this.sessions.values()) void s.flush();
  }

  private reject(socket: Duplex, status: number, message: string): void {
    const body = JSON.stringify({ code: status === 401 ? 'unauthenticated' : 'error', message, details: [] });
    socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return this.reject(socket, 401, 'send Authorization: Bearer <cluster credential>');
    let cluster;
    try {
      cluster = await clusterForCredential(this.pool, m[1]!);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'agent auth failed: store unavailable');
      return this.reject(socket, 503, 'hub store unavailable; retry');
    }
    if (!cluster) return this.reject(socket, 401, 'unknown cluster credential');
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const old = this.sessions.get(cluster.id);
      const session = new AgentSession(cluster.id, ws, this.pool, this.log, this.cfg.heartbeatIntervalMs, this.hooks, sha256(m[1]!), this.cfg.keyring);
      this.sessions.set(cluster.id, session);
      old?.close(4002, 'replaced by a newer connection');
      ws.on('close', () => {
        if (this.sessions.get(cluster.id) === session) {
          this.sessions.delete(cluster.id);
          void session.onClosed();
        }
      });
      ws.on('error', () => undefined);
    });
  }

  connected(clusterId: string): boolean {
    return this.sessions.has(clusterId);
  }

  async stop(): Promise<void> {
    if (this.tick) clearInterval(this.tick);
    if (this.recheckTimer) clearInterval(this.recheckTimer);
    for (const s of this.sessions.values()) s.close(1001, 'hub shutting down');
    this.sessions.clear();
    this.wss.close();
    await this.listener.stop();
  }
}
