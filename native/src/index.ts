// @meridian/native public entry point: NVML GPU collector + XID/ECC events (C++ addon, NVML loaded
// with dlopen) and RDMA/InfiniBand sysfs counters.
export {
  CLOCKS_EVENT_REASONS,
  DCGM_NAMES,
  DEFAULT_NVML_LIBRARY,
  GPU_METRIC_NAMES,
  Nvml,
  RECOVERY_ACTIONS,
  decodeClocksEventReasons,
  openNvml,
} from './nvml.ts';
export type {
  EventRegistration,
  EventWatcher,
  GpuEvent,
  GpuEventKind,
  GpuHealth,
  GpuInventoryItem,
  GpuMetricName,
  GpuSample,
  NvLinkSample,
  NvmlUnavailable,
  OpenNvmlOptions,
  RecoveryAction,
  WatchOptions,
} from './nvml.ts';
export { DEFAULT_INFINIBAND_ROOT, IB_COUNTERS, MLX5_HW_COUNTERS, readRdmaPorts } from './rdma.ts';
export type { PortEnum, RdmaPort, RdmaReadResult, ReadRdmaOptions, SkippedFile } from './rdma.ts';
export { addonPath, loadAddon } from './loader.ts';
// The path the fake NVML is built to, so a collector can be pointed at simulated GPUs (the sandbox does).
// The helpers that build and script it, and the sysfs fixture trees, are for tests: `@meridian/native/fixtures`.
export { FAKE_NVML_PATH } from './fake-nvml.ts';
