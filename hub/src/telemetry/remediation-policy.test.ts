import { describe, expect, it } from 'vitest';
import { ACTIONS, statusOf } from './health.ts';
import type { Action } from './health.ts';
import { decideQuarantine, DEFAULT_BREAKER, planRemediation, reactToHealthChange, refusedToRetry, releaseQuarantine, remediationSettingsFromEnv, requeueOrder, resetBreaker } from './remediation-policy.ts';
import type { BreakerState } from './remediation-policy.ts';

const fresh = (totalNodes: number): BreakerState => ({ totalNodes, quarantined: [], recentQuarantines: [], trippedAt: null });

describe('planRemediation', () => {
  it('in-service actions have no steps; quarantining ones start with quarantine → checkpoint → requeue and end with return to service', () => {
    for (const a of ACTIONS) {
      const p = planRemediation(a);
      if (['none', 'inform_job', 'watch', 'restart_app', 'reset_when_idle'].includes(a)) expect(p.steps).toEqual([]);
      else {
        expect(p.steps.slice(0, 3)).toEqual(['quarantine', 'checkpoint_jobs', 'requeue_jobs']);
        expect(p.steps.slice(-2)).toEqual(['wait_healthy', 'return_to_service']);
      }
    }
    expect(planRemediation('drain_reboot').steps).toContain('reboot_node');
    expect(planRemediation('drain_reset').steps).toContain('reset_gpu');
    expect(planRemediation('drain_reset_diagnostics').manual).toEqual(['field_diagnostics']);
    expect(planRemediation('drain_fabric').manual).toEqual(['fabric_recovery']);
  });
});

describe('circuit breaker', () => {
  it('never quarantines more than the configured share of a cluster', () => {
    let s = fresh(20); // 10 % of 20 = 2
    const cfg = { ...DEFAULT_BREAKER, maxQuarantinesPerWindow: 100 };
    for (const [node, allow] of [['n1', true], ['n2', true], ['n3', false]] as const) {
      const d = decideQuarantine(s, node, 1000, cfg);
      expect(d.allow).toBe(allow);
      s = d.state;
    }
    expect(s.quarantined).toEqual(['n1', 'n2']);
    s = releaseQuarantine(s, 'n1');
    expect(decideQuarantine(s, 'n3', 2000, cfg).allow).toBe(true);
  });

  it('allows at least one node in a small cluster, and repeating a quarantined node is idempotent', () => {
    let s = fresh(3);
    let d = decideQuarantine(s, 'a', 0);
    expect(d.allow).toBe(true);
    s = d.state;
    d = decideQuarantine(s, 'a', 1);
    expect(d.allow).toBe(true);
    expect(d.state.quarantined).toEqual(['a']);
    d = decideQuarantine(s, 'b', 2);
    expect(d.allow).toBe(false);
    if (!d.allow) {
      expect(d.tripped).toBe(false);
      expect(d.reason).toMatch(/1 of 3 nodes already quarantined/);
    }
  });

  it('a flood of quarantines trips it until an operator resets it', () => {
    let s = fresh(1000);
    for (let i = 0; i < 5; i++) {
      const d = decideQuarantine(s, `n${i}`, i * 1000);
      expect(d.allow).toBe(true);
      s = d.state;
    }
    const d = decideQuarantine(s, 'n5', 6000);
    expect(d.allow).toBe(false);
    if (!d.allow) expect(d.tripped).toBe(true);
    s = d.state;
    expect(s.trippedAt).toBe(6000);
    // still open an hour later
    expect(decideQuarantine(s, 'n6', 3_600_000).allow).toBe(false);
    s = resetBreaker(s);
    expect(decideQuarantine(s, 'n6', 3_600_000).allow).toBe(true);
  });

  it('old quarantines fall out of the window', () => {
    let s = fresh(1000);
    for (let i = 0; i < 5; i++) s = decideQuarantine(s, `n${i}`, i).state;
    expect(decideQuarantine(s, 'late', DEFAULT_BREAKER.windowMs + 10).allow).toBe(true);
  });
});

