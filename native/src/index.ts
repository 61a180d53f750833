// @meridian/native public entry point: NVML GPU collector + XID/ECC events (C++ addon, NVML loaded
// with dlopen), RDMA/InfiniBand sysfs counters, and the fake-NVML / sysfs fixture helpers for tests.
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
export {
  FAKE_NVML_PATH,
  buildAddonIfStale,
  buildFakeNvml,
  renderFakeNvmlScript,
  writeFakeNvmlScript,
} from './fake-nvml.ts';
export type { FakeEvent, FakeGpu, FakeNvmlScript } from './fake-nvml.ts';
export { DEFAULT_MLX5_DEVICES, setFixtureCounter, setFixturePortFile, writeMlx5Fixture } from './sysfs-fixture.ts';
export type { FixtureDevice, FixturePort } from './sysfs-fixture.ts';
