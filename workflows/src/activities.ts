// Activity interfaces the workflows call (types only; the hub's worker implements them).

/** What the hub's store says about a job right now: the workflow decides from this, not from signal payloads. */
export interface JobSnapshot {
  state: 'Queued' | 'Placed' | 'Dispatched' | 'Running' | 'Succeeded' | 'Failed' | 'Cancelled';
  attempt: number;
  cluster: string | null;
  cancelRequested: boolean;
  /** Set when the attempt must be requeued (cluster lost, node fault, preemption). */
  requeueReason: string | null;
  requeueAttempt: number | null;
  /** Latest phase the cluster reported for `agentAttempt`. */
  agentPhase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Cancelled' | null;
  agentAttempt: number | null;
  agentReason: string | null;
  exitCode: number | null;
  /** Checkpoint grace period before a cancel kills the job. */
  graceSeconds: number;
}

export type DispatchOutcome = { outcome: 'dispatched' | 'already'; cluster: string } | { outcome: 'not-placed'; state: string };

export interface LifecycleActivities {
  observeJob(jobId: string): Promise<JobSnapshot | null>;
  dispatchJob(jobId: string, attempt: number): Promise<DispatchOutcome>;
  sendCancel(jobId: string, attempt: number, graceSeconds: number, reason: string): Promise<boolean>;
  finishJob(jobId: string, attempt: number, state: 'Succeeded' | 'Failed' | 'Cancelled', reason: string): Promise<boolean>;
  requeueJob(jobId: string, attempt: number, reason: string): Promise<boolean>;
}
