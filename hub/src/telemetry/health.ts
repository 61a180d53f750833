// GPU and NIC health rules: observations (latest metric values, counter deltas) → findings → one action.
// Pure: no clocks, no I/O; callers pass timestamps. Sources: NVIDIA's XID catalog as NVSentinel uses it,
// NVML error codes, dcgm-exporter field semantics, NVSentinel's InfiniBand thresholds (see
// ../shared/research/gpu-telemetry.md and docs/telemetry.md).

/** What to do about a GPU or node, mildest first. */
export const ACTIONS = [
  'none',
  /** the GPU is fine; the application on it faulted: tell the job */
  'inform_job',
  /** keep an eye on the trend; no change to scheduling */
  'watch',
  /** restart the application (contained error); the GPU stays in service */
  'restart_app',
  /** reset the GPU when it next goes idle (pending row remap / page retirement) */
  'reset_when_idle',
  /** quarantine the node's RDMA path: cordon for multi-node jobs, check cable / switch port */
  'drain_check_link',
  /** quarantine, drain, reset the GPU */
  'drain_reset',
  /** quarantine, drain, reset, then run field diagnostics before return to service */
  'drain_reset_diagnostics',
  /** quarantine, drain, run the NVLink5 fabric recovery workflow */
  'drain_fabric',
  /** quarantine, drain, reboot (power cycle) the node */
  'drain_reboot',
] as const;
export type Action = (typeof ACTIONS)[number];

export const ACTION_RANK: Record<Action, number> = Object.fromEntries(ACTIONS.map((a, i) => [a, i])) as Record<Action, number>;

/** Actions that take the GPU / node out of service (quarantine first). */
export function needsQuarantine(a: Action): boolean {
  return ACTION_RANK[a] >= ACTION_RANK.drain_check_link;
}

export type Status = 'healthy' | 'degraded' | 'unhealthy';

export function statusOf(a: Action): Status {
  if (needsQuarantine(a)) return 'unhealthy';
  return ACTION_RANK[a] >= ACTION_RANK.watch ? 'degraded' : 'healthy';
}

export interface XidRule {
  xid: number;
  meaning: string;
  action: Action | 'follow_recovery_action';
}

const rule = (xids: number[], meaning: string, action: XidRule['action']): XidRule[] => xids.map((xid) => ({ xid, meaning, action }));

/** The research note's XID → action table. */
export const XID_RULES: ReadonlyMap<number, XidRule> = new Map(
  [
    ...rule([13], 'graphics engine exception (application)', 'inform_job'),
    ...rule([31], 'GPU memory page fault (application)', 'inform_job'),
    ...rule([43], 'GPU stopped processing (application)', 'inform_job'),
    ...rule([45], 'preemptive cleanup after an application fault', 'inform_job'),
    ...rule([48], 'double-bit ECC error', 'drain_reset'),
    ...rule([63], 'row remap event', 'watch'),
    ...rule([64], 'row remap failure', 'drain_reset_diagnostics'),
    ...rule([74], 'NVLink error', 'drain_reset'),
    ...rule([79], 'GPU has fallen off the bus', 'drain_reboot'),
    ...rule([92], 'excessive single-bit ECC rate', 'watch'),
    ...rule([94], 'contained ECC error', 'restart_app'),
    ...rule([95], 'uncontained ECC error', 'drain_reset'),
    ...rule([109], 'context-switch timeout', 'drain_reset'),
    ...rule([119], 'GSP RPC timeout', 'drain_reset'),
    ...rule([120], 'GSP error', 'drain_reset'),
    ...rule([136], 'link training failure', 'drain_reset'),
    ...rule([140], 'ECC unrecovered error (escape)', 'drain_reset'),
    ...rule([143], 'GPU initialisation failure', 'drain_reset'),
    ...rule([155, 156, 158], 'fatal GPU error', 'drain_reset'),
    ...rule([144, 145, 146, 147, 148, 149, 150], 'NVLink5 error', 'drain_fabric'),
    ...rule([151], 'key rotation error', 'drain_reboot'),
    ...rule([160], 'channel retirement', 'drain_reboot'),
    ...rule([154], 'GPU recovery action changed', 'follow_recovery_action'),
  ].map((r) => [r.xid, r]),
);

/** An XID outside the table: unknown severity, so watched (degraded), never silently ignored. */
export const UNKNOWN_XID_ACTION: Action = 'watch';

