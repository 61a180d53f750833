// Helpers for the fake NVML (native/fake-nvml/fake_nvml.c): build it, and write the script it
// re-reads on every call, so tests and the sandbox can script GPUs, inject XIDs and heal them.
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageDir } from './loader.ts';

/** The built fake: load it with openNvml({ libraryPath: FAKE_NVML_PATH }) or MERIDIAN_NVML_LIB. */
export const FAKE_NVML_PATH = join(packageDir, 'build', 'fake-nvml', 'libnvidia-ml.so.1');

interface BuildModule {
  buildAddon(opts?: { ifStale?: boolean }): void;
  buildFakeNvml(): string;
}

async function buildModule(): Promise<BuildModule> {
  const url = new URL('../scripts/build.mjs', import.meta.url).href;
  return (await import(url)) as BuildModule;
}

/** Compiles the fake NVML when its source is newer than the library (cc -shared -fPIC). */
export async function buildFakeNvml(): Promise<string> {
  return (await buildModule()).buildFakeNvml();
}

/** Builds the addon with node-gyp unless build/Release/meridian_native.node is newer than csrc/. */
export async function buildAddonIfStale(): Promise<void> {
  (await buildModule()).buildAddon({ ifStale: true });
}

/** One scripted GPU: the keys of a `gpu` line (see docs/native.md). Unset keys take the fake's defaults. */
export interface FakeGpu {
  uuid?: string;
  name?: string;
  bus?: string;
  mem_total?: number;
  mem_used?: number;
  util?: number;
  mem_util?: number;
  temp?: number;
  mem_temp?: number;
  /** mW */
  power?: number;
  /** mJ */
  energy?: number;
  sm_clock?: number;
  mem_clock?: number;
  graphics_clock?: number;
  video_clock?: number;
  clocks_event_reasons?: number;
  ecc_sbe_volatile?: number;
  ecc_dbe_volatile?: number;
  ecc_sbe_aggregate?: number;
  ecc_dbe_aggregate?: number;
  retired_sbe?: number;
  retired_dbe?: number;
  retired_pending?: number;
  remap_correctable?: number;
  remap_uncorrectable?: number;
  remap_pending?: number;
  remap_failure?: number;
  pcie_replay?: number;
  nvlinks?: number;
  /** link indexes that report inactive */
  nvlink_down?: number[];
  /** per link; the last value repeats for the remaining links */
  nvlink_replay?: number[];
  nvlink_recovery?: number[];
  nvlink_crc_flit?: number[];
  nvlink_crc_data?: number[];
  recovery_action?: number;
  /** every dynamic call returns NVML_ERROR_GPU_IS_LOST */
  lost?: boolean;
  /** every dynamic call returns NVML_ERROR_RESET_REQUIRED */
  reset_required?: boolean;
  /** every metric call on this GPU takes this many ms longer (a failing GPU; checks nothing blocks the event loop) */
  slow_ms?: number;
  /** metric groups answering NVML_ERROR_NOT_SUPPORTED */
  unsupported?: ('memory' | 'utilization' | 'temperature' | 'memory_temp' | 'power' | 'energy' | 'clocks' | 'clocks_event_reasons' | 'ecc' | 'retired_pages' | 'remapped_rows' | 'pcie_replay' | 'nvlink' | 'recovery_action' | 'events')[];
}

export type FakeEvent = { id: number; gpu: number; xid: number } | { id: number; gpu: number; ecc: 'sbe' | 'dbe' };

export interface FakeNvmlScript {
  driver?: string;
  nvml?: string;
  /** make nvmlInit_v2 fail with this NVML return code (e.g. 9 = DRIVER_NOT_LOADED) */
  initError?: number;
  gpus: FakeGpu[];
  /** delivered once each, in id order, to event sets created before the event appeared */
  events?: FakeEvent[];
}

function renderValue(v: unknown): string {
  if (Array.isArray(v)) return v.join(',');
  if (typeof v === 'boolean') return v ? '1' : '0';
  const s = String(v);
  return /[\s"]/.test(s) ? `"${s.replace(/"/g, '')}"` : s;
}

/** Renders a script in the fake's line format. */
export function renderFakeNvmlScript(script: FakeNvmlScript): string {
  const lines = ['# Meridian fake NVML script (native/fake-nvml); re-read whenever this file changes'];
  if (script.driver) lines.push(`driver ${script.driver}`);
  if (script.nvml) lines.push(`nvml ${script.nvml}`);
  if (script.initError) lines.push(`init_error ${script.initError}`);
  script.gpus.forEach((g, i) => {
    const kv = Object.entries(g)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${renderValue(v)}`);
    lines.push(`gpu ${i} ${kv.join(' ')}`.trimEnd());
  });
  for (const e of script.events ?? []) {
    lines.push('xid' in e ? `event ${e.id} gpu=${e.gpu} xid=${e.xid}` : `event ${e.id} gpu=${e.gpu} ecc=${e.ecc}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Writes a script atomically (temp file + rename), so the fake never reads half a file. */
export function writeFakeNvmlScript(path: string, script: FakeNvmlScript | string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, typeof script === 'string' ? script : renderFakeNvmlScript(script));
  renameSync(tmp, path);
}
