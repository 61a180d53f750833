// The `signal` command on Kubernetes: ask a running attempt to checkpoint without stopping it. The agent
// cannot signal a container's process (pods/exec needs a kubelet, and the API has no "send signal" verb), so
// the request is written where a workload can observe it: the pod annotation
// `meridian.dev/checkpoint-requested=<SIGNAL>@<RFC3339 time>` (a sidecar or the app reads it through a
// downward-API volume, whose file the kubelet refreshes) and a Kubernetes Event on the pod for people and
// tooling. The actual process signal comes later with the requeue's pod deletion (SIGTERM + grace).
import * as k8s from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import type { SignalCommand } from '@meridian/protocol/agent-protocol';
import { jobSelector } from './cancel.ts';
import { errText, statusOf } from './informer.ts';
import type { Outcome } from './node-ops.ts';

export const CHECKPOINT_ANNOTATION = 'meridian.dev/checkpoint-requested';
export const CHECKPOINT_EVENT_REASON = 'CheckpointRequested';

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/** `SIGUSR1@2026-11-22T13:40:00Z`: the annotation value (pure, so tests can check the format). */
export function checkpointAnnotationValue(signal: string, at: Date): string {
  return `${signal}@${at.toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
}

/** Pods of the attempt that still run (or wait to): finished or terminating pods cannot checkpoint. */
export function signalTargets(pods: V1Pod[]): V1Pod[] {
  return pods.filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
}

/** Annotates every live pod of the attempt and records an Event on each; idempotent (a repeat re-stamps). */
export async function requestCheckpoint(core: k8s.CoreV1Api, namespace: string, cmd: Pick<SignalCommand, 'jobId' | 'attempt' | 'signal' | 'reason'>, now = new Date()): Promise<Outcome> {
  const pods = signalTargets((await core.listNamespacedPod({ namespace, labelSelector: jobSelector(cmd.jobId, cmd.attempt) })).items);
  if (pods.length === 0) return { ok: false, error: `signal: job ${cmd.jobId} attempt ${cmd.attempt} has no running pod in namespace ${namespace}` };
  const value = checkpointAnnotationValue(cmd.signal, now);
  const signalled: string[] = [];
  for (const p of pods) {
    const name = p.metadata!.name!;
    try {
      await core.patchNamespacedPod({ name, namespace, body: { metadata: { annotations: { [CHECKPOINT_ANNOTATION]: value } } } }, mergePatch);
    } catch (err) {
      if (statusOf(err) === 404) continue; // gone meanwhile: nothing left to checkpoint there
      return { ok: false, error: `signal: annotating pod ${namespace}/${name} failed: ${errText(err)}` };
    }
    await core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { generateName: `${name}.checkpoint-`, namespace },
        involvedObject: { kind: 'Pod', apiVersion: 'v1', name, namespace, uid: p.metadata?.uid },
        reason: CHECKPOINT_EVENT_REASON,
        message: `Meridian requests a checkpoint (${cmd.signal})${cmd.reason ? `: ${cmd.reason}` : ''}`,
        type: 'Warning',
        source: { component: 'meridian-edge-agent' },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
    signalled.push(name);
  }
  return { ok: true, detail: { delivery: 'annotation', annotation: `${CHECKPOINT_ANNOTATION}=${value}`, pods: signalled } };
}