/** NVML_FI_DEV_GET_GPU_RECOVERY_ACTION codes as the agent exports them (meridian_gpu_recovery_action). */
export const RECOVERY_ACTION_CODES = ['none', 'gpu_reset', 'node_reboot', 'drain_p2p', 'drain_and_reset'] as const;

export function recoveryActionToAction(code: number | undefined): Action {
  switch (code) {
    case undefined:
    case 0:
      return 'none';
    case 1:
      return 'drain_reset';
    case 2:
      return 'drain_reboot';
    case 3: // drain peer-to-peer traffic, then reset
    case 4:
      return 'drain_reset';
    default:
      return 'watch';
  }
}

/** The action for one XID; `recoveryAction` is NVML's current recovery action code (for XID 154). */
export function xidAction(xid: number, recoveryAction?: number): Action {
  const r = XID_RULES.get(xid);
  if (!r) return UNKNOWN_XID_ACTION;
  if (r.action === 'follow_recovery_action') {
    const a = recoveryActionToAction(recoveryAction);
    return a === 'none' ? 'watch' : a;
  }
  return r.action;
}

export interface Finding {
  rule: string;
  action: Action;
  detail: string;
  /** ms since the epoch when observed */
  at: number;
  /** true for an event (a counter increased); false for a condition that holds while it is observed */
  event: boolean;
}

export interface Verdict {
  status: Status;
  action: Action;
  findings: Finding[];
}

/** The strongest action wins; findings sorted strongest first. */
export function summarize(findings: Finding[]): Verdict {
  const sorted = [...findings].sort((a, b) => ACTION_RANK[b.action] - ACTION_RANK[a.action] || a.at - b.at);
  const action = sorted[0]?.action ?? 'none';
  return { status: statusOf(action), action, findings: sorted };
}

// ---------------------------------------------------------------------------------------------- GPU

/** One GPU's latest values, as the hub's hot state holds them (undefined = not reported). */
export interface GpuObservation {
  at: number;
  /** meridian_gpu_health: 0 ok, 1 error, 2 reset_required, 3 lost */
  health?: number;
  recoveryAction?: number;
  /** meridian_gpu_xid_errors_total by XID code (counts since the agent started) */
  xidCounts?: Record<number, number>;
  eccDbeVolatile?: number;
  eccSbeVolatile?: number;
  remappedRowsUncorrectable?: number;
  remappedRowsPending?: number;
  remappedRowsFailure?: number;
  retiredPagesSbe?: number;
  retiredPagesDbe?: number;
  retiredPagesPending?: number;
  /** meridian_gpu_nvlink_link_up by link */
  nvlinkUp?: Record<number, number>;
  nvlinkReplayErrors?: number;
  nvlinkRecoveryErrors?: number;
  nvlinkCrcFlitErrors?: number;
  nvlinkCrcDataErrors?: number;
  pcieReplay?: number;
}

/** Retired pages at which NVIDIA recommends field diagnostics / RMA (pre-Ampere page retirement). */
export const RETIRED_PAGES_LIMIT = 60;
/** PCIe replays per minute that count as a degraded link. */
export const PCIE_REPLAY_PER_MIN = 100;

function increased(prev: number | undefined, cur: number | undefined): number {
  if (cur === undefined) return 0;
  if (prev === undefined) return 0; // first sight: no baseline (the counter may predate the agent)
  return cur > prev ? cur - prev : cur < prev ? cur : 0; // a reset counter that climbed again counts from 0
}

/**
 * Findings for one GPU from its previous and current observation. Conditions (lost, pending remap, DBE
 * since the last reset, …) are re-derived from `cur` alone; events (new XIDs, counters that rose) need `prev`.
 * XID counts are compared per code; with no `prev`, XIDs already counted are reported too (the agent's counter
 * starts at its own start, so any count is news to the hub).
 */
