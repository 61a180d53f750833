// Job secrets on Kubernetes: one Secret per attempt (`<job name>-secrets`), referenced by the Job's container
// with `envFrom: secretRef`, so the values live only in the Secret, never in the Job or Pod spec. The Secret
// is created before the Job (pods never wait for it) and then owned by the Job (ownerReferences), so the
// garbage collector deletes it with the Job: on cancel, on ttlSecondsAfterFinished, on any delete.
import type * as k8s from '@kubernetes/client-node';
import type { V1Job, V1Secret } from '@kubernetes/client-node';
import type { DispatchCommand } from '@meridian/protocol/agent-protocol';
import { errText, statusOf } from './informer.ts';
import { jobLabels, secretName } from './jobs.ts';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export { secretName };

/** Whether the dispatch carries secrets. */
export function hasSecrets(cmd: Pick<DispatchCommand, 'secrets'>): boolean {
  return Object.keys(cmd.secrets ?? {}).length > 0;
}

/** The Secret of one attempt (pure); a key that is not a variable name is an error naming it. */
export function buildJobSecret(cmd: DispatchCommand, namespace: string): V1Secret {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(cmd.secrets ?? {})) {
    if (!NAME.test(k)) throw new Error(`secrets: ${JSON.stringify(k)} is not a variable name (letters, digits, _; not starting with a digit)`);
    data[k] = Buffer.from(v, 'utf8').toString('base64');
  }
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name: secretName(cmd.jobId, cmd.attempt), namespace, labels: jobLabels(cmd) },
    data,
  };
}

/** Creates (or refreshes, when a resent dispatch finds it) the attempt's Secret. */
export async function ensureJobSecret(core: k8s.CoreV1Api, cmd: DispatchCommand, namespace: string): Promise<string> {
  const body = buildJobSecret(cmd, namespace);
  const name = body.metadata!.name!;
  try {
    await core.createNamespacedSecret({ namespace, body });
  } catch (err) {
    if (statusOf(err) !== 409) throw new Error(`creating Secret ${namespace}/${name} failed: ${errText(err)}`);
    // a resent dispatch: new values, the owner it may already have kept
    const existing = await core.readNamespacedSecret({ name, namespace });
    await core.replaceNamespacedSecret({ name, namespace, body: { ...existing, data: body.data } });
  }
  return name;
}

/** Deletes an attempt's Secret whose Job could not be created (nothing owns it). */
export async function deleteJobSecret(core: k8s.CoreV1Api, name: string, namespace: string): Promise<void> {
  try {
    await core.deleteNamespacedSecret({ name, namespace });
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
}

/** Makes the Job the Secret's owner, so the Secret goes when the Job goes. */
export async function ownJobSecret(core: k8s.CoreV1Api, name: string, job: V1Job): Promise<void> {
  const uid = job.metadata?.uid;
  const namespace = job.metadata?.namespace;
  if (!uid || !namespace) throw new Error(`Job ${job.metadata?.name ?? '?'} has no uid; cannot own its Secret`);
  const ownerReferences = [{ apiVersion: 'batch/v1', kind: 'Job', name: job.metadata!.name!, uid, controller: true }];
  const secret = await core.readNamespacedSecret({ name, namespace });
  if (secret.metadata?.ownerReferences?.some((o) => o.uid === uid)) return;
  secret.metadata = { ...secret.metadata, ownerReferences };
  await core.replaceNamespacedSecret({ name, namespace, body: secret });
}
