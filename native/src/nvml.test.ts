// Loads the real addon, which dlopens the fake NVML built from native/fake-nvml/fake_nvml.c,
// and checks inventory, metrics, XID/ECC events and every failure path against the script.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_NVML_PATH, buildAddonIfStale, buildFakeNvml, writeFakeNvmlScript } from './fake-nvml.ts';
import type { FakeNvmlScript } from './fake-nvml.ts';
import { GPU_METRIC_NAMES, openNvml } from './nvml.ts';
import type { EventWatcher, GpuEvent, Nvml, NvmlUnavailable } from './nvml.ts';
import { addonPath } from './loader.ts';

let dir: string;
let scriptPath: string;
const opened: Nvml[] = [];
const watchers: EventWatcher[] = [];

const H100 = {
  uuid: 'GPU-5d5e3a1c-0000-4000-8000-000000000000',
  name: 'NVIDIA H100 80GB HBM3',
  bus: '00000000:18:00.0',
  mem_total: 85_899_345_920,
  mem_used: 12_884_901_888,
  util: 87,
  mem_util: 41,
  temp: 63,
  mem_temp: 71,
  power: 512_345,
  energy: 9_876_543_210,
  sm_clock: 1980,
  mem_clock: 2619,
  graphics_clock: 1975,
  video_clock: 1755,
  clocks_event_reasons: 0x4 | 0x40, // sw_power_cap + hw_thermal_slowdown
  ecc_sbe_volatile: 12,
  ecc_dbe_volatile: 1,
  ecc_sbe_aggregate: 340,
  ecc_dbe_aggregate: 2,
  retired_sbe: 3,
  retired_dbe: 1,
  retired_pending: 1,
  remap_correctable: 5,
  remap_uncorrectable: 2,
  remap_pending: 1,
  remap_failure: 0,
  pcie_replay: 17,
  nvlinks: 4,
  nvlink_down: [3],
  nvlink_replay: [1, 2, 3, 4],
  nvlink_recovery: [0],
  nvlink_crc_flit: [5, 0],
  nvlink_crc_data: [7],
  recovery_action: 1,
};

function script(over: Partial<FakeNvmlScript> = {}): FakeNvmlScript {
  return {
    driver: '550.54.15',
    nvml: '12.550.54.15',
    gpus: [
      H100,
      { uuid: 'GPU-1', name: 'NVIDIA H100 80GB HBM3', util: 5, unsupported: ['power', 'ecc', 'nvlink'] },
      { uuid: 'GPU-2', name: 'NVIDIA H100 80GB HBM3', util: 10 },
      { uuid: 'GPU-3', name: 'NVIDIA H100 80GB HBM3', util: 20 },
    ],
    ...over,
  };
}

function open(): Nvml {
  const n = openNvml({ libraryPath: FAKE_NVML_PATH });
  if (!n.available) throw new Error(`expected the fake NVML to open: ${n.reason}`);
  opened.push(n);
  return n;
}

function unavailable(libraryPath?: string): NvmlUnavailable {
  const n = openNvml(libraryPath === undefined ? {} : { libraryPath });
  if (n.available) {
    opened.push(n);
    throw new Error('expected NVML to be unavailable');
  }
  return n;
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  await buildAddonIfStale();
  await buildFakeNvml();
  dir = mkdtempSync(join(tmpdir(), 'meridian-fake-nvml-'));
  scriptPath = join(dir, 'gpus.script');
  process.env.MERIDIAN_FAKE_NVML_SCRIPT = scriptPath;
}, 300_000);

