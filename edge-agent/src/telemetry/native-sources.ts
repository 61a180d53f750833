// GpuSource / RdmaSource over @meridian/native: NVML through the addon (real or fake NVML, the same dlopen
// path) with an XID/ECC event watcher, and the sysfs InfiniBand reader. Kept apart from collector.ts so the
// collector (and its tests) do not load the addon.
import { FAKE_NVML_PATH, openNvml, readRdmaPorts } from '@meridian/native';
import type { EventWatcher, Nvml } from '@meridian/native';
import type { GpuReading, GpuSource, RdmaPortReading, RdmaSource, XidCount } from './collector.ts';

export interface NvmlSourceOptions {
  /** NVML library (default: $MERIDIAN_NVML_LIB, else libnvidia-ml.so.1) */
  libraryPath?: string;
  /** label every series simulated="true"; default: true when the library is the fake NVML */
  simulated?: boolean;
  /** called for every XID / ECC event as it arrives (e.g. to push a health event up immediately) */
  onEvent?: (ev: { gpu: number; uuid: string; kind: string; xid?: number; timestamp: number }) => void;
}

export interface NvmlGpuSource extends GpuSource {
  /** why NVML is unavailable, when it is */
  readonly reason: string | null;
  close(): Promise<void>;
}

function isFake(path: string): boolean {
  return path === FAKE_NVML_PATH || /fake[-_]nvml/.test(path);
}

/** Opens NVML; never throws for a missing library or driver: the source then reports available=false. */
export function openNvmlGpuSource(opts: NvmlSourceOptions = {}): NvmlGpuSource {
  const nvml = openNvml(opts.libraryPath === undefined ? {} : { libraryPath: opts.libraryPath });
  if (!nvml.available) {
    return {
      available: false,
      simulated: opts.simulated ?? isFake(nvml.libraryPath),
      driverVersion: null,
      reason: nvml.reason,
      read: async () => [],
      xidCounts: () => [],
      lastXid: () => new Map(),
      close: async () => {},
    };
  }
  return nvmlSource(nvml, opts);
}

function nvmlSource(nvml: Nvml, opts: NvmlSourceOptions): NvmlGpuSource {
  const last = new Map<string, number>();
  let watcher: EventWatcher | null = null;
  try {
    watcher = nvml.watchEvents((ev) => {
      if (ev.kind === 'xid' && ev.xid !== undefined) last.set(ev.uuid, ev.xid);
      opts.onEvent?.({ gpu: ev.gpu, uuid: ev.uuid, kind: ev.kind, ...(ev.xid === undefined ? {} : { xid: ev.xid }), timestamp: ev.timestamp });
    });
    watcher.unref();
  } catch {
    watcher = null; // events unsupported: metrics still flow
  }
  return {
    available: true,
    simulated: opts.simulated ?? isFake(nvml.libraryPath),
    driverVersion: nvml.driverVersion,
    reason: null,
    read: async (): Promise<GpuReading[]> => nvml.readGpus(),
    xidCounts: (): XidCount[] => watcher?.xidCounts() ?? [],
    lastXid: () => new Map(last),
    close: async () => {
      await watcher?.stop();
      nvml.close();
    },
  };
}

/** RDMA ports from sysfs (root: $MERIDIAN_INFINIBAND_ROOT, else /sys/class/infiniband). */
export function sysfsRdmaSource(opts: { root?: string; simulated?: boolean } = {}): RdmaSource {
  return {
    simulated: opts.simulated ?? false,
    read: async (): Promise<RdmaPortReading[]> => {
      const r = await readRdmaPorts(opts.root === undefined ? {} : { root: opts.root });
      return r.available ? r.ports : [];
    },
  };
}
