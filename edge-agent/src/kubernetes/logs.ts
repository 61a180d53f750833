// Logs on request: one task's main container (the newest attempt's pod for that rank), as its tail or, for a
// follower, from a byte offset (see ../logs/chunk.ts). The apiserver has no byte offsets, so each ask reads
// the container's log from the kubelet (bounded by its log rotation, 10 MiB by default) and cuts it here.
// A pod on a simulated (KWOK) node never ran a container: that is said, not shown as an empty log.
import type * as k8s from '@kubernetes/client-node';
import { LABELS, type LogsErrorCode } from '@meridian/protocol/agent-protocol';
import { followDetail, tailDetail } from '../logs/chunk.ts';
import { jobSelector } from './cancel.ts';
import { errText } from './informer.ts';
import { COMPLETION_INDEX_ANNOTATION } from './jobs.ts';

/** The annotation KWOK puts on the nodes it simulates. */
export const SIMULATED_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

export interface LogsOutcome {
  ok: boolean;
  error?: string;
  detail?: unknown;
}

const fail = (code: LogsErrorCode, error: string): LogsOutcome => ({ ok: false, error, detail: { code } });

export async function taskLogs(core: k8s.CoreV1Api, namespace: string, cmd: { jobId: string; task: number; tailLines: number; offset?: number }): Promise<LogsOutcome> {
  const pods = (await core.listNamespacedPod({ namespace, labelSelector: jobSelector(cmd.jobId) })).items.filter(
    (p) => Number(p.metadata?.annotations?.[COMPLETION_INDEX_ANNOTATION] ?? 0) === cmd.task,
  );
  if (pods.length === 0) return fail('not-found', `job ${cmd.jobId} has no pod for task ${cmd.task} in namespace ${namespace} (not started, or already cleaned up)`);
  pods.sort((a, b) => {
    const d = Number(b.metadata?.labels?.[LABELS.attempt] ?? 0) - Number(a.metadata?.labels?.[LABELS.attempt] ?? 0);
    return d || new Date(b.metadata?.creationTimestamp ?? 0).getTime() - new Date(a.metadata?.creationTimestamp ?? 0).getTime();
  });
  const pod = pods[0]!;
  const name = pod.metadata!.name!;
  const nodeName = pod.spec?.nodeName;
  const where = { pod: name, ...(nodeName ? { node: nodeName } : {}) };
  if (!nodeName) return fail('not-started', `job ${cmd.jobId} task ${cmd.task} has not started: pod ${namespace}/${name} is not scheduled to a node yet`);
  const node = await core.readNode({ name: nodeName }).catch(() => undefined);
  if (node?.metadata?.annotations?.[SIMULATED_NODE_ANNOTATION]) {
    return fail('no-container', `job ${cmd.jobId} task ${cmd.task}: no container ran on a simulated node (pod ${namespace}/${name} is on ${nodeName}, a KWOK node), so there is no log`);
  }
  const main = pod.status?.containerStatuses?.find((c) => c.name === 'main');
  if (pod.status?.phase === 'Pending' && !main?.state?.running && !main?.state?.terminated) {
    const waiting = main?.state?.waiting?.reason;
    return fail('not-started', `job ${cmd.jobId} task ${cmd.task} has not started: pod ${namespace}/${name} is Pending${waiting ? ` (${waiting})` : ''}`);
  }
  // the phase is read before the log: when it says ended, the log read below is complete
  const ended = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
  let log: string;
  try {
    const text = await core.readNamespacedPodLog({ name, namespace, container: 'main' });
    log = typeof text === 'string' ? text : String(text);
  } catch (err) {
    return { ok: false, error: `reading logs of pod ${namespace}/${name} failed: ${errText(err)}` };
  }
  const bytes = Buffer.from(log);
  if (cmd.offset === undefined) return { ok: true, detail: { ...tailDetail(bytes, 0, cmd.tailLines, ended), ...where } };
  // a log shorter than the offset belongs to a new container (a restart): follow it from its start
  const from = cmd.offset > bytes.length ? 0 : cmd.offset;
  return { ok: true, detail: { ...followDetail(bytes.subarray(from), from, ended), ...where } };
}
