// The PodResources client against a real gRPC server on a unix socket serving the kubelet's
// podresources/v1 PodResourcesLister (KWOK has no kubelet; this is the same gRPC API the kubelet serves).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import type { Server, ServiceDefinition } from '@grpc/grpc-js';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { StaticGpuSource, TelemetryCollector } from './collector.ts';
import type { GpuReading } from './collector.ts';
import type { ListPodResourcesResponse } from './gpu-allocations.ts';
import { nodeAllocationSource } from './node-allocations.ts';
import { PodResourcesAllocationSource } from './pod-resources.ts';
import { POD_RESOURCES_SERVICE as SERVICE, startPodResourcesServer } from './testing/kubelet-pod-resources.ts';
import type { ListHandler as Handler } from './testing/kubelet-pod-resources.ts';

const dir = mkdtempSync(join(tmpdir(), 'meridian-podres-'));
const servers: Server[] = [];
const netServers: NetServer[] = [];
const sources: PodResourcesAllocationSource[] = [];

/** A kubelet-like PodResources server on a fresh unix socket. */
async function kubelet(handler: Handler, socket = join(dir, `kubelet-${servers.length}.sock`), service: ServiceDefinition = SERVICE): Promise<{ socket: string; server: Server }> {
  const server = await startPodResourcesServer(socket, handler, service);
  servers.push(server);
  return { socket, server };
}

function logs() {
  const lines: { level: string; msg: string }[] = [];
  return {
    lines,
    log: { info: (_o: object, msg: string) => lines.push({ level: 'info', msg }), warn: (_o: object, msg: string) => lines.push({ level: 'warn', msg }) },
  };
}

function source(o: ConstructorParameters<typeof PodResourcesAllocationSource>[0]): PodResourcesAllocationSource {
  const s = new PodResourcesAllocationSource(o);
  sources.push(s);
  return s;
}

const PODS: ListPodResourcesResponse = {
  pod_resources: [
    { name: 'train-0', namespace: 'team-a', containers: [{ name: 'main', devices: [{ resource_name: 'nvidia.com/gpu', device_ids: ['GPU-0-0000', 'GPU-1-0000'] }] }] },
    { name: 'web', namespace: 'team-b', containers: [{ name: 'nginx', devices: [] }] },
  ],
};

function gpu(index: number): GpuReading {
  return { index, uuid: `GPU-${index}-0000`, name: 'NVIDIA H100 80GB HBM3', pciBusId: `00000000:1${index}:00.0`, health: 'ok', metrics: { gpu_util: 10 * index } };
}

