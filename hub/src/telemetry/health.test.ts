import { describe, expect, it } from 'vitest';
import {
  ACTIONS,
  emptyNicHistory,
  evaluateGpu,
  evaluateNic,
  evaluateNodeGpuCount,
  needsQuarantine,
  recoveryActionToAction,
  statusOf,
  summarize,
  windowIncrease,
  XID_RULES,
  xidAction,
} from './health.ts';
import type { Action, GpuObservation, NicHistory } from './health.ts';

// The research note's table, restated independently so a change to either side shows up here.
const TABLE: [number[], Action | 'follow'][] = [
  [[13, 31, 43, 45], 'inform_job'],
  [[48], 'drain_reset'],
  [[63], 'watch'],
  [[64], 'drain_reset_diagnostics'],
  [[74], 'drain_reset'],
  [[79], 'drain_reboot'],
  [[92], 'watch'],
  [[94], 'restart_app'],
  [[95], 'drain_reset'],
  [[109], 'drain_reset'],
  [[119, 120], 'drain_reset'],
  [[136, 140, 143, 155, 156, 158], 'drain_reset'],
  [[144, 145, 146, 147, 148, 149, 150], 'drain_fabric'],
  [[151, 160], 'drain_reboot'],
  [[154], 'follow'],
];

describe('XID → action table', () => {
  it('covers exactly the research note rows', () => {
    const listed = TABLE.flatMap(([x]) => x).sort((a, b) => a - b);
    expect([...XID_RULES.keys()].sort((a, b) => a - b)).toEqual(listed);
  });

  for (const [xids, action] of TABLE) {
    for (const xid of xids) {
      it(`XID ${xid} → ${action}`, () => {
        if (action === 'follow') {
          expect(xidAction(xid, 0)).toBe('watch');
          expect(xidAction(xid, 1)).toBe('drain_reset');
          expect(xidAction(xid, 2)).toBe('drain_reboot');
          expect(xidAction(xid, 3)).toBe('drain_reset');
          expect(xidAction(xid, 4)).toBe('drain_reset');
          expect(xidAction(xid)).toBe('watch');
        } else {
          expect(xidAction(xid)).toBe(action);
          // and through the evaluator, as an event
          const f = evaluateGpu({ at: 0, xidCounts: {} }, { at: 1000, xidCounts: { [xid]: 1 } });
          expect(f).toEqual([expect.objectContaining({ rule: `xid_${xid}`, action, event: true })]);
        }
      });
    }
  }

  it('every XID from 0 to 200 maps to some action; unknown ones are watched, never ignored', () => {
    for (let xid = 0; xid <= 200; xid++) {
      const a = xidAction(xid);
      expect(ACTIONS).toContain(a);
      if (!XID_RULES.has(xid)) expect(a).toBe('watch');
    }
  });

  it('application XIDs keep the GPU in service; fatal ones quarantine it', () => {
    expect(statusOf(xidAction(13))).toBe('healthy');
    expect(needsQuarantine(xidAction(13))).toBe(false);
    expect(statusOf(xidAction(79))).toBe('unhealthy');
    expect(needsQuarantine(xidAction(79))).toBe(true);
    expect(statusOf(xidAction(94))).toBe('degraded');
  });
});

describe('actions', () => {
  it('orders actions mildest first and derives status', () => {
    expect(ACTIONS.map(statusOf)).toEqual(['healthy', 'healthy', 'degraded', 'degraded', 'degraded', 'unhealthy', 'unhealthy', 'unhealthy', 'unhealthy', 'unhealthy']);
    expect(ACTIONS.filter(needsQuarantine)).toEqual(['drain_check_link', 'drain_reset', 'drain_reset_diagnostics', 'drain_fabric', 'drain_reboot']);
  });

  it('summarize picks the strongest action and sorts findings', () => {
    const v = summarize([
      { rule: 'a', action: 'watch', detail: '', at: 1, event: false },
      { rule: 'b', action: 'drain_reboot', detail: '', at: 2, event: true },
      { rule: 'c', action: 'inform_job', detail: '', at: 3, event: true },
    ]);
    expect(v.action).toBe('drain_reboot');
    expect(v.status).toBe('unhealthy');
    expect(v.findings.map((f) => f.rule)).toEqual(['b', 'a', 'c']);
    expect(summarize([])).toEqual({ status: 'healthy', action: 'none', findings: [] });
  });

  it('maps NVML recovery actions', () => {
    expect([0, 1, 2, 3, 4, 9, undefined].map(recoveryActionToAction)).toEqual(['none', 'drain_reset', 'drain_reboot', 'drain_reset', 'drain_reset', 'watch', 'none']);
  });
});

