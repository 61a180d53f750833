// What the hub's REST API answers for a job (GET /api/v1/jobs/{id}, the items of GET /api/v1/jobs): written by
// the hub, read by the login-node commands (squeue, sacct, scontrol) and the `meridian` CLI. One shape here so
// a field the hub renames breaks the readers' build, not a user's squeue.
import type { JobSpec, JobState } from './job-spec.ts';

/** One task of the job as its cluster reports it (array jobs: one per index). */
export interface SlurmTaskView {
  index: number;
  state: string;
  node: string | null;
  exitCode: number | null;
  signal: number | null;
}

/** Slurm's names for the job's settings, wherever the job runs (what squeue, scontrol and sacct print). */
export interface SlurmJobView {
  jobName: string;
  partition: string | null;
  workDir: string | null;
  stdOut: string;
  stdErr: string;
  timeLimitSec: number;
  nodes: string[];
  exitSignal: number | null;
  dependency: string | null;
  array: string | null;
  tasks: SlurmTaskView[];
}

export interface JobView {
  id: string;
  name: string;
  project: string;
  user: string | null;
  tier: string;
  priority: number;
  state: JobState;
  attempt: number;
  cluster: string | null;
  gpuModel: string | null;
  /** why the job is not running yet, in words, and as a code (Resources, Priority, Dependency, ...) */
  reason: string | null;
  reasonCode: string | null;
  etaSec: number | null;
  exitCode: number | null;
  estimatedUsd: number | null;
  cancelRequested: boolean;
  /** held at the hub (Queued) or on its Slurm cluster (pending there) */
  held: boolean;
  clusterJobId: string | null;
  /** ISO 8601 times */
  submittedAt: string;
  placedAt: string | null;
  dispatchedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  placement: unknown;
  slurm: SlurmJobView;
  /**
   * The job as submitted. `spec.workload.env` is there only for the job's owner and hub administrators (as Slurm
   * shows a job's environment only to its owner); `spec.workload.secrets` is never returned to anyone.
   */
  spec: JobSpec;
  /** true when `spec.workload.env` was left out because the caller is neither the job's owner nor a hub admin */
  envHidden: boolean;
  /** the names of the job's secrets (never their values); empty when `envHidden` */
  secretNames: string[];
}
