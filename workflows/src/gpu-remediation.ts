// GPU-fault remediation workflow (workflow ID: `remediate:<cluster>:<node>`). Deterministic: imports only
// @temporalio/workflow and types; the hub's worker implements RemediationActivities.
//
// Started by the hub when telemetry health turns `unhealthy` for a GPU or node (hub/src/telemetry: health.ts
// verdict → remediation-policy.ts plan). Steps, each recorded as an event:
//   quarantine (circuit breaker first: never more than a set share of the cluster; a fault flood trips it)
//   → checkpoint signal to the jobs on the node → requeue them elsewhere (checkpointable first)
//   → recovery (GPU reset / node reboot / a manual step an operator confirms)
//   → wait until telemetry reports the GPU healthy for `healthyPolls` polls in a row, or an operator decides
//   → return to service (uncordon / Slurm resume, breaker slot released, held health events cleared).
// The hub implements RemediationActivities in hub/src/temporal/activities/remediation.ts and starts this from
// hub/src/telemetry/remediation-trigger.ts.
import { condition, defineQuery, defineSignal, proxyActivities, setHandler, sleep } from '@temporalio/workflow';

/** hub/src/telemetry/health.ts Action values that quarantine. */
export type QuarantineAction = 'drain_check_link' | 'drain_reset' | 'drain_reset_diagnostics' | 'drain_fabric' | 'drain_reboot';

export type RemediationStepName =
  | 'quarantine'
  | 'quarantine_refused'
  | 'checkpoint_jobs'
  | 'requeue_jobs'
  | 'reset_gpu'
  | 'reboot_node'
  | 'fabric_recovery'
  | 'field_diagnostics'
  | 'check_link'
  | 'wait_healthy'
  | 'operator'
  | 'return_to_service'
  | 'kept_out';

export interface RemediationInput {
  cluster: string;
  node: string;
  /** the GPU that triggered it, when a single GPU did */
  gpuUuid?: string;
  action: QuarantineAction;
  /** human-readable findings, e.g. "XID 79 (GPU has fallen off the bus) ×1" */
  reason: string;
  /** upper bound on the wait between the checkpoint signal and the requeue (default 120 s; each job asks for its own grace) */
  checkpointGraceSeconds?: number;
  /** how often to poll health while waiting (default 30 s) */
  healthPollMs?: number;
  /** consecutive healthy polls before return to service (default 3) */
  healthyPolls?: number;
  /** give up waiting for health after this long and leave the node quarantined for an operator (default 24 h) */
  maxWaitMs?: number;
}

export interface JobOnNode {
  jobId: string;
  attempt: number;
  checkpointable: boolean;
  tier: 'realtime' | 'batch' | 'interruptible' | 'filler';
}

export type QuarantineDecision = { allowed: true } | { allowed: false; reason: string; tripped: boolean };

export interface RemediationEvent {
  step: RemediationStepName;
  cluster: string;
  node: string;
  gpuUuid?: string;
  detail: string;
}