export function evaluateGpu(prev: GpuObservation | undefined, cur: GpuObservation): Finding[] {
  const out: Finding[] = [];
  const at = cur.at;
  const add = (ruleName: string, action: Action, detail: string, event: boolean) => out.push({ rule: ruleName, action, detail, at, event });

  switch (cur.health) {
    case 3:
      add('gpu_lost', 'drain_reboot', 'NVML reports the GPU is lost (NVML_ERROR_GPU_IS_LOST)', false);
      break;
    case 2:
      add('gpu_reset_required', 'drain_reset', 'NVML reports a GPU reset is required (NVML_ERROR_RESET_REQUIRED)', false);
      break;
    case 1:
      add('nvml_error', 'watch', 'an NVML call failed for this GPU', false);
      break;
  }

  const ra = recoveryActionToAction(cur.recoveryAction);
  if (ra !== 'none') add('nvml_recovery_action', ra, `NVML recovery action: ${RECOVERY_ACTION_CODES[cur.recoveryAction!] ?? `code ${cur.recoveryAction}`}`, false);

  for (const [code, count] of Object.entries(cur.xidCounts ?? {})) {
    const xid = Number(code);
    const before = prev ? (prev.xidCounts?.[xid] ?? 0) : 0;
    const n = count > before ? count - before : count < before ? count : 0;
    if (n <= 0) continue;
    const r = XID_RULES.get(xid);
    add(`xid_${xid}`, xidAction(xid, cur.recoveryAction), `XID ${xid}${r ? ` (${r.meaning})` : ' (not in the XID table)'} ×${n}`, true);
  }

  if ((cur.eccDbeVolatile ?? 0) > 0) add('ecc_dbe', 'drain_reset', `${cur.eccDbeVolatile} double-bit ECC errors since the last reset`, false);
  const dbeUp = increased(prev?.remappedRowsUncorrectable, cur.remappedRowsUncorrectable);
  if (dbeUp > 0) add('remapped_rows_uncorrectable', 'watch', `${dbeUp} more rows remapped for uncorrectable errors`, true);
  if ((cur.remappedRowsFailure ?? 0) > 0) add('row_remap_failure', 'drain_reset_diagnostics', 'row remapping failed (no spare rows)', false);
  if ((cur.remappedRowsPending ?? 0) > 0) add('row_remap_pending', 'reset_when_idle', 'a row remap is pending a GPU reset', false);
  if ((cur.retiredPagesPending ?? 0) > 0) add('retired_pages_pending', 'reset_when_idle', 'a page retirement is pending a GPU reset', false);
  const retired = (cur.retiredPagesSbe ?? 0) + (cur.retiredPagesDbe ?? 0);
  if (retired >= RETIRED_PAGES_LIMIT) add('retired_pages_limit', 'drain_reset_diagnostics', `${retired} retired pages (limit ${RETIRED_PAGES_LIMIT})`, false);

  for (const [link, up] of Object.entries(cur.nvlinkUp ?? {})) {
    if (up !== 0) continue;
    const wasUp = prev?.nvlinkUp?.[Number(link)];
    // a link that was never up may be unused on this board; one that went down is a fault
    if (wasUp === 1) add(`nvlink_down_${link}`, 'drain_reset', `NVLink ${link} went down`, true);
  }
  const nvl: [string, number][] = [
    ['nvlink_replay_errors', increased(prev?.nvlinkReplayErrors, cur.nvlinkReplayErrors)],
    ['nvlink_recovery_errors', increased(prev?.nvlinkRecoveryErrors, cur.nvlinkRecoveryErrors)],
    ['nvlink_crc_flit_errors', increased(prev?.nvlinkCrcFlitErrors, cur.nvlinkCrcFlitErrors)],
    ['nvlink_crc_data_errors', increased(prev?.nvlinkCrcDataErrors, cur.nvlinkCrcDataErrors)],
  ];
  for (const [name, n] of nvl) if (n > 0) add(name, 'watch', `${n} more NVLink ${name.slice(7).replace(/_/g, ' ')}`, true);

  const replays = increased(prev?.pcieReplay, cur.pcieReplay);
  if (prev && replays > 0) {
    const minutes = Math.max((cur.at - prev.at) / 60_000, 1 / 60);
    if (replays / minutes > PCIE_REPLAY_PER_MIN) add('pcie_replay_rate', 'watch', `${replays} PCIe replays in ${Math.round(minutes * 60)} s`, true);
  }
  return out;
}

/** Node-level: fewer GPUs visible than expected means one fell off the bus or was never brought up. */
export function evaluateNodeGpuCount(visible: number | undefined, expected: number | undefined, at: number): Finding[] {
  if (visible === undefined || expected === undefined || visible >= expected) return [];
  return [{ rule: 'gpu_count', action: 'drain_reboot', detail: `${visible} of ${expected} expected GPUs visible`, at, event: false }];
}

// ---------------------------------------------------------------------------------------------- NIC

/** Counters that must never increase on a healthy port (NVSentinel: any increase is fatal). */
export const NIC_FATAL_ON_INCREASE = ['link_downed', 'excessive_buffer_overrun_errors', 'local_link_integrity_errors', 'rnr_nak_retry_err'] as const;

