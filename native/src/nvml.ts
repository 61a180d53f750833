// Typed NVML API over the native addon: inventory, metrics, XID/ECC event watching.
import { loadAddon } from './loader.ts';
import type { RawDeviceSample, RawEvent, RawHandle } from './loader.ts';

/** Per-GPU metric keys, in the research note's priority order where NVML provides them. */
export const GPU_METRIC_NAMES = [
  'recovery_action',
  'ecc_dbe_volatile_total',
  'ecc_sbe_volatile_total',
  'ecc_dbe_aggregate_total',
  'ecc_sbe_aggregate_total',
  'remapped_rows_correctable',
  'remapped_rows_uncorrectable',
  'remapped_rows_pending',
  'remapped_rows_failure',
  'retired_pages_sbe',
  'retired_pages_dbe',
  'retired_pages_pending',
  'nvlink_replay_errors_total',
  'nvlink_recovery_errors_total',
  'nvlink_crc_flit_errors_total',
  'nvlink_crc_data_errors_total',
  'nvlink_links_active',
  'pcie_replay_counter',
  'gpu_util',
  'mem_copy_util',
  'fb_total_bytes',
  'fb_used_bytes',
  'fb_free_bytes',
  'power_usage_mw',
  'total_energy_mj',
  'gpu_temp',
  'memory_temp',
  'clocks_event_reasons',
  'sm_clock_mhz',
  'mem_clock_mhz',
  'graphics_clock_mhz',
  'video_clock_mhz',
] as const;
export type GpuMetricName = (typeof GPU_METRIC_NAMES)[number];

/**
 * dcgm-exporter names (and the factor from our unit to theirs) for the metrics that have one.
 * Everything else is exported by the agent as `meridian_gpu_<key>`.
 */
