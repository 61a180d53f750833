// Pure decision logic for GPU-fault remediation: which steps a health verdict needs, and the circuit breaker
// that keeps a bad rule (or a real fleet-wide event) from quarantining a whole cluster.
// The Temporal workflow (workflows/src/gpu-remediation.ts) runs the steps; the activity that quarantines
// asks the breaker first, under the store's lock, so concurrent workflows cannot overshoot the share.
import { ACTION_RANK, needsQuarantine } from './health.ts';
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
  /** trip (refuse everything until an operator resets) after this many quarantine requests within `windowMs` (default 5 / 10 min) */
  maxQuarantinesPerWindow: number;
  windowMs: number;
}

export const DEFAULT_BREAKER: CircuitBreakerConfig = { maxQuarantinedShare: 0.1, minAllowed: 1, maxQuarantinesPerWindow: 5, windowMs: 600_000 };

export interface BreakerState {
  /** nodes in the cluster */
  totalNodes: number;
  /** nodes quarantined by remediation right now (operator cordons excluded) */
  quarantined: string[];
  /** when recent quarantine requests (allowed or refused by the share) came, ms */
  recentQuarantines: number[];
  /** set when the breaker tripped; cleared only by an operator */
  trippedAt: number | null;
}

export type BreakerDecision =
  | { allow: true; state: BreakerState }
  | { allow: false; reason: string; tripped: boolean; state: BreakerState };

/**
 * May `node` be quarantined now? Returns the decision and the state to store with it. A node already
 * quarantined is allowed (idempotent) without counting again. Every other request counts towards the flood
 * window, refused ones too: faults on more nodes than the share allows, arriving together, are the flood (or
 * the bad rule) the breaker exists for, so they trip it rather than wait for slots to free up.
 */