export const NIC_THRESHOLDS = {
  /** symbol_error per second above which the port is degraded */
  symbolErrorPerSec: 10,
  /** symbol_error per hour above which the port is fatal */
  symbolErrorPerHour: 120,
  /** port_rcv_errors per second above which the port is degraded */
  portRcvErrorsPerSec: 10,
  /** link_error_recovery per minute above which the port is degraded */
  linkErrorRecoveryPerMin: 5,
} as const;

export interface NicObservation {
  at: number;
  /** logical state code: 4 ACTIVE */
  state?: number;
  /** counters and hw_counters by sysfs file name */
  counters: Record<string, number>;
}

/** What evaluateNic keeps between calls for one port. */
export interface NicHistory {
  prev?: NicObservation;
  /** (time, value) points per windowed counter, oldest first, covering its window */
  windows: Record<string, [number, number][]>;
  wasActive: boolean;
}

export function emptyNicHistory(): NicHistory {
  return { windows: {}, wasActive: false };
}

const WINDOWS: Record<string, number> = { symbol_error: 3_600_000, link_error_recovery: 60_000 };

/** Adds (at, value) to a window of points and returns how much the counter rose within `windowMs`. */
export function windowIncrease(points: [number, number][], at: number, value: number, windowMs: number): { points: [number, number][]; increase: number } {
  let pts = points;
  const last = pts[pts.length - 1];
  if (last && value < last[1]) pts = []; // counter reset: start over
  // keep the newest point at or before the window start as the baseline
  let startIdx = 0;
  for (let i = 0; i < pts.length; i++) if (pts[i]![0] <= at - windowMs) startIdx = i;
  pts = [...pts.slice(startIdx), [at, value] as [number, number]];
  const increase = value - pts[0]![1];
  // compact: a run of equal values only needs its first and last point
  pts = pts.filter((p, i) => i === 0 || i === pts.length - 1 || p[1] !== pts[i - 1]![1] || p[1] !== pts[i + 1]![1]);
  return { points: pts, increase };
}

export function evaluateNic(history: NicHistory, cur: NicObservation): { findings: Finding[]; history: NicHistory } {
  const out: Finding[] = [];
  const at = cur.at;
  const add = (ruleName: string, action: Action, detail: string, event: boolean) => out.push({ rule: ruleName, action, detail, at, event });
  const prev = history.prev;

  if (cur.state !== undefined && cur.state !== 4 && history.wasActive) add('port_down', 'drain_check_link', `port state ${cur.state} (was ACTIVE)`, false);

  if (prev) {
    // rates over at least one second, so two reads close together do not inflate them
    const dtSec = Math.max((cur.at - prev.at) / 1000, 1);
    for (const c of NIC_FATAL_ON_INCREASE) {
      const n = increased(prev.counters[c], cur.counters[c]);
      if (n > 0) add(c, 'drain_check_link', `${c} increased by ${n}`, true);
    }
    const sym = increased(prev.counters.symbol_error, cur.counters.symbol_error);
    if (sym / dtSec > NIC_THRESHOLDS.symbolErrorPerSec) add('symbol_error_rate', 'watch', `${sym} symbol errors in ${dtSec.toFixed(1)} s`, true);
    const rcv = increased(prev.counters.port_rcv_errors, cur.counters.port_rcv_errors);
    if (rcv / dtSec > NIC_THRESHOLDS.portRcvErrorsPerSec) add('port_rcv_errors_rate', 'watch', `${rcv} receive errors in ${dtSec.toFixed(1)} s`, true);
  }

  const windows: Record<string, [number, number][]> = { ...history.windows };
  for (const [counter, windowMs] of Object.entries(WINDOWS)) {
    const v = cur.counters[counter];
    if (v === undefined) continue;
    const w = windowIncrease(windows[counter] ?? [], at, v, windowMs);
    windows[counter] = w.points;
    if (counter === 'symbol_error' && w.increase > NIC_THRESHOLDS.symbolErrorPerHour) {
      add('symbol_error_hourly', 'drain_check_link', `${w.increase} symbol errors within the last hour`, true);
    }
    if (counter === 'link_error_recovery' && w.increase > NIC_THRESHOLDS.linkErrorRecoveryPerMin) {
      add('link_error_recovery_rate', 'watch', `${w.increase} link error recoveries within the last minute`, true);
    }
  }
  return { findings: out, history: { prev: cur, windows, wasActive: history.wasActive || cur.state === 4 } };
}
