import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildAddonIfStale, buildFakeNvml, FAKE_NVML_PATH, writeFakeNvmlScript, writeMlx5Fixture } from '@meridian/native/fixtures';
import { StaticGpuSource, StaticRdmaSource, TelemetryCollector } from './collector.ts';
import type { GpuReading, RdmaPortReading } from './collector.ts';
import { openNvmlGpuSource, sysfsRdmaSource } from './native-sources.ts';

export function testGpu(index: number, over: Partial<GpuReading> = {}): GpuReading {
  return {
    index,
    uuid: `GPU-${index}-0000`,
    name: 'NVIDIA H100 80GB HBM3',
    pciBusId: `00000000:${(0x10 + index).toString(16)}:00.0`,
    health: 'ok',
    metrics: { gpu_util: 50 + index, fb_used_bytes: 1048576 * 1024, power_usage_mw: 350_000, gpu_temp: 60, ecc_dbe_volatile_total: 0 },
    nvlinks: [
      { link: 0, active: true },
      { link: 1, active: true },
    ],
    ...over,
  };
}

const port: RdmaPortReading = {
  device: 'mlx5_0',
  port: 1,
  boardId: 'MT_0000000838',
  linkLayer: 'InfiniBand',
  state: { code: 4, name: 'ACTIVE' },
  physState: { code: 5, name: 'LinkUp' },
  rateGbps: 400,
  counters: { symbol_error: 0, link_downed: 1, port_xmit_data: 100 },
  hwCounters: { rnr_nak_retry_err: 0 },
  xmitBytes: 400,
  rcvBytes: 0,
};

function labelsOf(scrape: Awaited<ReturnType<TelemetryCollector['collect']>>, name: string) {
  return scrape.series.filter((s) => s.labels.some((l) => l.name === '__name__' && l.value === name)).map((s) => Object.fromEntries(s.labels.map((l) => [l.name, l.value])));
}