export interface RemediationActivities {
  /** Circuit breaker (hub/src/telemetry/remediation-policy.ts decideQuarantine) under the store's lock; records the slot. */
  requestQuarantine(cluster: string, node: string, reason: string): Promise<QuarantineDecision>;
  /** Cordon (Kubernetes, through the agent) or Slurm drain with reason `meridian: <reason>`; idempotent. */
  quarantineNode(cluster: string, node: string, reason: string): Promise<void>;
  /** Jobs with tasks on the node. */
  jobsOnNode(cluster: string, node: string): Promise<JobOnNode[]>;
  /**
   * Sends the checkpoint signal (agent command `signal`) to the checkpointable jobs and waits for the agents'
   * answers. `signalled`: the jobs it reached; `waitSeconds`: how long to wait before requeueing (their longest
   * grace, at most `graceSeconds`) — 0 when none was reached, and the requeue's cancel carries each job's grace.
   */
  checkpointJobs(jobs: JobOnNode[], graceSeconds: number, reason: string): Promise<{ signalled: string[]; waitSeconds: number }>;
  /** Requeues one job elsewhere (the job-lifecycle workflow starts a new attempt); false if it already moved or ended. */
  requeueFromNode(jobId: string, attempt: number, reason: string): Promise<boolean>;
  /** Asks the agent for a GPU reset or node reboot; resolves when the command was accepted. */
  requestRecovery(cluster: string, node: string, kind: 'reset_gpu' | 'reboot_node', gpuUuid?: string): Promise<void>;
  /** Current telemetry verdict for the GPU (or every GPU and port of the node). */
  health(cluster: string, node: string, gpuUuid?: string): Promise<{ status: 'healthy' | 'degraded' | 'unhealthy'; detail: string }>;
  /** Clears held health events (telemetry hot state) after a verified recovery. */
  clearHealthEvents(cluster: string, node: string, gpuUuid?: string): Promise<void>;
  /** Uncordon / Slurm resume, and release the circuit-breaker slot. */
  returnToService(cluster: string, node: string): Promise<void>;
  /** Appends an event to the node's and the cluster's event log (portal, CLI, audit). */
  recordEvent(event: RemediationEvent): Promise<void>;
}

export interface RemediationResult {
  outcome: 'returned' | 'refused' | 'kept_out' | 'timed_out';
  steps: RemediationStepName[];
  requeued: string[];
}

/** An operator's decision: release the node (it is fixed), or keep it out of service. */
export const operatorSignal = defineSignal<[{ decision: 'release' | 'keep_out'; note?: string }]>('operator');
/** The hub saw a health change for this node: poll now instead of at the next interval. */
export const healthChangedSignal = defineSignal('healthChanged');
export const remediationStatusQuery = defineQuery<{ step: RemediationStepName | 'starting'; steps: RemediationStepName[] }>('status');

const acts = proxyActivities<RemediationActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

const TIER_ORDER = { realtime: 0, batch: 1, interruptible: 2, filler: 3 } as const;

/** Steps after requeue for each action; "manual" ones wait for the operator signal. */
function recoverySteps(action: QuarantineAction): { step: RemediationStepName; manual: boolean }[] {
  switch (action) {
    case 'drain_reset':
      return [{ step: 'reset_gpu', manual: false }];
    case 'drain_reset_diagnostics':
      return [
        { step: 'reset_gpu', manual: false },
        { step: 'field_diagnostics', manual: true },
      ];
    case 'drain_reboot':
      return [{ step: 'reboot_node', manual: false }];
    case 'drain_fabric':
      return [{ step: 'fabric_recovery', manual: true }];
    case 'drain_check_link':
      return [{ step: 'check_link', manual: true }];
  }
}