export const DCGM_NAMES: Partial<Record<GpuMetricName, { name: string; scale: number }>> = {
  gpu_util: { name: 'DCGM_FI_DEV_GPU_UTIL', scale: 1 },
  mem_copy_util: { name: 'DCGM_FI_DEV_MEM_COPY_UTIL', scale: 1 },
  fb_used_bytes: { name: 'DCGM_FI_DEV_FB_USED', scale: 1 / 1048576 }, // MiB
  fb_free_bytes: { name: 'DCGM_FI_DEV_FB_FREE', scale: 1 / 1048576 }, // MiB
  gpu_temp: { name: 'DCGM_FI_DEV_GPU_TEMP', scale: 1 },
  memory_temp: { name: 'DCGM_FI_DEV_MEMORY_TEMP', scale: 1 },
  power_usage_mw: { name: 'DCGM_FI_DEV_POWER_USAGE', scale: 1 / 1000 }, // W
  total_energy_mj: { name: 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION', scale: 1 }, // mJ
  sm_clock_mhz: { name: 'DCGM_FI_DEV_SM_CLOCK', scale: 1 },
  mem_clock_mhz: { name: 'DCGM_FI_DEV_MEM_CLOCK', scale: 1 },
  pcie_replay_counter: { name: 'DCGM_FI_DEV_PCIE_REPLAY_COUNTER', scale: 1 },
  remapped_rows_uncorrectable: { name: 'DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS', scale: 1 },
  remapped_rows_correctable: { name: 'DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS', scale: 1 },
  remapped_rows_failure: { name: 'DCGM_FI_DEV_ROW_REMAP_FAILURE', scale: 1 },
  ecc_sbe_volatile_total: { name: 'DCGM_FI_DEV_ECC_SBE_VOL_TOTAL', scale: 1 },
  ecc_dbe_volatile_total: { name: 'DCGM_FI_DEV_ECC_DBE_VOL_TOTAL', scale: 1 },
  ecc_sbe_aggregate_total: { name: 'DCGM_FI_DEV_ECC_SBE_AGG_TOTAL', scale: 1 },
  ecc_dbe_aggregate_total: { name: 'DCGM_FI_DEV_ECC_DBE_AGG_TOTAL', scale: 1 },
  retired_pages_sbe: { name: 'DCGM_FI_DEV_RETIRED_SBE', scale: 1 },
  retired_pages_dbe: { name: 'DCGM_FI_DEV_RETIRED_DBE', scale: 1 },
  retired_pages_pending: { name: 'DCGM_FI_DEV_RETIRED_PENDING', scale: 1 },
  clocks_event_reasons: { name: 'DCGM_FI_DEV_CLOCKS_EVENT_REASONS', scale: 1 },
  nvlink_replay_errors_total: { name: 'DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL', scale: 1 },
  nvlink_recovery_errors_total: { name: 'DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL', scale: 1 },
  nvlink_crc_flit_errors_total: { name: 'DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL', scale: 1 },
  nvlink_crc_data_errors_total: { name: 'DCGM_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL', scale: 1 },
};

/** nvmlClocksEventReason* bits. */
export const CLOCKS_EVENT_REASONS: Record<string, number> = {
  gpu_idle: 0x1,
  applications_clocks_setting: 0x2,
  sw_power_cap: 0x4,
  hw_slowdown: 0x8,
  sync_boost: 0x10,
  sw_thermal_slowdown: 0x20,
  hw_thermal_slowdown: 0x40,
  hw_power_brake_slowdown: 0x80,
  display_clock_setting: 0x100,
};

export function decodeClocksEventReasons(mask: number | null): string[] {
  if (mask === null) return [];
  return Object.entries(CLOCKS_EVENT_REASONS)
    .filter(([, bit]) => Math.floor(mask / bit) % 2 === 1)
    .map(([name]) => name);
}

/** NVML_FI_DEV_GET_GPU_RECOVERY_ACTION values (nvmlDeviceGpuRecoveryAction_t). */
export const RECOVERY_ACTIONS = ['none', 'gpu_reset', 'node_reboot', 'drain_p2p', 'drain_and_reset'] as const;
export type RecoveryAction = (typeof RECOVERY_ACTIONS)[number] | 'unknown';

/**
 * ok; lost = a call returned NVML_ERROR_GPU_IS_LOST; reset_required = NVML_ERROR_RESET_REQUIRED;
 * error = some other call failed (not NOT_SUPPORTED, not NO_PERMISSION; see `errors`).
 */
export type GpuHealth = 'ok' | 'lost' | 'reset_required' | 'error';

export interface GpuInventoryItem {
  index: number;
  uuid: string;
  name: string;
  pciBusId: string;
  memoryTotalBytes: number | null;
  memoryUsedBytes: number | null;
  health: GpuHealth;
  /** metric key (or "uuid", "name", "pci_bus_id", "fb", "handle") → NVML error text */
  errors: Record<string, string>;
}

export interface NvLinkSample {
  link: number;
  active: boolean;
  replayErrors: number | null;
  recoveryErrors: number | null;
  crcFlitErrors: number | null;
  crcDataErrors: number | null;
}

export interface GpuSample {
  index: number;
  uuid: string;
  name: string;
  pciBusId: string;
  health: GpuHealth;
  /** null where the GPU does not support it (listed in `unsupported`) or the call failed (in `errors`). */
  metrics: Record<GpuMetricName, number | null>;
  unsupported: string[];
  errors: Record<string, string>;
  nvlinks: NvLinkSample[];
  clocksEventReasons: string[];
  recoveryAction: RecoveryAction | null;
  /** ms since the epoch, when the sample resolved */
  sampledAt: number;
}

export type GpuEventKind = 'xid' | 'ecc_sbe' | 'ecc_dbe' | 'other' | 'error';

export interface GpuEvent {
  kind: GpuEventKind;
  /** GPU index, -1 when NVML named a device we did not register (or for `error`) */
  gpu: number;
  uuid: string;
  /** for kind "xid": the XID code (eventData) */
  xid?: number;
  eventType: number;
  data: number;
  /** ms since the epoch when the watcher thread received it */
  timestamp: number;
  /** for kind "error": why waiting failed (the watcher keeps going, backing off) */
  message?: string;
}

export interface EventRegistration {
  gpu: number;
  uuid: string;
  /** NVML event-type mask registered (XID 0x8, DBE 0x2, SBE 0x1); 0 when registration failed */
  eventTypes: number;
  error?: string;
}

export interface WatchOptions {
  /** nvmlEventSetWait_v2 timeout per wait, 10..60000 ms (default 500): the longest stop() takes. */
  waitTimeoutMs?: number;
  /** called if the callback throws (default: console.error); the watcher keeps running. */
  onCallbackError?: (err: unknown, ev: GpuEvent) => void;
}

export interface EventWatcher {
  /** which GPUs were registered for which events, with the reason where a GPU refused */
  readonly registration: EventRegistration[];
  /** XID events seen since the watcher started, counted per GPU and code */
  xidCounts(): { gpu: number; uuid: string; xid: number; count: number }[];
  /**
   * stops the background thread; resolves once it has exited and the event set is freed. A pending stop keeps
   * the process alive (even after unref()) for at most one waitTimeoutMs, so awaiting it always settles.
   */
  stop(): Promise<void>;
  /** lets the process exit while the watcher runs (it keeps the event loop alive by default) */
  unref(): void;
}

export interface NvmlUnavailable {
  available: false;
  /** e.g. "no NVML: libnvidia-ml.so.1: cannot open shared object file: ..." */
  reason: string;
  libraryPath: string;
}

export interface OpenNvmlOptions {
  /** default: $MERIDIAN_NVML_LIB, else "libnvidia-ml.so.1" (found through the dynamic loader's path) */
  libraryPath?: string;
}

export const DEFAULT_NVML_LIBRARY = 'libnvidia-ml.so.1';

function toHealth(h: string): GpuHealth {
  return h === 'lost' || h === 'reset_required' || h === 'error' ? h : 'ok';
}

function toSample(raw: RawDeviceSample, sampledAt: number): GpuSample {
  const metrics = {} as Record<GpuMetricName, number | null>;
  for (const k of GPU_METRIC_NAMES) metrics[k] = raw.metrics[k] ?? null;
  const ra = metrics.recovery_action;
  return {
    index: raw.index,
    uuid: raw.uuid,
    name: raw.name,
    pciBusId: raw.pciBusId,
    health: toHealth(raw.health),
    metrics,
    unsupported: raw.unsupported,
    errors: raw.errors,
    nvlinks: raw.nvlinks ?? [],
    clocksEventReasons: decodeClocksEventReasons(metrics.clocks_event_reasons),
    recoveryAction: ra === null ? null : (RECOVERY_ACTIONS[ra] ?? 'unknown'),
    sampledAt,
  };
}

/** An open NVML session. NVML stays initialised until close() and every sample/watcher using it are done. */
export class Nvml {
  readonly available = true as const;

  constructor(
    private readonly handle: RawHandle,
    readonly driverVersion: string,
    readonly nvmlVersion: string,
    readonly libraryPath: string,
  ) {}

  /** Index, UUID, name, PCI bus id and memory of every GPU NVML sees (a few NVML calls per GPU). */
  async inventory(): Promise<GpuInventoryItem[]> {
    const raw = await this.handle.sample(false);
    return raw.map((d) => ({
      index: d.index,
      uuid: d.uuid,
      name: d.name,
      pciBusId: d.pciBusId,
      memoryTotalBytes: d.metrics.fb_total_bytes ?? null,
      memoryUsedBytes: d.metrics.fb_used_bytes ?? null,
      health: toHealth(d.health),
      errors: d.errors,
    }));
  }

  /** Every metric of every GPU. NVML is called on a libuv worker thread, never on the event loop. */
  async readGpus(): Promise<GpuSample[]> {
    const raw = await this.handle.sample(true);
    const now = Date.now();
    return raw.map((d) => toSample(d, now));
  }

  /**
   * Delivers XID and ECC events (every GPU registered for what it supports) to `callback`, from an NVML
   * event set waited on by a background thread. Only events after this call are seen.
   */
  watchEvents(callback: (ev: GpuEvent) => void, opts: WatchOptions = {}): EventWatcher {
    const counts = new Map<string, { gpu: number; uuid: string; xid: number; count: number }>();
    const onError = opts.onCallbackError ?? ((err: unknown) => console.error('[@meridian/native] event callback threw:', err));
    const raw = this.handle.watch((r: RawEvent) => {
      const ev: GpuEvent = {
        kind: (['xid', 'ecc_sbe', 'ecc_dbe', 'other', 'error'] as const).find((k) => k === r.kind) ?? 'other',
        gpu: r.gpu,
        uuid: r.uuid,
        eventType: r.eventType,
        data: r.data,
        timestamp: r.timestamp,
      };
      if (r.xid !== undefined) ev.xid = r.xid;
      if (r.message !== undefined) ev.message = r.message;
      if (ev.kind === 'xid' && ev.xid !== undefined) {
        const key = `${ev.gpu}/${ev.xid}`;
        const c = counts.get(key) ?? { gpu: ev.gpu, uuid: ev.uuid, xid: ev.xid, count: 0 };
        c.count++;
        counts.set(key, c);
      }
      try {
        callback(ev);
      } catch (err) {
        onError(err, ev);
      }
    }, opts.waitTimeoutMs ?? 500);
    let stopping: Promise<void> | undefined;
    return {
      registration: raw.registration.map((r) => ({ ...r, eventTypes: r.eventTypes ?? 0 })),
      xidCounts: () => [...counts.values()].map((c) => ({ ...c })),
      stop: () => (stopping ??= raw.stop()),
      unref: () => raw.unref(),
    };
  }

  /** Releases this session; NVML shuts down once nothing uses it. Further calls throw. */
  close(): void {
    this.handle.close();
  }

  get isOpen(): boolean {
    return this.handle.isOpen();
  }
}

/**
 * Loads NVML with dlopen and initialises it. Never throws for a missing library, a missing driver or
 * a missing/broken addon: those come back as `{ available: false, reason }`.
 */
export function openNvml(opts: OpenNvmlOptions = {}): Nvml | NvmlUnavailable {
  const libraryPath = opts.libraryPath ?? process.env.MERIDIAN_NVML_LIB ?? DEFAULT_NVML_LIBRARY;
  const loaded = loadAddon();
  if ('error' in loaded) return { available: false, reason: loaded.error, libraryPath };
  const r = loaded.addon.open(libraryPath);
  if (!r.available) return { available: false, reason: r.reason, libraryPath };
  return new Nvml(r.handle, r.driverVersion, r.nvmlVersion, r.libraryPath);
}
