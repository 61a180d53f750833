// `edge-agent --kind collector`: the per-node telemetry process, run in-process over the real addon and the
// fake NVML, forwarding to a plain HTTP server standing where the hub's receiver would be.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAddonIfStale, buildFakeNvml, FAKE_NVML_PATH, writeFakeNvmlScript } from '@meridian/native/fixtures';
import { checkNodeName } from './collector-mode.ts';
import { program, run } from './main.ts';
import type { MainOptions } from './main.ts';
import { startPodResourcesServer } from './telemetry/testing/kubelet-pod-resources.ts';

const dir = mkdtempSync(join(tmpdir(), 'meridian-collector-'));
const writes: { auth: string | undefined; bytes: number }[] = [];
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.url === '/api/v1/telemetry/write') writes.push({ auth: req.headers.authorization, bytes: Buffer.concat(chunks).length });
    res.writeHead(204).end();
  });
});
let hubUrl = '';

const opts = (extra: string[]): MainOptions =>
  program()
    .exitOverride()
    .parse(['node', 'edge-agent', '--kind', 'collector', '--hub-url', hubUrl, '--cluster-id', 'east', '--credential', 'mrc_test', '--listen', '127.0.0.1:0', '--log-level', 'warn', ...extra])
    .opts<MainOptions>();

beforeAll(async () => {
  await buildAddonIfStale();
  await buildFakeNvml();
  const script = join(dir, 'gpus.script');
  process.env.MERIDIAN_FAKE_NVML_SCRIPT = script;
  writeFakeNvmlScript(script, { gpus: [{ uuid: 'GPU-n7-0', util: 42 }, { uuid: 'GPU-n7-1', util: 7 }] });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  hubUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  await new Promise<void>((r) => receiver.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

describe('edge-agent --kind collector', () => {
  it('labels every GPU series with the node name, serves /healthz and /metrics, and forwards with the cluster credential', async () => {
    const h = await run(opts(['--node-name', 'gpu-node-7', '--nvml-lib', FAKE_NVML_PATH, '--telemetry-interval', '100', '--telemetry-wal', join(dir, 'wal')]));
    try {
      await expect.poll(() => writes.length, { timeout: 10_000 }).toBeGreaterThan(0);
      expect(writes[0]!.auth).toBe('Bearer mrc_test');
      const metrics = await (await fetch(`${h.url}/metrics`)).text();
      expect(metrics).toMatch(/DCGM_FI_DEV_GPU_UTIL\{[^}]*UUID="GPU-n7-0"[^}]*\} 42/);
      for (const line of metrics.split('\n').filter((l) => l.startsWith('DCGM_FI_DEV_GPU_UTIL{'))) expect(line).toContain('Hostname="gpu-node-7"');
      const health = (await (await fetch(`${h.url}/healthz`)).json()) as { ok: boolean; node: string; nvml: boolean; simulated: boolean };
      expect(health).toMatchObject({ ok: true, node: 'gpu-node-7', nvml: true, simulated: true });
    } finally {
      await h.close();
    }
  }, 30_000);

  it('labels a GPU with the pod holding it, from the kubelet PodResources API (--gpu-jobs pods, the default)', async () => {
    const socket = join(dir, 'kubelet.sock');
    const kubelet = await startPodResourcesServer(socket, (reply) =>
      reply(null, { pod_resources: [{ name: 'train-0', namespace: 'team-a', containers: [{ name: 'main', devices: [{ resource_name: 'nvidia.com/gpu', device_ids: ['GPU-n7-1'] }] }] }] }),
    );
    process.env.MERIDIAN_POD_RESOURCES_SOCKET = socket;
    const h = await run(opts(['--node-name', 'gpu-node-7', '--nvml-lib', FAKE_NVML_PATH, '--telemetry-interval', '100', '--telemetry-wal', join(dir, 'wal-pods')]));
    try {
      const util = async () => (await (await fetch(`${h.url}/metrics`)).text()).split('\n').filter((l) => l.startsWith('DCGM_FI_DEV_GPU_UTIL{'));
      await expect.poll(async () => (await util()).find((l) => l.includes('UUID="GPU-n7-1"')) ?? '', { timeout: 10_000 }).toContain('pod="train-0"');
      const held = (await util()).find((l) => l.includes('UUID="GPU-n7-1"'))!;
      expect(held).toContain('namespace="team-a"');
      expect(held).toContain('container="main"');
      expect((await util()).find((l) => l.includes('UUID="GPU-n7-0"'))).not.toContain('pod=');
    } finally {
      await h.close();
      kubelet.forceShutdown();
      delete process.env.MERIDIAN_POD_RESOURCES_SOCKET;
    }
  }, 30_000);

  it('refuses an unknown --gpu-jobs source, naming the choices', () => {
    expect(() => opts(['--node-name', 'n', '--gpu-jobs', 'kubelet'])).toThrow(/--gpu-jobs <source>' argument 'kubelet' is invalid. Allowed choices are pods, slurm, both, off/);
  });

  it('needs a valid --node-name, and says so', async () => {
    expect(() => checkNodeName(undefined)).toThrow(/--kind collector needs --node-name <node> \(env MERIDIAN_NODE_NAME\)/);
    expect(() => checkNodeName('')).toThrow(/needs --node-name/);
    expect(() => checkNodeName('bad node!')).toThrow(/--node-name "bad node!" is not a node name/);
    expect(checkNodeName('a100-3.rack2')).toBe('a100-3.rack2');
    delete process.env.MERIDIAN_NODE_NAME;
    await expect(run(opts([]))).rejects.toThrow(/needs --node-name/);
  });
});