describe('TelemetryCollector', () => {
  it('exports dcgm-exporter names and labels, plus meridian_* series, simulated="true" for fake sources', async () => {
    const gpus = new StaticGpuSource([testGpu(0), testGpu(1)]);
    gpus.raiseXid(1, 79);
    const c = new TelemetryCollector({
      gpus,
      rdma: new StaticRdmaSource([port]),
      hostname: 'node-7',
      cluster: 'eu-a',
      region: 'eu-west',
      expectedGpus: 2,
      allocations: { allocations: async () => new Map([['GPU-0-0000', { namespace: 'team-a', pod: 'train-0', container: 'main', jobId: 'job-1' }]]) },
      now: () => 1_763_800_000_000,
    });
    const scrape = await c.collect();
    expect(scrape.errors).toEqual([]);
    const util = labelsOf(scrape, 'DCGM_FI_DEV_GPU_UTIL');
    expect(util).toHaveLength(2);
    expect(util[0]).toEqual({
      __name__: 'DCGM_FI_DEV_GPU_UTIL',
      gpu: '0',
      UUID: 'GPU-0-0000',
      pci_bus_id: '00000000:10:00.0',
      device: 'nvidia0',
      modelName: 'NVIDIA H100 80GB HBM3',
      Hostname: 'node-7',
      DCGM_FI_DRIVER_VERSION: '550.54.15',
      cluster: 'eu-a',
      region: 'eu-west',
      namespace: 'team-a',
      pod: 'train-0',
      container: 'main',
      meridian_job_id: 'job-1',
      simulated: 'true',
    });
    expect(util[1]!.pod).toBeUndefined();
    // labels sorted byte-wise, as remote-write requires
    for (const s of scrape.series) {
      const names = s.labels.map((l) => l.name);
      expect([...names].sort()).toEqual(names);
      expect(s.samples).toEqual([expect.objectContaining({ timestamp: 1_763_800_000_000 })]);
    }
    const byName = (n: string) => scrape.series.filter((s) => s.labels.some((l) => l.value === n && l.name === '__name__')).map((s) => s.samples[0]!.value);
    expect(byName('DCGM_FI_DEV_FB_USED')).toEqual([1024, 1024]); // MiB
    expect(byName('DCGM_FI_DEV_POWER_USAGE')).toEqual([350, 350]); // W
    expect(byName('DCGM_FI_DEV_XID_ERRORS')).toEqual([0, 79]);
    expect(labelsOf(scrape, 'meridian_gpu_xid_errors_total')).toEqual([expect.objectContaining({ gpu: '1', xid: '79' })]);
    expect(byName('meridian_gpu_health')).toEqual([0, 0]);
    expect(byName('meridian_gpu_nvlink_link_up')).toEqual([1, 1, 1, 1]);
    expect(byName('meridian_node_gpus_visible')).toEqual([2]);
    expect(byName('meridian_node_gpus_expected')).toEqual([2]);
    expect(byName('meridian_rdma_port_state')).toEqual([4]);
    expect(byName('meridian_rdma_link_downed_total')).toEqual([1]);
    expect(byName('meridian_rdma_rnr_nak_retry_err_total')).toEqual([0]);
    expect(byName('meridian_rdma_port_xmit_bytes_total')).toEqual([400]);
    expect(byName('meridian_rdma_port_xmit_data_total')).toEqual([]); // exported ×4 as bytes instead
    expect(labelsOf(scrape, 'meridian_rdma_port_state')[0]).toMatchObject({ device: 'mlx5_0', port: '1', board_id: 'MT_0000000838', simulated: 'true' });

    const text = await c.registry.metrics();
    expect(text).toMatch(/^DCGM_FI_DEV_GPU_UTIL\{.*gpu="0".*UUID="GPU-0-0000".*simulated="true".*\} 50$/m);
    expect(text).toMatch(/^# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization \(in %\)\.$/m);
  });

  it('drops series of workloads that went away', async () => {
    let allocs = new Map([['GPU-0-0000', { namespace: 'a', pod: 'p1' }]]);
    const c = new TelemetryCollector({ gpus: new StaticGpuSource([testGpu(0)]), hostname: 'h', cluster: 'c', allocations: { allocations: async () => allocs } });
    await c.collect();
    expect(await c.registry.metrics()).toMatch(/pod="p1"/);
    allocs = new Map();
    await c.collect();
    expect(await c.registry.metrics()).not.toMatch(/pod="p1"/);
  });

  it('reports a failing source and still exports the rest; no NVML → nvml_up 0', async () => {
    const c = new TelemetryCollector({
      gpus: { available: false, simulated: false, driverVersion: null, read: async () => [], xidCounts: () => [], lastXid: () => new Map() },
      rdma: { simulated: false, read: async () => Promise.reject(new Error('sysfs gone')) },
      hostname: 'h',
      cluster: 'c',
    });
    const s = await c.collect();
    expect(s.errors).toEqual(['rdma: sysfs gone']);
    expect(labelsOf(s, 'meridian_node_nvml_up')).toHaveLength(1);
    expect(s.series.find((x) => x.labels.some((l) => l.value === 'meridian_node_nvml_up'))!.samples[0]!.value).toBe(0);
    expect(labelsOf(s, 'meridian_node_nvml_up')[0]!.simulated).toBeUndefined();
  });
});

describe('native sources (addon + fake NVML + mlx5 sysfs fixture)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'collector-native-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('collects 8 fake GPUs and the fixture ports through the real dlopen path, labelled simulated', async () => {
    await buildAddonIfStale();
    await buildFakeNvml();
    const script = join(dir, 'gpus.script');
    process.env.MERIDIAN_FAKE_NVML_SCRIPT = script;
    writeFakeNvmlScript(script, { gpus: Array.from({ length: 8 }, (_, i) => ({ uuid: `GPU-fake-${i}`, util: 10 * i, nvlinks: 2 })) });
    const root = writeMlx5Fixture(join(dir, 'sys'));
    const gpus = openNvmlGpuSource({ libraryPath: FAKE_NVML_PATH });
    try {
      expect(gpus.available).toBe(true);
      expect(gpus.simulated).toBe(true);
      const c = new TelemetryCollector({ gpus, rdma: sysfsRdmaSource({ root, simulated: true }), hostname: 'h', cluster: 'c', expectedGpus: 8 });
      const s = await c.collect();
      expect(s.errors).toEqual([]);
      expect(labelsOf(s, 'DCGM_FI_DEV_GPU_UTIL').map((l) => l.UUID)).toEqual(Array.from({ length: 8 }, (_, i) => `GPU-fake-${i}`));
      expect(labelsOf(s, 'DCGM_FI_DEV_GPU_UTIL').every((l) => l.simulated === 'true')).toBe(true);
      expect(labelsOf(s, 'meridian_rdma_port_state').length).toBeGreaterThanOrEqual(3);
      expect(s.samples).toBeGreaterThan(8 * 25);
    } finally {
      await gpus.close();
    }
  }, 300_000);

  it('a missing NVML library is "no NVML", never a crash', async () => {
    const gpus = openNvmlGpuSource({ libraryPath: '/nonexistent/libnvidia-ml.so.1' });
    expect(gpus.available).toBe(false);
    expect(gpus.reason).toMatch(/no NVML|cannot open|nonexistent/i);
    const s = await new TelemetryCollector({ gpus, hostname: 'h', cluster: 'c' }).collect();
    expect(labelsOf(s, 'meridian_node_gpus_visible')).toHaveLength(1);
  });
});