afterEach(async () => {
  for (const s of sources.splice(0)) s.close();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.tryShutdown(() => r()))));
  for (const s of netServers.splice(0)) s.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('PodResourcesAllocationSource', () => {
  it('labels GPU series with namespace/pod/container from List, matched by GPU UUID', async () => {
    const { socket } = await kubelet((reply) => reply(null, PODS));
    const { lines, log } = logs();
    const c = new TelemetryCollector({ gpus: new StaticGpuSource([gpu(0), gpu(1), gpu(2)]), allocations: source({ socketPath: socket, log }), hostname: 'n1', cluster: 'us-east' });
    const scrape = await c.collect();
    expect(scrape.errors).toEqual([]);
    const util = scrape.series
      .filter((s) => s.labels.some((l) => l.value === 'DCGM_FI_DEV_GPU_UTIL'))
      .map((s) => Object.fromEntries(s.labels.map((l) => [l.name, l.value])));
    expect(util.find((l) => l.gpu === '0')).toMatchObject({ namespace: 'team-a', pod: 'train-0', container: 'main' });
    expect(util.find((l) => l.gpu === '1')).toMatchObject({ namespace: 'team-a', pod: 'train-0', container: 'main' });
    expect(util.find((l) => l.gpu === '2')).not.toHaveProperty('pod');
    expect(await c.registry.metrics()).toMatch(/DCGM_FI_DEV_GPU_UTIL\{[^}]*namespace="team-a",pod="train-0",container="main"/);
    expect(lines).toEqual([{ level: 'info', msg: 'kubelet PodResources: mapping GPUs to pods' }]);
  });

  it('no socket (or a plain file at the path): no mapping, no error, one log line naming the fix', async () => {
    const { lines, log } = logs();
    const s = source({ socketPath: join(dir, 'absent.sock'), log });
    expect((await s.allocations()).size).toBe(0);
    expect((await s.allocations()).size).toBe(0);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.msg).toMatch(/no kubelet PodResources socket.*mount \/var\/lib\/kubelet\/pod-resources/);
    const file = join(dir, 'not-a-socket');
    writeFileSync(file, 'x');
    expect((await source({ socketPath: file }).allocations()).size).toBe(0);
  });

  it('the default socket path comes from MERIDIAN_POD_RESOURCES_SOCKET, else the kubelet default', () => {
    const prev = process.env.MERIDIAN_POD_RESOURCES_SOCKET;
    try {
      delete process.env.MERIDIAN_POD_RESOURCES_SOCKET;
      expect(source({}).socketPath).toBe('/var/lib/kubelet/pod-resources/kubelet.sock');
      process.env.MERIDIAN_POD_RESOURCES_SOCKET = '/run/k/kubelet.sock';
      expect(source({}).socketPath).toBe('/run/k/kubelet.sock');
    } finally {
      if (prev === undefined) delete process.env.MERIDIAN_POD_RESOURCES_SOCKET;
      else process.env.MERIDIAN_POD_RESOURCES_SOCKET = prev;
    }
  });

  it('a socket that disappears (kubelet stopped) drops the mapping; a new kubelet on the same path is picked up', async () => {
    const socket = join(dir, 'restart.sock');
    const first = await kubelet((reply) => reply(null, PODS), socket);
    const { lines, log } = logs();
    const s = source({ socketPath: socket, log });
    expect((await s.allocations()).get('GPU-0-0000')).toMatchObject({ pod: 'train-0' });
    await new Promise<void>((r) => first.server.tryShutdown(() => r()));
    rmSync(socket, { force: true }); // the kubelet removes its socket on exit
    expect((await s.allocations()).size).toBe(0);
    await kubelet((reply) => reply(null, { pod_resources: [{ name: 'p2', namespace: 'ns', containers: [{ name: 'c', devices: [{ resource_name: 'nvidia.com/gpu', device_ids: ['GPU-0-0000'] }] }] }] }), socket);
    expect((await s.allocations()).get('GPU-0-0000')).toEqual({ namespace: 'ns', pod: 'p2', container: 'c' });
    expect(lines.map((l) => l.msg.slice(0, 30))).toEqual(['kubelet PodResources: mapping ', 'no kubelet PodResources socket', 'kubelet PodResources: mapping ']);
  });

  it('a kubelet that crashed and left its socket behind: the call fails, the process does not', async () => {
    const socket = join(dir, 'stale.sock');
    // a process that listens and is SIGKILLed leaves the socket file with nobody behind it (ECONNREFUSED)
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socket)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => child.stdout.once('data', r));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const { lines, log } = logs();
    const s = source({ socketPath: socket, maxStaleMs: 0, timeoutMs: 1000, log });
    await expect(s.allocations()).rejects.toThrow(/kubelet PodResources List on .*stale\.sock failed: UNAVAILABLE/);
    await expect(s.allocations()).rejects.toThrow(/UNAVAILABLE/);
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1);
  });

  it('a slow kubelet: the call gives up at the deadline, keeps the last mapping for maxStaleMs, then reports the failure', async () => {
    let slow = false;
    const { socket } = await kubelet((reply) => (slow ? setTimeout(() => reply(null, PODS), 3000) : reply(null, PODS)));
    let now = 1_000_000;
    const { lines, log } = logs();
    const s = source({ socketPath: socket, timeoutMs: 300, maxStaleMs: 10_000, log, now: () => now });
    expect((await s.allocations()).size).toBe(2);
    slow = true;
    const t0 = Date.now();
    expect((await s.allocations()).get('GPU-1-0000')).toMatchObject({ pod: 'train-0' }); // stale but kept
    expect(Date.now() - t0).toBeLessThan(2000);
    now += 20_000;
    await expect(s.allocations()).rejects.toThrow(/failed: DEADLINE_EXCEEDED/);
    await expect(s.allocations()).rejects.toThrow(/DEADLINE_EXCEEDED/);
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1); // logged once, not per scrape
    expect(lines.at(-1)!.msg).toMatch(/DEADLINE_EXCEEDED.*pod labels kept for 10000 ms/);
  });

  it('a kubelet answering an error status: the collector exports the GPUs without pod labels and records the error', async () => {
    const { socket } = await kubelet((reply) => reply({ code: status.UNIMPLEMENTED, details: 'PodResources disabled' }));
    const c = new TelemetryCollector({ gpus: new StaticGpuSource([gpu(0)]), allocations: source({ socketPath: socket, maxStaleMs: 0 }), hostname: 'n1', cluster: 'c' });
    const scrape = await c.collect();
    expect(scrape.errors).toEqual([expect.stringMatching(/^allocations: kubelet PodResources List on .* failed: UNIMPLEMENTED: PodResources disabled$/)]);
    expect(scrape.series.some((s) => s.labels.some((l) => l.value === 'DCGM_FI_DEV_GPU_UTIL'))).toBe(true);
  });

  it('garbage: a response that is not a ListPodResourcesResponse', async () => {
    const List = SERVICE.List!;
    const junk: ServiceDefinition = { List: { ...List, responseSerialize: () => Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]) } };
    const { socket } = await kubelet((reply) => reply(null, PODS), join(dir, 'junk.sock'), junk);
    await expect(source({ socketPath: socket, maxStaleMs: 0 }).allocations()).rejects.toThrow(/failed: INTERNAL: .*pars/i);
  });

  it('garbage: something on the socket that is not gRPC at all', async () => {
    const socket = join(dir, 'http.sock');
    const srv = createServer((conn) => {
      conn.on('error', () => {});
      conn.write('HTTP/1.1 400 Bad Request\r\n\r\nnot grpc', () => conn.destroy());
    });
    netServers.push(srv);
    await new Promise<void>((r) => srv.listen(socket, r));
    await expect(source({ socketPath: socket, maxStaleMs: 0, timeoutMs: 1000 }).allocations()).rejects.toThrow(/kubelet PodResources List on .*http\.sock failed: (UNAVAILABLE|INTERNAL|DEADLINE_EXCEEDED)/);
  });

  it('nodeAllocationSource: PodResources when the socket is there, nothing (and no error) when not', async () => {
    const { socket } = await kubelet((reply) => reply(null, PODS));
    const on = nodeAllocationSource({ nodeName: 'n1', podResourcesSocket: socket });
    expect((await on.allocations()).get('GPU-0-0000')).toMatchObject({ pod: 'train-0' });
    on.close();
    const absent = nodeAllocationSource({ nodeName: 'n1', podResourcesSocket: join(dir, 'none.sock') });
    expect((await absent.allocations()).size).toBe(0);
    expect((await nodeAllocationSource({ nodeName: 'n1', podResourcesSocket: false }).allocations()).size).toBe(0);
  });
});