export async function gpuRemediation(input: RemediationInput): Promise<RemediationResult> {
  const { cluster, node, gpuUuid } = input;
  const steps: RemediationStepName[] = [];
  let current: RemediationStepName | 'starting' = 'starting';
  let operator: { decision: 'release' | 'keep_out'; note?: string } | null = null;
  let healthPing = false;
  setHandler(operatorSignal, (d) => {
    operator = d;
  });
  setHandler(healthChangedSignal, () => {
    healthPing = true;
  });
  setHandler(remediationStatusQuery, () => ({ step: current, steps: [...steps] }));

  const event = async (step: RemediationStepName, detail: string) => {
    current = step;
    steps.push(step);
    await acts.recordEvent({ step, cluster, node, ...(gpuUuid ? { gpuUuid } : {}), detail });
  };

  // 1. quarantine, behind the circuit breaker
  const decision = await acts.requestQuarantine(cluster, node, input.reason);
  if (!decision.allowed) {
    await event('quarantine_refused', `${decision.tripped ? 'circuit breaker tripped' : 'quarantine limit reached'}: ${decision.reason}; node stays in service (${input.reason})`);
    return { outcome: 'refused', steps, requeued: [] };
  }
  await acts.quarantineNode(cluster, node, input.reason);
  await event('quarantine', `quarantined for ${input.action}: ${input.reason}`);

  // 2. checkpoint, 3. requeue (checkpointable first, then by tier)
  const jobs = [...(await acts.jobsOnNode(cluster, node))].sort(
    (a, b) => Number(b.checkpointable) - Number(a.checkpointable) || TIER_ORDER[a.tier] - TIER_ORDER[b.tier] || (a.jobId < b.jobId ? -1 : 1),
  );
  const grace = input.checkpointGraceSeconds ?? 120;
  const checkpointable = jobs.filter((j) => j.checkpointable);
  if (checkpointable.length) {
    const { signalled, waitSeconds } = await acts.checkpointJobs(checkpointable, grace, `node ${node} is being quarantined: ${input.reason}`);
    await event(
      'checkpoint_jobs',
      `checkpoint signal to ${signalled.length} of ${checkpointable.length} job(s)${signalled.length ? `: ${signalled.join(', ')}` : ''}; ${waitSeconds > 0 ? `waiting ${waitSeconds} s before requeueing` : 'the requeue delivers it, each job keeps its checkpoint grace'}`,
    );
    if (waitSeconds > 0) await sleep(waitSeconds * 1000);
  }
  const requeued: string[] = [];
  for (const j of jobs) if (await acts.requeueFromNode(j.jobId, j.attempt, `GPU fault on ${node}: ${input.reason}`)) requeued.push(j.jobId);
  await event('requeue_jobs', jobs.length ? `requeued ${requeued.length} of ${jobs.length} job(s): ${requeued.join(', ') || 'none needed'}` : 'no jobs on the node');

  // 4. recovery
  for (const { step, manual } of recoverySteps(input.action)) {
    if (manual) {
      await event(step, `waiting for an operator to confirm ${step.replace(/_/g, ' ')}`);
      await condition(() => operator !== null);
      if (operator!.decision === 'keep_out') {
        await event('kept_out', `operator keeps the node out of service${operator!.note ? `: ${operator!.note}` : ''}`);
        return { outcome: 'kept_out', steps, requeued };
      }
      operator = null;
    } else {
      await acts.requestRecovery(cluster, node, step === 'reset_gpu' ? 'reset_gpu' : 'reboot_node', gpuUuid);
      await event(step, `${step === 'reset_gpu' ? 'GPU reset' : 'node reboot'} requested`);
    }
  }

  // held health events (the XID that started this) describe the GPU before recovery: forget them, so that
  // from here on health reflects what telemetry reports now
  await acts.clearHealthEvents(cluster, node, gpuUuid);

  // 5. wait for health (or an operator)
  const pollMs = input.healthPollMs ?? 30_000;
  const needed = input.healthyPolls ?? 3;
  const deadline = Date.now() + (input.maxWaitMs ?? 24 * 3_600_000);
  await event('wait_healthy', `waiting for ${needed} healthy reading(s) in a row`);
  let healthy = 0;
  for (;;) {
    if (operator !== null) {
      const op: { decision: 'release' | 'keep_out'; note?: string } = operator;
      await event('operator', `operator: ${op.decision}${op.note ? ` (${op.note})` : ''}`);
      if (op.decision === 'keep_out') {
        await event('kept_out', 'node stays quarantined');
        return { outcome: 'kept_out', steps, requeued };
      }
      break;
    }
    const h = await acts.health(cluster, node, gpuUuid);
    healthy = h.status === 'healthy' ? healthy + 1 : 0;
    if (healthy >= needed) break;
    if (Date.now() > deadline) {
      await event('wait_healthy', `still ${h.status} after ${Math.round((input.maxWaitMs ?? 86_400_000) / 60_000)} min (${h.detail}); left quarantined for an operator`);
      return { outcome: 'timed_out', steps, requeued };
    }
    healthPing = false;
    await condition(() => healthPing || operator !== null, pollMs);
  }

  // 6. return to service
  await acts.returnToService(cluster, node);
  await event('return_to_service', 'node returned to service');
  return { outcome: 'returned', steps, requeued };
}
