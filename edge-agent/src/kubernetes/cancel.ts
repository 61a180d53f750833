// Cancel down: delete every Job of the federation job (one attempt, or all of them) with propagation, so
// its pods go too. Pods are deleted first with the command's grace period, so a job that asked for a
// checkpoint signal gets SIGTERM and `graceSeconds` to write its checkpoint before it is killed.
import type * as k8s from '@kubernetes/client-node';
import { LABELS } from '@meridian/protocol/agent-protocol';
import { errText, statusOf } from './informer.ts';
import { labelValue, MANAGED_BY } from './jobs.ts';

export interface CancelResult {
  /** Job names deleted (or already being deleted). */
  deleted: string[];
  /** Attempts found, so each can be reported Cancelled. */
  attempts: number[];
}

export function jobSelector(jobId: string, attempt?: number): string {
  return [`${LABELS.managedBy}=${MANAGED_BY}`, `${LABELS.jobId}=${labelValue(jobId)}`, ...(attempt ? [`${LABELS.attempt}=${attempt}`] : [])].join(',');
}

export async function cancelJob(
  batch: k8s.BatchV1Api,
  core: k8s.CoreV1Api,
  namespace: string,
  cmd: { jobId: string; attempt?: number; graceSeconds: number },
): Promise<CancelResult> {
  const labelSelector = jobSelector(cmd.jobId, cmd.attempt);
  const jobs = (await batch.listNamespacedJob({ namespace, labelSelector })).items;
  const out: CancelResult = { deleted: [], attempts: [] };
  if (cmd.graceSeconds > 0) {
    const pods = (await core.listNamespacedPod({ namespace, labelSelector })).items;
    await Promise.all(
      pods.map((p) =>
        core.deleteNamespacedPod({ name: p.metadata!.name!, namespace, gracePeriodSeconds: cmd.graceSeconds }).catch((err: unknown) => {
          if (statusOf(err) !== 404) throw new Error(`deleting pod ${p.metadata?.name} failed: ${errText(err)}`);
        }),
      ),
    );
  }
  for (const j of jobs) {
    const name = j.metadata!.name!;
    try {
      await batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background', ...(cmd.graceSeconds > 0 ? { gracePeriodSeconds: cmd.graceSeconds } : {}) });
    } catch (err) {
      if (statusOf(err) !== 404) throw new Error(`deleting Job ${namespace}/${name} failed: ${errText(err)}`);
    }
    out.deleted.push(name);
    const a = Number(j.metadata?.labels?.[LABELS.attempt]);
    if (Number.isInteger(a)) out.attempts.push(a);
  }
  return out;
}
