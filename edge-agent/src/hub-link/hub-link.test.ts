// HubLink against a small WebSocket server playing the hub: a revoked credential (the fatal frame, the close code
// alone, or 401 at the upgrade) stops the link for good, says so once, and never reconnects.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { CLOSE_CREDENTIAL_REVOKED, CREDENTIAL_REVOKED, PROTOCOL_VERSION } from '@meridian/protocol/agent-protocol';
import { HubLink, linkRevocations } from './hub-link.ts';

type Behaviour = 'frame' | 'close-code' | 'http-401' | 'http-503';

async function fakeHub(behaviour: Behaviour): Promise<{ url: string; connections: () => number; server: Server }> {
  let connections = 0;
  const server = createServer();
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    // the link drops a refused upgrade at once; a reset on this side of it is expected, not a test failure
    socket.on('error', () => undefined);
    connections++;
    if (behaviour === 'http-401' || behaviour === 'http-503') {
      const status = behaviour === 'http-401' ? '401 Unauthorized' : '503 Service Unavailable';
      socket.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.once('message', () => {
        ws.send(JSON.stringify({ v: PROTOCOL_VERSION, type: 'welcome', storedEventSeq: 0, heartbeatIntervalMs: 60_000 }));
        setTimeout(() => {
          if (behaviour === 'frame') ws.send(JSON.stringify({ v: PROTOCOL_VERSION, type: 'error', code: CREDENTIAL_REVOKED, message: 'credential revoked: c1', fatal: true }));
          ws.close(CLOSE_CREDENTIAL_REVOKED, 'credential revoked');
        }, 50);
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections, server };
}

describe('HubLink and a revoked credential', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  const start = async (behaviour: Behaviour) => {
    const hub = await fakeHub(behaviour);
    const lines: string[] = [];
    const log = { info: () => undefined, debug: () => undefined, warn: () => undefined, error: (_o: unknown, msg?: string) => void lines.push(String(msg)) };
    const link = new HubLink({ hubUrl: hub.url, credential: 'mrc_old', clusterId: 'c1', kind: 'kubernetes', agentVersion: 't/1', onCommand: async () => undefined, log, backoff: { minMs: 20, maxMs: 50 } });
    const global: string[] = [];
    const onGlobal = (e: { clusterId: string }) => void global.push(e.clusterId);
    linkRevocations.on('revoked', onGlobal);
    cleanup.push(async () => {
      linkRevocations.off('revoked', onGlobal);
      await link.stop();
      await new Promise<void>((r) => hub.server.close(() => r()));
    });
    const revoked = new Promise<string>((r) => link.events.once('revoked', r));
    link.start();
    return { hub, link, lines, global, revoked };
  };

  for (const behaviour of ['frame', 'close-code', 'http-401'] as const) {
    it(`stops without reconnecting (${behaviour})`, async () => {
      const { hub, link, lines, global, revoked } = await start(behaviour);
      expect(await revoked).toMatch(/^credential revoked: c1; get a new credential with `meridian cluster credential c1`/);
      await new Promise((r) => setTimeout(r, 300)); // several backoff periods
      expect(link.status).toBe('revoked');
      expect(hub.connections()).toBe(1);
      expect(lines).toHaveLength(1);
      expect(global).toEqual(['c1']);
    });
  }

  it('keeps retrying a hub that is only unavailable (503)', async () => {
    const { hub, link, global } = await start('http-503');
    await new Promise((r) => setTimeout(r, 400));
    expect(hub.connections()).toBeGreaterThan(2);
    expect(link.status).toBe('connecting');
    expect(global).toEqual([]);
  });
});
