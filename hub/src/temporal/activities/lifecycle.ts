// Activities of the job-lifecycle workflow: thin, idempotent wrappers over the store's transitions.
import type pg from 'pg';
import type { DispatchOutcome, JobSnapshot, LifecycleActivities } from '@meridian/workflows/activities';
import { getJob } from '../../store/repos/jobs.ts';
import { dispatchJob, finishJob, requeueJob, sendCancel } from '../../store/repos/lifecycle.ts';

export interface LifecycleHooks {
  /** After a job reached a final state (metrics). */
  onFinished?(jobId: string, state: string): void;
}

export function lifecycleActivities(pool: pg.Pool, hooks: LifecycleHooks = {}): LifecycleActivities {
  return {
    async observeJob(jobId: string): Promise<JobSnapshot | null> {
      const j = await getJob(pool, jobId);
      if (!j) return null;
      return {
        state: j.state,
        attempt: j.attempt,
        cluster: j.cluster,
        cancelRequested: j.cancelRequested,
        requeueReason: j.requeueReason,
        requeueAttempt: j.requeueAttempt,
        agentPhase: j.agentPhase as JobSnapshot['agentPhase'],
        agentAttempt: j.agentAttempt,
        agentReason: j.agentReason,
        exitCode: j.exitCode,
        graceSeconds: j.spec.checkpoint?.graceSeconds ?? 0,
      };
    },
    async dispatchJob(jobId: string, attempt: number): Promise<DispatchOutcome> {
      return dispatchJob(pool, jobId, attempt);
    },
    async sendCancel(jobId, attempt, graceSeconds, reason) {
      return sendCancel(pool, jobId, attempt, graceSeconds, reason);
    },
    async finishJob(jobId, attempt, state, reason) {
      const done = await finishJob(pool, jobId, attempt, state, reason);
      if (done) hooks.onFinished?.(jobId, state);
      return done;
    },
    async requeueJob(jobId, attempt, reason) {
      return requeueJob(pool, jobId, attempt, reason);
    },
  };
}
