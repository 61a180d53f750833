// The job-lifecycle workflow (workflow ID = job ID). Deterministic: imports only @temporalio/workflow and types.
//
// admitted → waiting for placement (the scheduler writes it and sends `wake`) → dispatch activity (the command
// goes through the gateway outbox) → running (the gateway stores agent status and sends `wake`) → succeeded /
// failed / cancelled, billed by the finish activity. A cluster-lost or node-fault requeue starts a new attempt.
//
// The store is the source of truth: every loop observes the job, takes at most one step, then sleeps until a
// `wake` signal or the poll interval, so a lost signal (hub crash between commit and signal) only delays a step.
// Signals carry no payload, and the workflow continues-as-new when its history grows, so a long job's history
// stays bounded however many status updates it gets.
import { condition, continueAsNew, defineQuery, defineSignal, proxyLocalActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { JobSnapshot, LifecycleActivities } from './activities.ts';

export interface JobLifecycleInput {
  jobId: string;
  /** How often to re-read the store without a signal (ms). */
  pollMs?: number;
  /** Continue-as-new past this many history events. */
  maxHistory?: number;
  /** After sending a cancel, give up waiting for the cluster's confirmation after grace + this (ms). */
  cancelConfirmMs?: number;
  /** Carried across continue-as-new. */
  cancelSentAt?: { attempt: number; at: number } | null;
}

export interface JobLifecycleResult {
  jobId: string;
  state: string;
  attempt: number;
}

export const wakeSignal = defineSignal('wake');
export const snapshotQuery = defineQuery<JobSnapshot | null>('snapshot');

// Every step is a short, idempotent store transaction, so all of them run as local activities: a job costs
// about three workflow tasks (start, placed, ended) and no activity tasks on the Temporal server.
const acts = proxyLocalActivities<LifecycleActivities>({
  startToCloseTimeout: '20 seconds',
  localRetryThreshold: '10 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds' },
});

const TERMINAL = new Set(['Succeeded', 'Failed', 'Cancelled']);
/** Agent failure reasons that mean the node, not the job, failed: requeue elsewhere instead of failing. */
export const NODE_FAULT = /NodeFault|GPUFault|XID|NodeLost|NodeFail|NODE_FAIL|Evicted/i;

export async function jobLifecycle(input: JobLifecycleInput): Promise<JobLifecycleResult> {
  const pollMs = input.pollMs ?? 300_000;
  const maxHistory = input.maxHistory ?? 2_000;
  const cancelConfirmMs = input.cancelConfirmMs ?? 120_000;
  let cancelSentAt = input.cancelSentAt ?? null;
  let woken = false;
  let last: JobSnapshot | null = null;
  setHandler(wakeSignal, () => {
    woken = true;
  });
  setHandler(snapshotQuery, () => last);

  for (;;) {
    woken = false;
    const s = await acts.observeJob(input.jobId);
    last = s;
    if (!s) return { jobId: input.jobId, state: 'Unknown', attempt: 0 };
    if (TERMINAL.has(s.state)) return { jobId: input.jobId, state: s.state, attempt: s.attempt };
    const agentDone = s.agentAttempt === s.attempt && (s.agentPhase === 'Succeeded' || s.agentPhase === 'Failed' || s.agentPhase === 'Cancelled');

    if (agentDone && (s.state === 'Dispatched' || s.state === 'Running')) {
      const reason = s.agentReason ?? (s.exitCode !== null ? `exit code ${s.exitCode}` : '');
      if (s.agentPhase === 'Failed' && !s.cancelRequested && NODE_FAULT.test(reason)) {
        await acts.requeueJob(input.jobId, s.attempt, `node fault: ${reason}`);
        continue;
      }
      const [state, why] =
        s.agentPhase === 'Succeeded'
          ? (['Succeeded', reason || 'completed'] as const)
          : s.agentPhase === 'Cancelled' || s.cancelRequested
            ? (['Cancelled', s.cancelRequested ? 'cancelled by user' : reason || 'cancelled on the cluster'] as const)
            : (['Failed', reason || 'failed'] as const);
      if (await acts.finishJob(input.jobId, s.attempt, state, why)) return { jobId: input.jobId, state, attempt: s.attempt };
      continue;
    }
    if (s.cancelRequested) {
      if (s.state === 'Queued' || s.state === 'Placed') {
        if (await acts.finishJob(input.jobId, s.attempt, 'Cancelled', 'cancelled by user')) return { jobId: input.jobId, state: 'Cancelled', attempt: s.attempt };
        continue;
      }
      if (!cancelSentAt || cancelSentAt.attempt !== s.attempt) {
        await acts.sendCancel(input.jobId, s.attempt, s.graceSeconds, 'cancelled by user');
        cancelSentAt = { attempt: s.attempt, at: Date.now() };
      } else if (Date.now() - cancelSentAt.at > s.graceSeconds * 1000 + cancelConfirmMs) {
        await acts.finishJob(input.jobId, s.attempt, 'Cancelled', `cancelled by user (cluster ${s.cluster} did not confirm)`);
        continue;
      }
    } else if (s.requeueReason && s.requeueAttempt === s.attempt) {
      await acts.requeueJob(input.jobId, s.attempt, s.requeueReason);
      continue;
    } else if (s.state === 'Placed') {
      await acts.dispatchJob(input.jobId, s.attempt);
      continue;
    }

    await condition(() => woken, pollMs);
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > maxHistory) await continueAsNew<typeof jobLifecycle>({ ...input, cancelSentAt });
  }
}
