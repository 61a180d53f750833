// The event watcher must let a process (or worker) end cleanly however it is stopped: each case runs in a child
// node process where nothing else holds the event loop, and must exit 0 rather than abort inside the addon
// (a C++ exception thrown from the watcher's finalizer during teardown used to be std::terminate, exit 134).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAddonIfStale, buildFakeNvml, writeFakeNvmlScript } from './fake-nvml.ts';

const CHILD = fileURLToPath(new URL('./testing/watcher-exit-child.ts', import.meta.url));
let dir: string;
let scriptPath: string;

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function runChild(mode: string): Promise<ChildResult> {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, mode], {
    env: { ...process.env, MERIDIAN_FAKE_NVML_SCRIPT: scriptPath },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child '${mode}' still running after 20 s (a watcher kept the process alive?)\n${stderr}`));
    }, 20_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

beforeAll(async () => {
  await buildAddonIfStale();
  await buildFakeNvml();
  dir = mkdtempSync(join(tmpdir(), 'meridian-watcher-exit-'));
  scriptPath = join(dir, 'gpus.script');
  writeFakeNvmlScript(scriptPath, { gpus: [{ uuid: 'GPU-exit-0' }, { uuid: 'GPU-exit-1' }] });
}, 300_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('event watcher at process exit', () => {
  it.each([
    ['unref-stop', 'unref() then await stop() with nothing else on the event loop'],
    ['unref-stop-no-await', 'unref() then stop() not awaited: the pending stop keeps the loop until it settles'],
    ['stop-then-exit', 'process.exit() while stop() is pending'],
    ['unref-only', 'unref() and never stopped: the cleanup hook joins the thread'],
    ['workers', 'the same in a worker that ends, and in a worker terminated mid-stop'],
  ])('%s: %s → exit code 0', async (mode) => {
    const r = await runChild(mode);
    expect(r.stderr).not.toMatch(/terminate called|Napi::Error|Abort/);
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
    expect(r.stdout.trim().split('\n').at(-1)).toBe('stopped');
  }, 30_000);
});
