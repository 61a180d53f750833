// The edge-agent process with a credential the hub refuses (401 at the WebSocket upgrade): one clear line, then
// exit status 3 at once, not a reconnect loop a supervisor would never see the end of.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { EXIT_CREDENTIAL_REVOKED } from './main.ts';

it('exits 3 with one line when the hub says the credential is revoked', async () => {
  let upgrades = 0;
  const hub = createServer((_req, res) => res.end());
  hub.on('upgrade', (_req, socket) => {
    socket.on('error', () => undefined); // the agent may reset the refused upgrade before it is read
    upgrades++;
    socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  await new Promise<void>((r) => hub.listen(0, '127.0.0.1', () => r()));
  const dir = mkdtempSync(join(tmpdir(), 'agent-revoked-'));
  // an apiserver nobody answers: the agent keeps retrying it, which must not keep the process alive
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\nclusters: [{name: x, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: x, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: x, user: x}}]\ncurrent-context: x\n');
  try {
    const main = fileURLToPath(new URL('./main.ts', import.meta.url));
    const hubUrl = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
    const child = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', main, '--hub-url', hubUrl, '--cluster-id', 'c1', '--credential', 'mrc_old', '--kubeconfig', kubeconfig, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t0 = Date.now();
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(EXIT_CREDENTIAL_REVOKED);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(out.match(/credential revoked: c1; get a new credential with `meridian cluster credential c1`/g)).toHaveLength(1);
    expect(upgrades).toBe(1);
  } finally {
    hub.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);
