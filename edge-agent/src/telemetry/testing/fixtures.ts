// Plain-data GPU / NIC readings shaped like a real 8-GPU node (for tests, benchmarks and the sandbox
// without the native addon). Everything built from here is labelled simulated.
import { StaticGpuSource, StaticRdmaSource } from '../collector.ts';
import type { GpuReading, RdmaPortReading } from '../collector.ts';

/** 30 NVML metric keys per GPU, every one with a value. */
export function syntheticGpu(index: number, t = 0): GpuReading {
  const wave = (k: number) => Math.round(50 + 40 * Math.sin(t / 10_000 + index + k));
  return {
    index,
    uuid: `GPU-${index.toString(16).padStart(8, '0')}-5e1f-4c1a-9b2e-0000000000${index}`,
    name: 'NVIDIA H100 80GB HBM3',
    pciBusId: `00000000:${(0x18 + index * 0x10).toString(16).toUpperCase()}:00.0`,
    health: 'ok',
    metrics: {
      gpu_util: wave(0),
      mem_copy_util: wave(1),
      fb_total_bytes: 85_899_345_920,
      fb_used_bytes: 40_000_000_000 + wave(2) * 1e8,
      fb_free_bytes: 45_899_345_920 - wave(2) * 1e8,
      gpu_temp: 40 + wave(3) / 4,
      memory_temp: 45 + wave(4) / 4,
      power_usage_mw: 300_000 + wave(5) * 1000,
      total_energy_mj: 1e9 + t * 400,
      sm_clock_mhz: 1980,
      mem_clock_mhz: 2619,
      graphics_clock_mhz: 1980,
      video_clock_mhz: 1545,
      clocks_event_reasons: 0,
      pcie_replay_counter: 0,
      ecc_sbe_volatile_total: 0,
      ecc_dbe_volatile_total: 0,
      ecc_sbe_aggregate_total: 2,
      ecc_dbe_aggregate_total: 0,
      retired_pages_sbe: 0,
      retired_pages_dbe: 0,
      retired_pages_pending: 0,
      remapped_rows_correctable: 0,
      remapped_rows_uncorrectable: 0,
      remapped_rows_failure: 0,
      remapped_rows_pending: 0,
      nvlink_replay_errors_total: 0,
      nvlink_recovery_errors_total: 0,
      nvlink_crc_flit_errors_total: 0,
      nvlink_crc_data_errors_total: 0,
      nvlink_links_active: 18,
      recovery_action: 0,
    },
  };
}

const IB = ['link_downed', 'symbol_error', 'link_error_recovery', 'port_rcv_errors', 'excessive_buffer_overrun_errors', 'local_link_integrity_errors', 'port_rcv_remote_physical_errors', 'port_rcv_switch_relay_errors', 'port_xmit_discards', 'port_xmit_wait', 'port_xmit_data', 'port_rcv_data', 'port_xmit_packets', 'port_rcv_packets', 'VL15_dropped'];
const HW = ['rnr_nak_retry_err', 'local_ack_timeout_err', 'req_transport_retries_exceeded', 'out_of_buffer', 'out_of_sequence', 'duplicate_request', 'packet_seq_err', 'implied_nak_seq_err', 'np_cnp_sent', 'np_ecn_marked_roce_packets', 'rp_cnp_handled', 'rp_cnp_ignored', 'roce_adp_retrans', 'req_cqe_error', 'resp_cqe_error'];

export function syntheticPort(i: number, t = 0): RdmaPortReading {
  const counters = Object.fromEntries(IB.map((c) => [c, c.includes('data') || c.includes('packets') ? Math.floor(t * 1000 * (i + 1)) : 0]));
  const hwCounters = Object.fromEntries(HW.map((c) => [c, 0]));
  return {
    device: `mlx5_${i}`,
    port: 1,
    boardId: 'MT_0000000838',
    linkLayer: 'InfiniBand',
    state: { code: 4, name: 'ACTIVE' },
    physState: { code: 5, name: 'LinkUp' },
    rateGbps: 400,
    counters,
    hwCounters,
    xmitBytes: (counters.port_xmit_data ?? 0) * 4,
    rcvBytes: (counters.port_rcv_data ?? 0) * 4,
  };
}

/** A node of `gpus` GPUs and `ports` IB ports whose readings move with the clock. */
export function syntheticNode(gpus = 8, ports = 8): { gpus: StaticGpuSource; rdma: StaticRdmaSource; tick(t: number): void } {
  const g = new StaticGpuSource(Array.from({ length: gpus }, (_, i) => syntheticGpu(i)));
  const r = new StaticRdmaSource(Array.from({ length: ports }, (_, i) => syntheticPort(i)));
  return {
    gpus: g,
    rdma: r,
    tick(t: number) {
      g.gpus = g.gpus.map((_, i) => syntheticGpu(i, t));
      r.ports = r.ports.map((_, i) => syntheticPort(i, t));
    },
  };
}