export function decideQuarantine(state: BreakerState, node: string, now: number, cfg: CircuitBreakerConfig = DEFAULT_BREAKER): BreakerDecision {
  if (state.quarantined.includes(node)) return { allow: true, state };
  const recent = state.recentQuarantines.filter((t) => t > now - cfg.windowMs);
  const base = { ...state, recentQuarantines: recent };
  if (state.trippedAt !== null) {
    return { allow: false, tripped: true, reason: `circuit breaker open since ${new Date(state.trippedAt).toISOString()}; an operator must reset it`, state: base };
  }
  if (recent.length >= cfg.maxQuarantinesPerWindow) {
    return {
      allow: false,
      tripped: true,
      reason: `${recent.length} quarantine requests within ${Math.round(cfg.windowMs / 60_000)} min: circuit breaker tripped (a fault flood or a bad rule); ${node} stays in service until an operator resets it`,
      state: { ...base, trippedAt: now },
    };
  }
  const limit = Math.max(cfg.minAllowed, Math.floor(state.totalNodes * cfg.maxQuarantinedShare));
  if (state.quarantined.length >= limit) {
    return {
      allow: false,
      tripped: false,
      reason: `${state.quarantined.length} of ${state.totalNodes} nodes already quarantined (limit ${limit}, ${Math.round(cfg.maxQuarantinedShare * 100)} %); leaving ${node} in service`,
      state: { ...base, recentQuarantines: [...recent, now] },
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

// ------------------------------------------------------------------------- health change → what to do

/** Hub settings of the self-healing loop (HubConfig.remediation). */
export interface RemediationSettings {
  /** start remediation workflows from health changes (default true) */
  enabled: boolean;
  breaker: CircuitBreakerConfig;
  /** how often the workflow re-reads health while waiting for the GPU to recover (ms) */
  healthPollMs: number;
  /** consecutive healthy readings before the node returns to service */
  healthyPolls: number;
  /** stop waiting and leave the node quarantined for an operator after this long (ms) */
  maxWaitMs: number;
  /** how often nodes the breaker refused, still unhealthy, are tried again when it has room (ms; 0 = never) */
  retryRefusedMs: number;
}

export const DEFAULT_REMEDIATION: RemediationSettings = { enabled: true, breaker: DEFAULT_BREAKER, healthPollMs: 30_000, healthyPolls: 3, maxWaitMs: 24 * 3_600_000, retryRefusedMs: 60_000 };

const envNum = (env: NodeJS.ProcessEnv, name: string, d: number, check: (n: number) => boolean, want: string): number => {
  const v = env[name];
  if (v === undefined || v === '') return d;
  const n = Number(v);
  if (!Number.isFinite(n) || !check(n)) throw new Error(`${name}=${JSON.stringify(v)} is invalid: expected ${want}`);
  return n;
};

/** MERIDIAN_REMEDIATION*, MERIDIAN_BREAKER_* (see docs/telemetry.md); a bad value names the variable. */
export function remediationSettingsFromEnv(env: NodeJS.ProcessEnv): RemediationSettings {
  const int = (n: number) => Number.isInteger(n) && n >= 1;
  return {
    enabled: env.MERIDIAN_REMEDIATION !== 'false',
    breaker: {
      maxQuarantinedShare: envNum(env, 'MERIDIAN_BREAKER_MAX_SHARE', DEFAULT_BREAKER.maxQuarantinedShare, (n) => n > 0 && n <= 1, 'a share of the cluster in (0, 1], e.g. 0.1'),
      minAllowed: envNum(env, 'MERIDIAN_BREAKER_MIN_ALLOWED', DEFAULT_BREAKER.minAllowed, (n) => Number.isInteger(n) && n >= 0, 'a whole number of nodes >= 0'),
      maxQuarantinesPerWindow: envNum(env, 'MERIDIAN_BREAKER_MAX_PER_WINDOW', DEFAULT_BREAKER.maxQuarantinesPerWindow, int, 'a whole number >= 1'),
      windowMs: envNum(env, 'MERIDIAN_BREAKER_WINDOW_MS', DEFAULT_BREAKER.windowMs, int, 'milliseconds >= 1'),
    },
    healthPollMs: envNum(env, 'MERIDIAN_REMEDIATION_HEALTH_POLL_MS', DEFAULT_REMEDIATION.healthPollMs, int, 'milliseconds >= 1'),
    healthyPolls: envNum(env, 'MERIDIAN_REMEDIATION_HEALTHY_POLLS', DEFAULT_REMEDIATION.healthyPolls, int, 'a whole number >= 1'),
    maxWaitMs: envNum(env, 'MERIDIAN_REMEDIATION_MAX_WAIT_MS', DEFAULT_REMEDIATION.maxWaitMs, int, 'milliseconds >= 1'),
    retryRefusedMs: envNum(env, 'MERIDIAN_REMEDIATION_RETRY_MS', DEFAULT_REMEDIATION.retryRefusedMs, (n) => Number.isInteger(n) && n >= 0, 'milliseconds >= 0 (0 = never)'),
  };
}

/** The part of hot-state's HealthChange the decision needs. */
export interface HealthChangeInput {
  kind: 'gpu' | 'nic' | 'node';
  cluster: string;
  hostname: string;
  uuid?: string;
  previous: { status: string; action: Action; findings: { action: Action; detail: string }[] };
  current: { status: string; action: Action; findings: { action: Action; detail: string }[] };
}

export type HealthReaction =
  /** start (or, when running, nudge) the node's remediation workflow */
  | { kind: 'remediate'; workflowId: string; action: Action; reason: string }
  /** the application faulted: tell the jobs on the GPU/node; the GPU stays in service */
  | { kind: 'inform_job'; action: Action; reason: string }
  /** health improved or changed while remediation may be waiting: let it re-read now */
  | { kind: 'nudge'; workflowId: string }
  /** only worth a node event */
  | { kind: 'note' };

/** One remediation per node of a cluster at a time: a second faulty GPU on the node joins the running one. */
export function remediationWorkflowId(cluster: string, node: string): string {
  return `remediate:${cluster}:${node}`;
}

/** What the hub does about one health change (pure). */
export function reactToHealthChange(c: HealthChangeInput): HealthReaction {
  const reason = c.current.findings
    .filter((f) => f.action === c.current.action)
    .map((f) => f.detail)
    .join('; ');
  const id = remediationWorkflowId(c.cluster, c.hostname);
  if (needsQuarantine(c.current.action)) return { kind: 'remediate', workflowId: id, action: c.current.action, reason: reason || c.current.action };
  if (needsQuarantine(c.previous.action)) return { kind: 'nudge', workflowId: id };
  if ((c.current.action === 'inform_job' || c.current.action === 'restart_app') && ACTION_RANK[c.current.action] > ACTION_RANK[c.previous.action]) {
    return { kind: 'inform_job', action: c.current.action, reason: reason || c.current.action };
  }
  return { kind: 'note' };
}

/**
 * Nodes to try again: still needing quarantine, whose last remediation was refused by the breaker (an
 * operator's release or keep-out is left alone), at most as many as the breaker has room for right now, so a
 * retry never adds refusals to the flood window.
 */
export function refusedToRetry(unhealthyNodes: string[], lastStep: ReadonlyMap<string, string>, state: BreakerState, cfg: CircuitBreakerConfig, now: number): string[] {
  if (state.trippedAt !== null) return [];
  const recent = state.recentQuarantines.filter((t) => t > now - cfg.windowMs).length;
  const limit = Math.max(cfg.minAllowed, Math.floor(state.totalNodes * cfg.maxQuarantinedShare));
  const room = Math.min(limit - state.quarantined.length, cfg.maxQuarantinesPerWindow - recent);
  if (room <= 0) return [];
  return [...new Set(unhealthyNodes)]
    .filter((n) => lastStep.get(n) === 'remediation.quarantine_refused' && !state.quarantined.includes(n))
    .sort()
    .slice(0, room);
}
