// Pure decision logic for GPU-fault remediation: which steps a health verdict needs, and the circuit breaker
// that keeps a bad rule (or a real fleet-wide event) from quarantining a whole cluster.
// The Temporal workflow (workflows/src/gpu-remediation.ts) runs the steps; the activity that quarantines
// asks the breaker first, under the store's lock, so concurrent workflows cannot overshoot the share.
import { needsQuarantine } from './health.ts';
import type { Action } from './health.ts';

export type RemediationStep =
  | 'quarantine' // cordon the node (Kubernetes) / drain it with a `meridian:` reason (Slurm)
  | 'checkpoint_jobs' // send the checkpoint signal to the jobs on the node
  | 'requeue_jobs' // requeue them elsewhere, checkpointable first
  | 'reset_gpu'
  | 'reboot_node'
  | 'fabric_recovery'
  | 'field_diagnostics'
  | 'check_link'
  | 'wait_healthy' // until health returns, or an operator releases / keeps it out
  | 'return_to_service'; // uncordon / Slurm resume

export interface RemediationPlan {
  action: Action;
  steps: RemediationStep[];
  /** steps that need a person (or a tool outside Meridian) before the plan can go on */
  manual: RemediationStep[];
}

/** The ordered steps for an action; no steps for actions that keep the GPU in service. */
export function planRemediation(action: Action): RemediationPlan {
  if (!needsQuarantine(action)) return { action, steps: [], manual: [] };
  const head: RemediationStep[] = ['quarantine', 'checkpoint_jobs', 'requeue_jobs'];
  const tail: RemediationStep[] = ['wait_healthy', 'return_to_service'];
  switch (action) {
    case 'drain_reset':
      return { action, steps: [...head, 'reset_gpu', ...tail], manual: [] };
    case 'drain_reset_diagnostics':
      return { action, steps: [...head, 'reset_gpu', 'field_diagnostics', ...tail], manual: ['field_diagnostics'] };
    case 'drain_reboot':
      return { action, steps: [...head, 'reboot_node', ...tail], manual: [] };
    case 'drain_fabric':
      return { action, steps: [...head, 'fabric_recovery', ...tail], manual: ['fabric_recovery'] };
    case 'drain_check_link':
      return { action, steps: [...head, 'check_link', ...tail], manual: ['check_link'] };
    default:
      return { action, steps: [...head, ...tail], manual: [] };
  }
}

export interface CircuitBreakerConfig {
  /** never have more than this share of a cluster's nodes quarantined by remediation at once (default 0.1) */
  maxQuarantinedShare: number;
  /** but always allow at least this many (default 1), so a small cluster can still isolate one bad node */
  minAllowed: number;
  /** trip (refuse everything until an operator resets) after this many quarantines within `windowMs` (default 5 / 10 min) */
  maxQuarantinesPerWindow: number;
  windowMs: number;
}

export const DEFAULT_BREAKER: CircuitBreakerConfig = { maxQuarantinedShare: 0.1, minAllowed: 1, maxQuarantinesPerWindow: 5, windowMs: 600_000 };

export interface BreakerState {
  /** nodes in the cluster */
  totalNodes: number;
  /** nodes quarantined by remediation right now (operator cordons excluded) */
  quarantined: string[];
  /** when recent quarantines started, ms */
  recentQuarantines: number[];
  /** set when the breaker tripped; cleared only by an operator */
  trippedAt: number | null;
}

export type BreakerDecision =
  | { allow: true; state: BreakerState }
  | { allow: false; reason: string; tripped: boolean; state: BreakerState };

/**
 * May `node` be quarantined now? Returns the decision and the state to store with it. A node already
 * quarantined is allowed (idempotent) without counting again.
 */
export function decideQuarantine(state: BreakerState, node: string, now: number, cfg: CircuitBreakerConfig = DEFAULT_BREAKER): BreakerDecision {
  if (state.quarantined.includes(node)) return { allow: true, state };
  const recent = state.recentQuarantines.filter((t) => t > now - cfg.windowMs);
  const base = { ...state, recentQuarantines: recent };
  if (state.trippedAt !== null) {
    return { allow: false, tripped: true, reason: `circuit breaker open since ${new Date(state.trippedAt).toISOString()}; an operator must reset it`, state: base };
  }
  const limit = Math.max(cfg.minAllowed, Math.floor(state.totalNodes * cfg.maxQuarantinedShare));
  if (state.quarantined.length >= limit) {
    return {
      allow: false,
      tripped: false,
      reason: `${state.quarantined.length} of ${state.totalNodes} nodes already quarantined (limit ${limit}, ${Math.round(cfg.maxQuarantinedShare * 100)} %); leaving ${node} in service`,
      state: base,
    };
  }
  if (recent.length >= cfg.maxQuarantinesPerWindow) {
    return {
      allow: false,
      tripped: true,
      reason: `${recent.length} quarantines within ${Math.round(cfg.windowMs / 60_000)} min: circuit breaker tripped (a fault flood or a bad rule); an operator must reset it`,
      state: { ...base, trippedAt: now },
    };
  }
  return { allow: true, state: { ...base, quarantined: [...state.quarantined, node], recentQuarantines: [...recent, now] } };
}

/** A node returned to service. */
export function releaseQuarantine(state: BreakerState, node: string): BreakerState {
  return { ...state, quarantined: state.quarantined.filter((n) => n !== node) };
}

/** Operator reset of a tripped breaker. */
export function resetBreaker(state: BreakerState): BreakerState {
  return { ...state, trippedAt: null, recentQuarantines: [] };
}

export interface JobOnNode {
  jobId: string;
  checkpointable: boolean;
  tier: 'realtime' | 'batch' | 'interruptible' | 'filler';
}

const TIER_ORDER = { realtime: 0, batch: 1, interruptible: 2, filler: 3 } as const;

/** Requeue order: checkpointable first, then by tier (most important first), then by id for determinism. */
export function requeueOrder(jobs: JobOnNode[]): JobOnNode[] {
  return [...jobs].sort((a, b) => Number(b.checkpointable) - Number(a.checkpointable) || TIER_ORDER[a.tier] - TIER_ORDER[b.tier] || a.jobId.localeCompare(b.jobId));
}
