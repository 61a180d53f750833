// The checkpoint step of GPU-fault remediation: a `signal` command per checkpointable job through its
// cluster's command outbox, the agent's answer awaited (bounded), then how long the workflow waits before
// requeueing. An agent that predates the `signal` command cannot read the frame and never answers: after
// `resultWaitMs` the job counts as not signalled and the requeue's cancel carries its grace instead (the
// pre-signal behaviour), so mixed agent versions keep working.
import type pg from 'pg';
import { SignalCommand } from '@meridian/protocol/agent-protocol';
import { enqueueCommand, getCommand, sentSignalSeq } from '../../store/repos/agent-stream.ts';
import { getCluster } from '../../store/repos/clusters.ts';
import { addEvent, getJob, lastCheckpointDelivery } from '../../store/repos/jobs.ts';
import { tx } from '../../store/db.ts';

/** How the agent delivered it: `process` = the job's processes got the signal (Slurm); `annotation` = a request the workload reads (Kubernetes). */
export type Delivery = 'process' | 'annotation' | 'none';

export interface SignalOutcome {
  jobId: string;
  attempt: number;
  signal: string;
  graceSeconds: number;
  delivery: Delivery;
  /** why it was not delivered (agent error, no answer, a signal the protocol refuses) */
  error?: string;
}

/** Seconds to wait after signalling: the longest grace among delivered jobs, never more than `bound`. Pure. */
export function checkpointWaitSeconds(outcomes: SignalOutcome[], bound: number): number {
  const delivered = outcomes.filter((o) => o.delivery !== 'none').map((o) => o.graceSeconds);
  return delivered.length ? Math.max(0, Math.min(bound, Math.max(...delivered))) : 0;
}

/**
 * Grace for the requeue's cancel: none when the processes already got the signal and its grace (a second
 * signal would only confuse the job's handler); otherwise the job's own grace, so the cancel delivers it.
 */
export function cancelGraceAfter(delivery: Delivery | undefined, jobGraceSeconds: number): number {
  return delivery === 'process' ? 0 : jobGraceSeconds;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sends the `signal` command to one job's cluster (once per attempt); undefined when there is nothing to signal. */
async function sendOne(pool: pg.Pool, jobId: string, attempt: number, reason: string): Promise<{ cluster: string; seq: number; out: SignalOutcome } | SignalOutcome | undefined> {
  const row = await getJob(pool, jobId);
  if (!row || row.attempt !== attempt || !row.spec.checkpoint || !row.cluster) return undefined;
  const { signal, graceSeconds } = row.spec.checkpoint;
  const base: SignalOutcome = { jobId, attempt, signal, graceSeconds, delivery: 'none' };
  const parsed = SignalCommand.safeParse({ kind: 'signal', jobId, attempt, signal, reason });
  if (!parsed.success) return { ...base, error: parsed.error.issues.map((i) => i.message).join('; ') };
  const cluster = row.cluster;
  if (!(await getCluster(pool, cluster))) return { ...base, error: `cluster ${cluster} is not registered at the hub` };
  // one signal per attempt: the activity may be retried after it was sent
  const seq = (await sentSignalSeq(pool, cluster, jobId, attempt)) ?? (await tx(pool, (db) => enqueueCommand(db, cluster, parsed.data, jobId, attempt)));
  return { cluster, seq, out: base };
}

/** Signals every job, waits up to `resultWaitMs` for the agents' answers, records a `checkpoint` job event each. */
export async function signalJobs(pool: pg.Pool, jobs: { jobId: string; attempt: number }[], reason: string, resultWaitMs: number): Promise<SignalOutcome[]> {
  const sent = await Promise.all(jobs.map((j) => sendOne(pool, j.jobId, j.attempt, reason)));
  const outcomes = await Promise.all(
    sent.map(async (s): Promise<SignalOutcome | undefined> => {
      if (!s || !('seq' in s)) return s;
      const deadline = Date.now() + resultWaitMs;
      for (;;) {
        const result = (await getCommand(pool, s.cluster, s.seq))?.result as { ok?: boolean; error?: string; detail?: { delivery?: string } } | null | undefined;
        if (result?.ok) return { ...s.out, delivery: result.detail?.delivery === 'annotation' ? 'annotation' : 'process' };
        if (result && result.ok === false) return { ...s.out, error: `the agent could not deliver it: ${result.error ?? 'no reason given'}` };
        if (Date.now() >= deadline) return { ...s.out, error: `no answer from cluster ${s.cluster}'s agent within ${resultWaitMs} ms (an agent without the signal command)` };
        await sleep(250);
      }
    }),
  );
  const done = outcomes.filter((o): o is SignalOutcome => o !== undefined);
  for (const o of done) {
    const row = await getJob(pool, o.jobId);
    const what =
      o.delivery === 'process'
        ? `checkpoint signal ${o.signal} delivered (${reason}); ${o.graceSeconds} s to checkpoint before the attempt is stopped`
        : o.delivery === 'annotation'
          ? `checkpoint requested (${o.signal}, pod annotation meridian.dev/checkpoint-requested and an Event; ${reason}); ${o.graceSeconds} s before the pods are deleted with the same grace`
          : `checkpoint signal ${o.signal} not delivered (${o.error}); the stop of the attempt carries it with ${o.graceSeconds} s of grace`;
    await addEvent(pool, o.jobId, 'checkpoint', row?.state ?? null, o.attempt, what, { signal: o.signal, graceSeconds: o.graceSeconds, delivery: o.delivery, ...(o.error ? { error: o.error } : {}) });
  }
  return done;
}

/** The delivery the last `checkpoint` event of the attempt recorded (undefined when none was tried). */
export async function lastDelivery(pool: pg.Pool, jobId: string, attempt: number): Promise<Delivery | undefined> {
  return (await lastCheckpointDelivery(pool, jobId, attempt)) as Delivery | undefined;
}