describe('requeueOrder', () => {
  it('checkpointable first, then tier, then id', () => {
    const order = requeueOrder([
      { jobId: 'c', checkpointable: false, tier: 'realtime' },
      { jobId: 'b', checkpointable: true, tier: 'filler' },
      { jobId: 'a', checkpointable: true, tier: 'batch' },
      { jobId: 'd', checkpointable: false, tier: 'realtime' },
    ]).map((j) => j.jobId);
    expect(order).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('circuit breaker: a flood bigger than the share', () => {
  it('refuses past the share, and the requests that keep coming trip it', () => {
    let s: BreakerState = { totalNodes: 4, quarantined: [], recentQuarantines: [], trippedAt: null };
    const cfg = { ...DEFAULT_BREAKER, maxQuarantinedShare: 0.5, maxQuarantinesPerWindow: 3 };
    const outcomes = ['a', 'b', 'c', 'd'].map((n, i) => {
      const d = decideQuarantine(s, n, 1000 + i, cfg);
      s = d.state;
      return d.allow ? 'allowed' : d.tripped ? 'tripped' : 'limit';
    });
    expect(outcomes).toEqual(['allowed', 'allowed', 'limit', 'tripped']);
    expect(s.quarantined).toEqual(['a', 'b']);
    expect(s.trippedAt).toBe(1003);
  });
});

describe('reactToHealthChange', () => {
  const v = (action: Action, detail = '') => ({ status: statusOf(action), action, findings: detail ? [{ action, detail }] : [] });
  const change = (prev: Action, cur: Action, detail = 'XID 79 (GPU has fallen off the bus) ×1') => ({ kind: 'gpu' as const, cluster: 'east', hostname: 'a100-1', uuid: 'GPU-1', previous: v(prev), current: v(cur, detail) });

  it('a quarantining verdict remediates the node under one workflow id per node', () => {
    expect(reactToHealthChange(change('none', 'drain_reboot'))).toEqual({ kind: 'remediate', workflowId: 'remediate:east:a100-1', action: 'drain_reboot', reason: 'XID 79 (GPU has fallen off the bus) ×1' });
    expect(reactToHealthChange(change('drain_reset', 'drain_reboot')).kind).toBe('remediate');
  });
  it('XID 13 (inform_job) only informs the job; a recovery nudges the running remediation', () => {
    expect(reactToHealthChange(change('none', 'inform_job', 'XID 13 ×1'))).toEqual({ kind: 'inform_job', action: 'inform_job', reason: 'XID 13 ×1' });
    expect(reactToHealthChange(change('drain_reboot', 'none', ''))).toEqual({ kind: 'nudge', workflowId: 'remediate:east:a100-1' });
    expect(reactToHealthChange(change('inform_job', 'none', '')).kind).toBe('note');
    expect(reactToHealthChange(change('none', 'watch', 'XID 63')).kind).toBe('note');
  });
});

describe('remediationSettingsFromEnv', () => {
  it('reads the breaker and health-wait settings, and names a bad variable', () => {
    const s = remediationSettingsFromEnv({ MERIDIAN_BREAKER_MAX_SHARE: '0.25', MERIDIAN_REMEDIATION_HEALTHY_POLLS: '2' });
    expect(s.breaker.maxQuarantinedShare).toBe(0.25);
    expect(s.healthyPolls).toBe(2);
    expect(s.enabled).toBe(true);
    expect(() => remediationSettingsFromEnv({ MERIDIAN_BREAKER_MAX_SHARE: '2' })).toThrow(/MERIDIAN_BREAKER_MAX_SHARE="2" is invalid: expected a share of the cluster in \(0, 1\]/);
    expect(() => remediationSettingsFromEnv({ MERIDIAN_REMEDIATION_HEALTH_POLL_MS: 'soon' })).toThrow(/MERIDIAN_REMEDIATION_HEALTH_POLL_MS/);
  });
});

describe('refusedToRetry', () => {
  const cfg = { ...DEFAULT_BREAKER, maxQuarantinedShare: 0.5, maxQuarantinesPerWindow: 3 };
  const last = new Map([
    ['a', 'remediation.quarantine_refused'],
    ['b', 'remediation.quarantine_refused'],
    ['c', 'remediation.return_to_service'],
    ['d', 'remediation.kept_out'],
  ]);
  it('retries only refused nodes, no more than the breaker has room for, never while tripped', () => {
    const s: BreakerState = { totalNodes: 4, quarantined: ['x'], recentQuarantines: [], trippedAt: null };
    expect(refusedToRetry(['b', 'a', 'c', 'd', 'e'], last, s, cfg, 1000)).toEqual(['a']);
    expect(refusedToRetry(['a', 'b'], last, { ...s, quarantined: [] }, cfg, 1000)).toEqual(['a', 'b']);
    expect(refusedToRetry(['a', 'b'], last, { ...s, quarantined: ['x', 'y'] }, cfg, 1000)).toEqual([]);
    expect(refusedToRetry(['a', 'b'], last, { ...s, trippedAt: 5 }, cfg, 1000)).toEqual([]);
    // room in the flood window counts too: retries must not trip the breaker themselves
    expect(refusedToRetry(['a', 'b'], last, { ...s, quarantined: [], recentQuarantines: [900, 950] }, cfg, 1000)).toEqual(['a']);
  });
});
