// Logs on request: the tail of one task's main container (the newest attempt's pod for that rank).
import type * as k8s from '@kubernetes/client-node';
import { LABELS } from '@meridian/protocol/agent-protocol';
import { jobSelector } from './cancel.ts';
import { errText } from './informer.ts';
import { COMPLETION_INDEX_ANNOTATION } from './jobs.ts';

export interface LogsResult {
  text: string;
  pod: string;
  node?: string;
}

export async function taskLogs(core: k8s.CoreV1Api, namespace: string, cmd: { jobId: string; task: number; tailLines: number }): Promise<LogsResult> {
  const pods = (await core.listNamespacedPod({ namespace, labelSelector: jobSelector(cmd.jobId) })).items.filter(
    (p) => Number(p.metadata?.annotations?.[COMPLETION_INDEX_ANNOTATION] ?? 0) === cmd.task,
  );
  if (pods.length === 0) throw new Error(`job ${cmd.jobId} has no pod for task ${cmd.task} in namespace ${namespace} (not started, or already cleaned up)`);
  pods.sort((a, b) => {
    const d = Number(b.metadata?.labels?.[LABELS.attempt] ?? 0) - Number(a.metadata?.labels?.[LABELS.attempt] ?? 0);
    return d || new Date(b.metadata?.creationTimestamp ?? 0).getTime() - new Date(a.metadata?.creationTimestamp ?? 0).getTime();
  });
  const pod = pods[0]!;
  const name = pod.metadata!.name!;
  try {
    const text = await core.readNamespacedPodLog({ name, namespace, container: 'main', tailLines: cmd.tailLines });
    return { text: typeof text === 'string' ? text : String(text), pod: name, ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}) };
  } catch (err) {
    throw new Error(`reading logs of pod ${namespace}/${name} failed: ${errText(err)}`);
  }
}
