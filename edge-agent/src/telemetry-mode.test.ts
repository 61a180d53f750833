// A telemetry receiver that refuses the credential for good (401) ends the agent like a revoked hub link does,
// instead of the forwarder holding samples forever while the process looks healthy.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import client from 'prom-client';
import { expect, it } from 'vitest';
import { linkRevocations } from './hub-link/index.ts';
import { startTelemetry } from './telemetry-mode.ts';

it('a 401 from the telemetry receiver is reported as a revoked credential', async () => {
  let writes = 0;
  const hub = createServer((req, res) => {
    req.resume();
    if (req.url === '/api/v1/telemetry/write') writes++;
    res.writeHead(401, { 'content-type': 'application/json' }).end('{"code":"unauthenticated","message":"revoked","details":[]}');
  });
  await new Promise<void>((r) => hub.listen(0, '127.0.0.1', () => r()));
  const dir = mkdtempSync(join(tmpdir(), 'telemetry-revoked-'));
  const revoked = new Promise<{ clusterId: string; message: string }>((r) => linkRevocations.once('revoked', r));
  const t = startTelemetry({
    telemetry: true,
    telemetryWal: dir,
    telemetryInterval: 50,
    gpuJobs: 'off',
    nodeName: 'n1',
    hubUrl: `http://127.0.0.1:${(hub.address() as AddressInfo).port}`,
    credential: 'mrc_old',
    clusterId: 'c1',
    registry: new client.Registry(),
    log: pino({ level: 'silent' }),
  });
  try {
    const ev = await revoked;
    expect(ev.clusterId).toBe('c1');
    expect(ev.message).toMatch(/^telemetry: /);
    expect(writes).toBe(1);
  } finally {
    await t.stop();
    hub.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 20_000);