afterEach(async () => {
  await Promise.all(watchers.splice(0).map((w) => w.stop()));
  for (const n of opened.splice(0)) n.close();
  delete process.env.MERIDIAN_NVML_LIB;
  process.env.MERIDIAN_FAKE_NVML_SCRIPT = scriptPath;
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('NVML through the addon and the fake library', () => {
  it('opens the fake with dlopen and reports the scripted driver', () => {
    writeFakeNvmlScript(scriptPath, script());
    const n = open();
    expect(n.driverVersion).toBe('550.54.15');
    expect(n.nvmlVersion).toBe('12.550.54.15');
    expect(n.libraryPath).toBe(FAKE_NVML_PATH);
    expect(addonPath()).toMatch(/build\/Release\/meridian_native\.node$/);
  });

  it('lists the inventory exactly as scripted', async () => {
    writeFakeNvmlScript(scriptPath, script());
    const inv = await open().inventory();
    expect(inv).toHaveLength(4);
    expect(inv[0]).toEqual({
      index: 0,
      uuid: H100.uuid,
      name: H100.name,
      pciBusId: H100.bus,
      memoryTotalBytes: H100.mem_total,
      memoryUsedBytes: H100.mem_used,
      health: 'ok',
      errors: {},
    });
    expect(inv.map((g) => g.uuid)).toEqual([H100.uuid, 'GPU-1', 'GPU-2', 'GPU-3']);
    expect(inv[2]!.pciBusId).toBe('00000000:1A:00.0'); // the fake's default bus id for index 2
  });

  it('reads every metric with the scripted value', async () => {
    writeFakeNvmlScript(scriptPath, script());
    const [g0, g1] = await open().readGpus();
    expect(g0!.health).toBe('ok');
    expect(g0!.errors).toEqual({});
    expect(g0!.unsupported).toEqual([]);
    expect(g0!.metrics).toEqual({
      recovery_action: 1,
      ecc_dbe_volatile_total: 1,
      ecc_sbe_volatile_total: 12,
      ecc_dbe_aggregate_total: 2,
      ecc_sbe_aggregate_total: 340,
      remapped_rows_correctable: 5,
      remapped_rows_uncorrectable: 2,
      remapped_rows_pending: 1,
      remapped_rows_failure: 0,
      retired_pages_sbe: 3,
      retired_pages_dbe: 1,
      retired_pages_pending: 1,
      nvlink_replay_errors_total: 1 + 2 + 3 + 4,
      nvlink_recovery_errors_total: 0,
      nvlink_crc_flit_errors_total: 5,
      nvlink_crc_data_errors_total: 7 * 4,
      nvlink_links_active: 3,
      pcie_replay_counter: 17,
      gpu_util: 87,
      mem_copy_util: 41,
      fb_total_bytes: H100.mem_total,
      fb_used_bytes: H100.mem_used,
      fb_free_bytes: H100.mem_total - H100.mem_used,
      power_usage_mw: 512_345,
      total_energy_mj: 9_876_543_210,
      gpu_temp: 63,
      memory_temp: 71,
      clocks_event_reasons: 0x44,
      sm_clock_mhz: 1980,
      mem_clock_mhz: 2619,
      graphics_clock_mhz: 1975,
      video_clock_mhz: 1755,
    });
    expect(Object.keys(g0!.metrics).sort()).toEqual([...GPU_METRIC_NAMES].sort());
    expect(g0!.clocksEventReasons).toEqual(['sw_power_cap', 'hw_thermal_slowdown']);
    expect(g0!.recoveryAction).toBe('gpu_reset');
    expect(g0!.nvlinks).toEqual([
      { link: 0, active: true, replayErrors: 1, recoveryErrors: 0, crcFlitErrors: 5, crcDataErrors: 7 },
      { link: 1, active: true, replayErrors: 2, recoveryErrors: 0, crcFlitErrors: 0, crcDataErrors: 7 },
      { link: 2, active: true, replayErrors: 3, recoveryErrors: 0, crcFlitErrors: 0, crcDataErrors: 7 },
      { link: 3, active: false, replayErrors: 4, recoveryErrors: 0, crcFlitErrors: 0, crcDataErrors: 7 },
    ]);
    // GPU 1: unsupported groups come back null and listed, not as errors
    expect(g1!.health).toBe('ok');
    expect(g1!.metrics.power_usage_mw).toBeNull();
    expect(g1!.metrics.ecc_dbe_volatile_total).toBeNull();
    expect(g1!.metrics.nvlink_links_active).toBeNull();
    expect(g1!.metrics.gpu_util).toBe(5);
    expect(g1!.unsupported).toEqual(expect.arrayContaining(['power_usage_mw', 'ecc_dbe_volatile_total', 'nvlink']));
    expect(g1!.errors).toEqual({});
    expect(g1!.nvlinks).toEqual([]);
  });

  it('follows script changes at run time (health goes lost, then back)', async () => {
    writeFakeNvmlScript(scriptPath, script());
    const n = open();
    expect((await n.readGpus())[2]!.health).toBe('ok');

    const gpus = script().gpus;
    gpus[2] = { ...gpus[2], lost: true };
    gpus[3] = { ...gpus[3], reset_required: true, util: 99 };
    writeFakeNvmlScript(scriptPath, script({ gpus }));
    const sick = await n.readGpus();
    expect(sick[2]!.health).toBe('lost');
    expect(sick[2]!.uuid).toBe('GPU-2'); // identity still answers, as NVML's cached data does
    expect(sick[2]!.metrics.gpu_util).toBeNull();
    expect(sick[2]!.errors.utilization).toBe('NVML_ERROR_GPU_IS_LOST (15)');
    expect(sick[3]!.health).toBe('reset_required');
    expect(sick[3]!.errors.gpu_temp).toBe('NVML_ERROR_RESET_REQUIRED (16)');
    expect(sick[0]!.health).toBe('ok');

    writeFakeNvmlScript(scriptPath, script());
    const healed = await n.readGpus();
    expect(healed.map((g) => g.health)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(healed[2]!.metrics.gpu_util).toBe(10);
  });

  it('delivers an injected XID 79 and ECC events through the event callback', async () => {
    writeFakeNvmlScript(scriptPath, script({ events: [{ id: 1, gpu: 0, xid: 13 }] }));
    const n = open();
    const events: GpuEvent[] = [];
    const w = n.watchEvents((ev) => events.push(ev), { waitTimeoutMs: 100 });
    watchers.push(w);
    expect(w.registration).toEqual([
      { gpu: 0, uuid: H100.uuid, eventTypes: 0x8 | 0x2 | 0x1 },
      { gpu: 1, uuid: 'GPU-1', eventTypes: 0x8 }, // ECC unsupported on GPU 1: XID only
      { gpu: 2, uuid: 'GPU-2', eventTypes: 0xb },
      { gpu: 3, uuid: 'GPU-3', eventTypes: 0xb },
    ]);
    // the XID 13 scripted before the watcher existed is not replayed
    await new Promise((r) => setTimeout(r, 300));
    expect(events).toEqual([]);

    const before = Date.now();
    writeFakeNvmlScript(
      scriptPath,
      script({ events: [{ id: 1, gpu: 0, xid: 13 }, { id: 2, gpu: 2, xid: 79 }, { id: 3, gpu: 0, ecc: 'dbe' }, { id: 4, gpu: 1, ecc: 'sbe' }] }),
    );
    await until('two events', () => (events.length >= 2 ? true : undefined));
    expect(events[0]).toMatchObject({ kind: 'xid', gpu: 2, uuid: 'GPU-2', xid: 79, eventType: 0x8, data: 79 });
    expect(events[0]!.timestamp).toBeGreaterThanOrEqual(before);
    expect(events[1]).toMatchObject({ kind: 'ecc_dbe', gpu: 0, uuid: H100.uuid, eventType: 0x2 });
    // GPU 1 is not registered for ECC, so event 4 never arrives
    await new Promise((r) => setTimeout(r, 300));
    expect(events).toHaveLength(2);
    expect(w.xidCounts()).toEqual([{ gpu: 2, uuid: 'GPU-2', xid: 79, count: 1 }]);

    // the GPU then falls off the bus, later reports healthy again
    const gpus = script().gpus;
    gpus[2] = { ...gpus[2], lost: true };
    writeFakeNvmlScript(scriptPath, script({ gpus, events: [{ id: 2, gpu: 2, xid: 79 }, { id: 5, gpu: 2, xid: 79 }] }));
    await until('second XID 79', () => (events.length >= 3 ? true : undefined));
    expect(events[2]).toMatchObject({ kind: 'xid', gpu: 2, xid: 79 });
    expect(w.xidCounts()).toEqual([{ gpu: 2, uuid: 'GPU-2', xid: 79, count: 2 }]);
    expect((await n.readGpus())[2]!.health).toBe('lost');
    writeFakeNvmlScript(scriptPath, script());
    expect((await n.readGpus())[2]!.health).toBe('ok');

    // stop: the thread exits within one wait timeout and no event arrives afterwards
    const t = Date.now();
    await w.stop();
    expect(Date.now() - t).toBeLessThan(2000);
    await w.stop(); // idempotent
    writeFakeNvmlScript(scriptPath, script({ events: [{ id: 9, gpu: 0, xid: 48 }] }));
    await new Promise((r) => setTimeout(r, 300));
    expect(events).toHaveLength(3);
  });

  it('waits for events and samples a slow GPU without blocking the event loop', async () => {
    const gpus = script().gpus;
    gpus[1] = { ...gpus[1], slow_ms: 15 }; // ~30 metric calls: a sample takes 400+ ms
    writeFakeNvmlScript(scriptPath, script({ gpus }));
    const n = open();
    const w = n.watchEvents(() => {}, { waitTimeoutMs: 1000 });
    watchers.push(w);
    let last = Date.now();
    let maxGap = 0;
    const timer = setInterval(() => {
      const now = Date.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 10);
    const t = Date.now();
    const reads = await Promise.all([n.readGpus(), n.inventory()]);
    const took = Date.now() - t;
    await new Promise((r) => setTimeout(r, 300));
    clearInterval(timer);
    expect(reads[0]).toHaveLength(4);
    expect(reads[0]![1]!.metrics.gpu_util).toBe(5);
    expect(took).toBeGreaterThan(300);
    expect(maxGap).toBeLessThan(took / 2);
    expect(maxGap).toBeLessThan(200);
  });

  it('keeps running when the callback throws, reporting through onCallbackError', async () => {
    writeFakeNvmlScript(scriptPath, script());
    const n = open();
    const errors: unknown[] = [];
    const w = n.watchEvents(
      () => {
        throw new Error('listener bug');
      },
      { waitTimeoutMs: 50, onCallbackError: (err) => errors.push(err) },
    );
    watchers.push(w);
    writeFakeNvmlScript(scriptPath, script({ events: [{ id: 1, gpu: 3, xid: 31 }, { id: 2, gpu: 3, xid: 43 }] }));
    await until('two callback errors', () => (errors.length >= 2 ? true : undefined));
    expect(String(errors[0])).toContain('listener bug');
    expect(w.xidCounts().map((c) => c.xid).sort()).toEqual([31, 43]);
  });

  it('reports no NVML clearly when the library is missing (argument or MERIDIAN_NVML_LIB)', () => {
    const missing = join(dir, 'nope', 'libnvidia-ml.so.1');
    const a = unavailable(missing);
    expect(a.reason).toMatch(/^no NVML: /);
    expect(a.reason).toContain('cannot open shared object file');
    expect(a.libraryPath).toBe(missing);

    process.env.MERIDIAN_NVML_LIB = missing;
    const b = unavailable();
    expect(b.reason).toMatch(/^no NVML: .*nope\/libnvidia-ml\.so\.1/);
  });

  it('rejects a library that is not NVML', () => {
    const r = unavailable(addonPath()); // a real shared object without nvmlInit_v2
    expect(r.reason).toBe(`no NVML: ${addonPath()} does not export nvmlInit_v2 (not an NVML library, or one too old)`);
  });

  it('reports a failing nvmlInit_v2 with the NVML error name', () => {
    writeFakeNvmlScript(scriptPath, script({ initError: 9 }));
    expect(unavailable(FAKE_NVML_PATH).reason).toBe('NVML init failed: nvmlInit_v2 returned NVML_ERROR_DRIVER_NOT_LOADED (9)');
  });

  it('names the line and the fix for a broken script, at open and at run time', async () => {
    writeFileSync(scriptPath, 'driver 550.54.15\ngpu 0 uuid=GPU-x tmep=40\n');
    const r = unavailable(FAKE_NVML_PATH);
    expect(r.reason).toContain('NVML init failed: nvmlInit_v2 returned NVML_ERROR_UNKNOWN (999): fake NVML:');
    expect(r.reason).toContain(`${scriptPath} line 2: unknown gpu key 'tmep' (known keys: uuid, name,`);

    writeFakeNvmlScript(scriptPath, script());
    const n = open();
    expect(await n.readGpus()).toHaveLength(4);
    writeFileSync(scriptPath, 'gpu 0 util=lots\n');
    await expect(n.readGpus()).rejects.toThrow(
      `nvmlDeviceGetCount_v2 failed: NVML_ERROR_UNKNOWN (999): fake NVML: ${scriptPath} line 1: gpu key 'util' needs a non-negative integer, got 'lots'`,
    );
    writeFileSync(scriptPath, 'gpu 0\ngpu 2\n');
    await expect(n.readGpus()).rejects.toThrow('gpu 2 is defined but gpu 1 is missing: indices must run 0..N-1');
    writeFakeNvmlScript(scriptPath, script());
    expect(await n.readGpus()).toHaveLength(4); // recovers once the script is fixed
  });

  it('says which variable to set when the fake has no script', () => {
    delete process.env.MERIDIAN_FAKE_NVML_SCRIPT;
    expect(unavailable(FAKE_NVML_PATH).reason).toContain(
      'fake NVML: MERIDIAN_FAKE_NVML_SCRIPT is not set: point it at a fake NVML script file',
    );
  });

  it('reports a watcher error event (not a crash) when the script breaks under a running watcher', async () => {
    writeFakeNvmlScript(scriptPath, script());
    const n = open();
    const events: GpuEvent[] = [];
    const w = n.watchEvents((ev) => events.push(ev), { waitTimeoutMs: 50 });
    watchers.push(w);
    writeFileSync(scriptPath, 'bogus line\n');
    const err = await until('an error event', () => events.find((e) => e.kind === 'error'));
    expect(err.message).toContain("nvmlEventSetWait_v2 failed: NVML_ERROR_UNKNOWN (999): fake NVML:");
    expect(err.message).toContain("unknown directive 'bogus'");
    await w.stop();
  });

  it('refuses calls after close, while NVML stays usable for other sessions', async () => {
    writeFakeNvmlScript(scriptPath, script());
    const a = open();
    const b = open();
    a.close();
    expect(a.isOpen).toBe(false);
    await expect(a.readGpus()).rejects.toThrow('NVML handle is closed: call openNvml() again');
    expect(await b.readGpus()).toHaveLength(4);
  });

  it('validates watch arguments', () => {
    writeFakeNvmlScript(scriptPath, script());
    const n = open();
    expect(() => n.watchEvents(() => {}, { waitTimeoutMs: 1 })).toThrow('timeoutMs must be between 10 and 60000');
  });
});
