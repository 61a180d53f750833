// Metric names and label names the agent exports and the hub's health rules read. Pure constants, shared by
// edge-agent (collector) and hub (receiver, health) so both sides agree on one vocabulary.

/**
 * NVML metric key (as @meridian/native's GpuSample.metrics names them) → exported name and the factor from the
 * NVML unit to the exported unit. dcgm-exporter's names where it has one (so existing Grafana dashboards work),
 * `meridian_gpu_*` otherwise.
 */
export const GPU_METRICS: Record<string, { name: string; scale: number; help: string }> = {
  gpu_util: { name: 'DCGM_FI_DEV_GPU_UTIL', scale: 1, help: 'GPU utilization (in %).' },
  mem_copy_util: { name: 'DCGM_FI_DEV_MEM_COPY_UTIL', scale: 1, help: 'Memory utilization (in %).' },
  fb_total_bytes: { name: 'DCGM_FI_DEV_FB_TOTAL', scale: 1 / 1048576, help: 'Framebuffer memory total (in MiB).' },
  fb_used_bytes: { name: 'DCGM_FI_DEV_FB_USED', scale: 1 / 1048576, help: 'Framebuffer memory used (in MiB).' },
  fb_free_bytes: { name: 'DCGM_FI_DEV_FB_FREE', scale: 1 / 1048576, help: 'Framebuffer memory free (in MiB).' },
  gpu_temp: { name: 'DCGM_FI_DEV_GPU_TEMP', scale: 1, help: 'GPU temperature (in C).' },
  memory_temp: { name: 'DCGM_FI_DEV_MEMORY_TEMP', scale: 1, help: 'Memory temperature (in C).' },
  power_usage_mw: { name: 'DCGM_FI_DEV_POWER_USAGE', scale: 1 / 1000, help: 'Power draw (in W).' },
  total_energy_mj: { name: 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION', scale: 1, help: 'Total energy consumption since boot (in mJ).' },
  sm_clock_mhz: { name: 'DCGM_FI_DEV_SM_CLOCK', scale: 1, help: 'SM clock frequency (in MHz).' },
  mem_clock_mhz: { name: 'DCGM_FI_DEV_MEM_CLOCK', scale: 1, help: 'Memory clock frequency (in MHz).' },
  graphics_clock_mhz: { name: 'meridian_gpu_graphics_clock_mhz', scale: 1, help: 'Graphics clock frequency (in MHz).' },
  video_clock_mhz: { name: 'meridian_gpu_video_clock_mhz', scale: 1, help: 'Video clock frequency (in MHz).' },
  clocks_event_reasons: { name: 'DCGM_FI_DEV_CLOCKS_EVENT_REASONS', scale: 1, help: 'Current clock event (throttle) reasons, nvmlClocksEventReason bitmask.' },
  pcie_replay_counter: { name: 'DCGM_FI_DEV_PCIE_REPLAY_COUNTER', scale: 1, help: 'Total number of PCIe retries.' },
  ecc_sbe_volatile_total: { name: 'DCGM_FI_DEV_ECC_SBE_VOL_TOTAL', scale: 1, help: 'Total number of single-bit volatile ECC errors.' },
  ecc_dbe_volatile_total: { name: 'DCGM_FI_DEV_ECC_DBE_VOL_TOTAL', scale: 1, help: 'Total number of double-bit volatile ECC errors.' },
  ecc_sbe_aggregate_total: { name: 'DCGM_FI_DEV_ECC_SBE_AGG_TOTAL', scale: 1, help: 'Total number of single-bit persistent ECC errors.' },
  ecc_dbe_aggregate_total: { name: 'DCGM_FI_DEV_ECC_DBE_AGG_TOTAL', scale: 1, help: 'Total number of double-bit persistent ECC errors.' },
  retired_pages_sbe: { name: 'DCGM_FI_DEV_RETIRED_SBE', scale: 1, help: 'Total number of retired pages due to single-bit errors.' },
  retired_pages_dbe: { name: 'DCGM_FI_DEV_RETIRED_DBE', scale: 1, help: 'Total number of retired pages due to double-bit errors.' },
  retired_pages_pending: { name: 'DCGM_FI_DEV_RETIRED_PENDING', scale: 1, help: 'Page retirement pending (1) or not (0).' },
  remapped_rows_correctable: { name: 'DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS', scale: 1, help: 'Number of remapped rows for correctable errors.' },
  remapped_rows_uncorrectable: { name: 'DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS', scale: 1, help: 'Number of remapped rows for uncorrectable errors.' },
  remapped_rows_failure: { name: 'DCGM_FI_DEV_ROW_REMAP_FAILURE', scale: 1, help: 'Whether remapping of rows has failed (1) or not (0).' },
  remapped_rows_pending: { name: 'DCGM_FI_DEV_ROW_REMAP_PENDING', scale: 1, help: 'Whether a row remap is pending a GPU reset (1) or not (0).' },
  nvlink_replay_errors_total: { name: 'DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL', scale: 1, help: 'Total NVLink replay errors, all links.' },
  nvlink_recovery_errors_total: { name: 'DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL', scale: 1, help: 'Total NVLink recovery errors, all links.' },
  nvlink_crc_flit_errors_total: { name: 'DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL', scale: 1, help: 'Total NVLink flow-control CRC errors, all links.' },
  nvlink_crc_data_errors_total: { name: 'DCGM_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL', scale: 1, help: 'Total NVLink data CRC errors, all links.' },
  nvlink_links_active: { name: 'meridian_gpu_nvlink_links_active', scale: 1, help: 'NVLink links in the active state.' },
  recovery_action: { name: 'meridian_gpu_recovery_action', scale: 1, help: 'NVML recovery action: 0 none, 1 gpu_reset, 2 node_reboot, 3 drain_p2p, 4 drain_and_reset.' },
};

/** Names the collector adds beyond the per-key table above. */
export const M = {
  /** dcgm-exporter semantics: the value is the code of the last XID seen on the GPU (0 = none since start). */
  xidLast: 'DCGM_FI_DEV_XID_ERRORS',
  /** XID events per GPU and code since the agent started (label `xid`). */
  xidTotal: 'meridian_gpu_xid_errors_total',
  /** 0 ok, 1 error (some NVML call failed), 2 reset_required (NVML_ERROR_RESET_REQUIRED), 3 lost (NVML_ERROR_GPU_IS_LOST). */
  gpuHealth: 'meridian_gpu_health',
  /** 1 per NVLink link that is up, 0 down (label `link`). */
  nvlinkUp: 'meridian_gpu_nvlink_link_up',
  gpusVisible: 'meridian_node_gpus_visible',
  gpusExpected: 'meridian_node_gpus_expected',
  /** 1 when NVML loaded and initialised, 0 when not ("no NVML"). */
  nvmlUp: 'meridian_node_nvml_up',
  rdmaState: 'meridian_rdma_port_state',
  rdmaPhysState: 'meridian_rdma_port_phys_state',
  rdmaRate: 'meridian_rdma_port_rate_gbps',
  rdmaXmitBytes: 'meridian_rdma_port_xmit_bytes_total',
  rdmaRcvBytes: 'meridian_rdma_port_rcv_bytes_total',
} as const;

/** counters/ and hw_counters/ files become `meridian_rdma_<file>_total{device,port}`. */
export function rdmaCounterName(file: string): string {
  return `meridian_rdma_${file.toLowerCase()}_total`;
}

export const GPU_HEALTH_CODES = { ok: 0, error: 1, reset_required: 2, lost: 3 } as const;

/** Label names (dcgm-exporter's where they exist). */
export const L = {
  gpu: 'gpu',
  uuid: 'UUID',
  pciBusId: 'pci_bus_id',
  device: 'device',
  modelName: 'modelName',
  hostname: 'Hostname',
  driverVersion: 'DCGM_FI_DRIVER_VERSION',
  cluster: 'cluster',
  region: 'region',
  namespace: 'namespace',
  pod: 'pod',
  container: 'container',
  slurmJobId: 'slurm_job_id',
  /** dcgm-exporter's HPC job mapping label (same value as slurm_job_id on Slurm nodes) */
  hpcJob: 'hpc_job',
  /** federation job id (stable for the job's life) when the GPU runs a Meridian job */
  jobId: 'meridian_job_id',
  project: 'project',
  simulated: 'simulated',
  xid: 'xid',
  link: 'link',
  port: 'port',
  boardId: 'board_id',
} as const;
