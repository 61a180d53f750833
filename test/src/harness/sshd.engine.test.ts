import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ssh2';
import { SshdEngine } from './sshd.ts';

function exec(sshd: SshdEngine, command: string, privateKey: Buffer): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const conn = new Client();
    conn
      .on('ready', () => {
        conn.exec(command, (err, stream) => {
          if (err) return reject(err);
          let out = '';
          stream.on('data', (d: Buffer) => (out += d.toString()));
          stream.stderr.on('data', (d: Buffer) => (out += d.toString()));
          stream.on('close', (code: number) => {
            conn.end();
            resolve({ code, out });
          });
        });
      })
      .on('error', reject)
      .connect({ host: sshd.host, port: sshd.port, username: sshd.username, privateKey, readyTimeout: 10_000 });
  });
}

describe('sshd engine', () => {
  let sshd: SshdEngine;
  beforeAll(async () => {
    sshd = await SshdEngine.start();
  });
  afterAll(async () => {
    await sshd?.stop();
  });

  it('runs a command over key authentication', async () => {
    const r = await exec(sshd, 'echo meridian-$((6*7)); exit 3', sshd.privateKey);
    expect(r.out.trim()).toBe('meridian-42');
    expect(r.code).toBe(3);
  });

  it('refuses a key it does not know', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stranger-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
    await expect(exec(sshd, 'true', readFileSync(join(dir, 'key')))).rejects.toThrow(/authentication/i);
    rmSync(dir, { recursive: true });
  });
});