describe('evaluateGpu', () => {
  const rules = (prev: GpuObservation | undefined, cur: GpuObservation) => evaluateGpu(prev, cur).map((f) => `${f.rule}:${f.action}`);
  const base: GpuObservation = { at: 60_000, health: 0, xidCounts: {} };

  it('a healthy GPU has no findings', () => {
    expect(rules(base, { ...base, at: 61_000, eccDbeVolatile: 0, remappedRowsPending: 0, recoveryAction: 0 })).toEqual([]);
  });

  it('NVML health codes: lost, reset required, error', () => {
    expect(rules(undefined, { at: 1, health: 3 })).toEqual(['gpu_lost:drain_reboot']);
    expect(rules(undefined, { at: 1, health: 2 })).toEqual(['gpu_reset_required:drain_reset']);
    expect(rules(undefined, { at: 1, health: 1 })).toEqual(['nvml_error:watch']);
  });

  it('XID counters: only increases are events; a first sighting counts; a reset counter counts from zero', () => {
    expect(rules(undefined, { at: 1, xidCounts: { 79: 1 } })).toEqual(['xid_79:drain_reboot']);
    expect(rules({ at: 1, xidCounts: { 79: 1 } }, { at: 2, xidCounts: { 79: 1 } })).toEqual([]);
    expect(rules({ at: 1, xidCounts: { 13: 1 } }, { at: 2, xidCounts: { 13: 3, 48: 1 } })).toEqual(['xid_13:inform_job', 'xid_48:drain_reset']);
    expect(evaluateGpu({ at: 1, xidCounts: { 13: 5 } }, { at: 2, xidCounts: { 13: 2 } })[0]!.detail).toMatch(/×2/);
    expect(rules(undefined, { at: 1, xidCounts: { 999: 1 } })).toEqual(['xid_999:watch']);
    expect(rules(undefined, { at: 1, xidCounts: { 154: 1 }, recoveryAction: 2 })).toEqual(['nvml_recovery_action:drain_reboot', 'xid_154:drain_reboot']);
  });

  it('ECC, row remapping and page retirement', () => {
    expect(rules(undefined, { at: 1, eccDbeVolatile: 2 })).toEqual(['ecc_dbe:drain_reset']);
    expect(rules(undefined, { at: 1, remappedRowsFailure: 1 })).toEqual(['row_remap_failure:drain_reset_diagnostics']);
    expect(rules(undefined, { at: 1, remappedRowsPending: 1 })).toEqual(['row_remap_pending:reset_when_idle']);
    expect(rules({ at: 1, remappedRowsUncorrectable: 1 }, { at: 2, remappedRowsUncorrectable: 3 })).toEqual(['remapped_rows_uncorrectable:watch']);
    expect(rules(undefined, { at: 1, remappedRowsUncorrectable: 3 })).toEqual([]); // no baseline
    expect(rules(undefined, { at: 1, retiredPagesPending: 1 })).toEqual(['retired_pages_pending:reset_when_idle']);
    expect(rules(undefined, { at: 1, retiredPagesSbe: 40, retiredPagesDbe: 20 })).toEqual(['retired_pages_limit:drain_reset_diagnostics']);
    expect(rules(undefined, { at: 1, retiredPagesSbe: 40, retiredPagesDbe: 19 })).toEqual([]);
  });

  it('NVLink: a link that went down drains; rising error counters are watched', () => {
    expect(rules({ at: 1, nvlinkUp: { 0: 1, 1: 1 } }, { at: 2, nvlinkUp: { 0: 1, 1: 0 } })).toEqual(['nvlink_down_1:drain_reset']);
    expect(rules(undefined, { at: 2, nvlinkUp: { 0: 0 } })).toEqual([]); // never seen up: maybe unused
    expect(rules({ at: 1, nvlinkCrcDataErrors: 5, nvlinkReplayErrors: 1 }, { at: 2, nvlinkCrcDataErrors: 9, nvlinkReplayErrors: 1 })).toEqual(['nvlink_crc_data_errors:watch']);
  });

  it('PCIe replays: watched above 100 per minute', () => {
    expect(rules({ at: 0, pcieReplay: 0 }, { at: 60_000, pcieReplay: 100 })).toEqual([]);
    expect(rules({ at: 0, pcieReplay: 0 }, { at: 60_000, pcieReplay: 101 })).toEqual(['pcie_replay_rate:watch']);
  });

  it('node GPU count below expected', () => {
    expect(evaluateNodeGpuCount(7, 8, 5)).toEqual([expect.objectContaining({ rule: 'gpu_count', action: 'drain_reboot' })]);
    expect(evaluateNodeGpuCount(8, 8, 5)).toEqual([]);
    expect(evaluateNodeGpuCount(8, undefined, 5)).toEqual([]);
  });
});

describe('evaluateNic', () => {
  function run(points: [number, Record<string, number>, number?][]): string[][] {
    let h: NicHistory = emptyNicHistory();
    const out: string[][] = [];
    for (const [at, counters, state] of points) {
      const r = evaluateNic(h, state === undefined ? { at, counters } : { at, counters, state });
      h = r.history;
      out.push(r.findings.map((f) => `${f.rule}:${f.action}`));
    }
    return out;
  }

  for (const c of ['link_downed', 'excessive_buffer_overrun_errors', 'local_link_integrity_errors', 'rnr_nak_retry_err']) {
    it(`any increase of ${c} is fatal`, () => {
      expect(run([[0, { [c]: 3 }], [1000, { [c]: 3 }], [2000, { [c]: 4 }]])).toEqual([[], [], [`${c}:drain_check_link`]]);
    });
  }

  it('symbol errors: >10/s degraded, >120 within an hour fatal', () => {
    expect(run([[0, { symbol_error: 0 }], [1000, { symbol_error: 10 }], [2000, { symbol_error: 21 }]])).toEqual([[], [], ['symbol_error_rate:watch']]);
    const slow: [number, Record<string, number>][] = [];
    for (let i = 0; i <= 13; i++) slow.push([i * 60_000, { symbol_error: i * 10 }]); // 10/min: never >10/s
    const r = run(slow);
    expect(r.slice(0, 13).flat()).toEqual([]);
    expect(r[13]).toEqual(['symbol_error_hourly:drain_check_link']); // 130 within the hour
    // spread over more than an hour, the same count is fine
    const spread: [number, Record<string, number>][] = [];
    for (let i = 0; i <= 13; i++) spread.push([i * 10 * 60_000, { symbol_error: i * 10 }]);
    expect(run(spread).flat()).toEqual([]);
  });

  it('port_rcv_errors >10/s and link_error_recovery >5/min are degraded', () => {
    expect(run([[0, { port_rcv_errors: 0 }], [1000, { port_rcv_errors: 11 }]])).toEqual([[], ['port_rcv_errors_rate:watch']]);
    expect(run([[0, { port_rcv_errors: 0 }], [2000, { port_rcv_errors: 11 }]])).toEqual([[], []]);
    expect(run([[0, { link_error_recovery: 0 }], [10_000, { link_error_recovery: 3 }], [20_000, { link_error_recovery: 6 }]])).toEqual([[], [], ['link_error_recovery_rate:watch']]);
    // 3 at ~10 s and 3 more at ~75 s: never more than 5 within one minute
    const pts: [number, Record<string, number>][] = [];
    for (let t = 0; t <= 80; t++) pts.push([t * 1000, { link_error_recovery: t < 10 ? 0 : t < 75 ? 3 : 6 }]);
    expect(run(pts).flat()).toEqual([]);
  });

  it('a port that was ACTIVE and went down is fatal; one never active is not', () => {
    expect(run([[0, {}, 4], [1000, {}, 1]])).toEqual([[], ['port_down:drain_check_link']]);
    expect(run([[0, {}, 1], [1000, {}, 1]])).toEqual([[], []]);
  });

  it('windowIncrease restarts on a counter reset and compacts flat runs', () => {
    let pts: [number, number][] = [];
    for (let i = 0; i < 100; i++) pts = windowIncrease(pts, i * 1000, 5, 3_600_000).points;
    expect(pts.length).toBeLessThanOrEqual(3);
    const r = windowIncrease(pts, 101_000, 2, 3_600_000);
    expect(r.increase).toBe(0);
    expect(r.points).toEqual([[101_000, 2]]);
  });
});
