// Jobs down: a DispatchCommand becomes one batch/v1 Job (Indexed, parallelism = completions = gang size),
// named after the federation job ID and attempt so a resent or replayed dispatch finds the same object:
// create is idempotent, an existing Job of that ID and attempt is adopted, never duplicated.
import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { V1EnvVar, V1Job, V1Toleration } from '@kubernetes/client-node';
import type { DispatchCommand } from '@meridian/protocol/agent-protocol';
import { LABELS } from '@meridian/protocol/agent-protocol';
import { GANG_GATE } from './gang.ts';
import { errText, statusOf } from './informer.ts';
import { GPU_INDEX_ANNOTATION } from './inventory.ts';
import { slurmScriptParts } from './slurm-script.ts';

export const MANAGED_BY = 'meridian';
export const COMPLETION_INDEX_ANNOTATION = 'batch.kubernetes.io/job-completion-index';
/** On every pod of an attempt: the hub's reservation it runs in (`<job>-a<attempt>`), for kubectl and quotas. */
export const RESERVATION_LABEL = 'meridian.dev/reservation';
export const JOB_ANNOTATIONS = {
  name: 'meridian.dev/job-name',
  checkpointSignal: 'meridian.dev/checkpoint-signal',
  cancelReason: 'meridian.dev/cancel-reason',
} as const;

export interface JobOptions {
  namespace: string;
  gpuModelLabel: string;
  gpuResource: string;
  rdmaResource: string;
  /** Time-slicing replicas (nvidia.com/gpu.shared) and how many the device plugin makes of one GPU: a share takes its part of them. */
  sharedGpuResource: string;
  sharedGpuReplicas: number;
  /** Image for commands that carry a script but no image. */
  defaultImage: string;
  /** Image for login-node batch scripts without an image (they expect bash and coreutils, as on a Slurm node). */
  slurmScriptImage?: string;
  tolerations: V1Toleration[];
  /** Finished Jobs are garbage-collected after this long (logs stay readable until then). */
  ttlSecondsAfterFinished: number;
  serviceAccountName?: string;
  priorityClassName?: string;
}

/** The job-runner image scripts/images.mjs builds from Debian packages (bash, coreutils, python3, rclone): what runs a
 * command or batch script that names no image. A site whose nodes cannot pull it sets --job-image. */
export const DEFAULT_JOB_IMAGE = 'meridian.local/job-runner:0.1.0';
export const DEFAULT_SLURM_SCRIPT_IMAGE = DEFAULT_JOB_IMAGE;

export const DEFAULT_JOB_OPTIONS: JobOptions = {
  namespace: 'default',
  gpuModelLabel: 'nvidia.com/gpu.product',
  gpuResource: 'nvidia.com/gpu',
  rdmaResource: 'rdma/hca',
  sharedGpuResource: 'nvidia.com/gpu.shared',
  sharedGpuReplicas: 10,
  defaultImage: DEFAULT_JOB_IMAGE,
  slurmScriptImage: DEFAULT_SLURM_SCRIPT_IMAGE,
  tolerations: [],
  ttlSecondsAfterFinished: 86_400,
};

/** A label value (≤ 63 chars of [A-Za-z0-9._-], alphanumeric at both ends); long or odd values get a hash suffix. */
export function labelValue(v: string): string {
  const clean = v.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  if (clean === v && v.length <= 63) return v;
  const hash = createHash('sha256').update(v).digest('hex').slice(0, 8);
  return `${clean.slice(0, 54).replace(/[^A-Za-z0-9]+$/, '')}-${hash}`.replace(/^-/, '');
}

/** The Kubernetes Job name of a federation job attempt: `mj-<id>-a<attempt>` (DNS-1123, ≤ 63). */
export function jobName(jobId: string, attempt: number): string {
  const id = jobId.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '');
  const suffix = `-a${attempt}`;
  const base = `mj-${id}`;
  if (id === jobId && base.length + suffix.length <= 63) return base + suffix;
  const hash = createHash('sha256').update(jobId).digest('hex').slice(0, 8);
  return `${base.slice(0, 63 - suffix.length - 9).replace(/-+$/, '')}-${hash}${suffix}`;
}

/** The attempt's Secret (./secrets.ts), which its container reads with envFrom. */
export function secretName(jobId: string, attempt: number): string {
  return `${jobName(jobId, attempt)}-secrets`;
}

/** The labels every object of a dispatched attempt carries. */
export function jobLabels(cmd: Pick<DispatchCommand, 'jobId' | 'attempt' | 'project'>): Record<string, string> {
  return {
    [LABELS.jobId]: labelValue(cmd.jobId),
    [LABELS.attempt]: String(cmd.attempt),
    [LABELS.project]: labelValue(cmd.project),
    [LABELS.managedBy]: MANAGED_BY,
  };
}

const qualifiedName = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Time-slicing replicas a share of `milli` takes: its part of one GPU, rounded up (at least one). */
export function shareReplicas(milli: number, replicas: number): number {
  return Math.max(1, Math.ceil((milli * Math.max(1, replicas)) / 1000));
}

/** The GPU index every task's share uses, when the hub chose one and the same one for all. */
function uniformShareIndex(cmd: DispatchCommand): number | undefined {
  const ix = cmd.gpuIndices ?? [];
  return cmd.perTask.milliGpu && ix.length && ix.every((i) => i === ix[0]) ? ix[0] : undefined;
}

/**
 * What limits a share inside its container: the GPU the hub chose (NVIDIA_VISIBLE_DEVICES, for the container
 * toolkit), its compute part (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE, honoured under MPS) and its memory part
 * (MERIDIAN_GPU_MEMORY_FRACTION, and XLA_PYTHON_CLIENT_MEM_FRACTION which JAX obeys). Tasks on different
 * GPUs read theirs from MERIDIAN_GPU_INDICES by MERIDIAN_RANK.
 */
export function shareEnv(cmd: DispatchCommand): V1EnvVar[] {
  const milli = cmd.perTask.gpus > 0 ? 0 : (cmd.perTask.milliGpu ?? 0);
  if (milli <= 0) return [];
  const fraction = String(milli / 1000);
  const index = uniformShareIndex(cmd);
  return [
    { name: 'MERIDIAN_GPU_SHARE_MILLI', value: String(milli) },
    ...(index !== undefined ? [{ name: 'NVIDIA_VISIBLE_DEVICES', value: String(index) }] : []),
    ...(cmd.gpuIndices?.length ? [{ name: 'MERIDIAN_GPU_INDICES', value: cmd.gpuIndices.join(',') }] : []),
    { name: 'CUDA_MPS_ACTIVE_THREAD_PERCENTAGE', value: String(Math.max(1, Math.ceil(milli / 10))) },
    { name: 'MERIDIAN_GPU_MEMORY_FRACTION', value: fraction },
    { name: 'XLA_PYTHON_CLIENT_MEM_FRACTION', value: fraction },
  ];
}

/** The Job for one dispatch (pure). */
export function buildJob(cmd: DispatchCommand, o: JobOptions = DEFAULT_JOB_OPTIONS, suspend = false): V1Job {
  const labels = jobLabels(cmd);
  const name = jobName(cmd.jobId, cmd.attempt);
  const t = cmd.perTask;
  const limits: Record<string, string> = {};
  const requests: Record<string, string> = {};
  if (t.cpuMilli > 0) requests.cpu = `${Math.round(t.cpuMilli)}m`;
  if (t.memoryMiB > 0) requests.memory = limits.memory = `${Math.ceil(t.memoryMiB)}Mi`;
  if (t.gpus > 0) requests[o.gpuResource] = limits[o.gpuResource] = String(t.gpus);
  else if (t.milliGpu && t.milliGpu > 0) requests[o.sharedGpuResource] = limits[o.sharedGpuResource] = String(shareReplicas(t.milliGpu, o.sharedGpuReplicas));
  if (t.rdma > 0) requests[o.rdmaResource] = limits[o.rdmaResource] = String(t.rdma);

  const env: V1EnvVar[] = [
    { name: 'MERIDIAN_JOB_ID', value: cmd.jobId },
    { name: 'MERIDIAN_ATTEMPT', value: String(cmd.attempt) },
    { name: 'MERIDIAN_PROJECT', value: cmd.project },
    { name: 'MERIDIAN_RANK', valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${COMPLETION_INDEX_ANNOTATION}']` } } },
    { name: 'MERIDIAN_WORLD_SIZE', value: String(cmd.tasks) },
    ...shareEnv(cmd),
    ...Object.entries(cmd.env).map(([k, v]) => ({ name: k, value: v })),
  ];
  let command = cmd.command;
  let args = cmd.args;
  const slurm = slurmScriptParts(cmd);
  if (slurm) {
    env.push(...slurm.env);
    command = slurm.command;
    args = undefined;
  } else if (!command && cmd.script) {
    command = ['/bin/sh', '-c'];
    args = [cmd.script];
  }
  const podAnnotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(cmd.annotations)) if (qualifiedName.test(k) && k.length <= 317) podAnnotations[k] = v;
  if (cmd.checkpointSignal) podAnnotations[JOB_ANNOTATIONS.checkpointSignal] = cmd.checkpointSignal;
  const shareIndex = uniformShareIndex(cmd);
  if (shareIndex !== undefined) podAnnotations[GPU_INDEX_ANNOTATION] = String(shareIndex);

  const wholeGpus = t.gpus > 0 || Boolean(t.milliGpu);
  const nodeSelector: Record<string, string> = {};
  if (cmd.gpuModel && wholeGpus) nodeSelector[o.gpuModelLabel] = cmd.gpuModel;
  // The nodes the hub reserved are a hard pin: the kube-scheduler may only bind the pods there (it still checks
  // room, so a foreign pod that took the room leaves them Pending with its Unschedulable message). matchFields on
  // metadata.name is the node's own name, whatever its hostname label says; it takes one value per term, and
  // terms are ORed, so one term per node.
  const pinned = [...new Set(cmd.nodes)];

  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: o.namespace,
      labels,
      annotations: { [JOB_ANNOTATIONS.name]: cmd.name, 'meridian.dev/job-id': cmd.jobId },
    },
    spec: {
      completionMode: 'Indexed',
      ...(suspend ? { suspend: true } : {}),
      ...(slurm?.array
        ? {
            // An array: one completion per index, at most %limit at once; a failed task does not stop the others,
            // and the time limit is per task (the deadline covers the waves the limit makes).
            completions: slurm.array.completions,
            parallelism: slurm.array.parallelism,
            backoffLimitPerIndex: 0,
            activeDeadlineSeconds: Math.max(1, Math.ceil(cmd.maxRuntimeSec)) * Math.ceil(slurm.array.completions / slurm.array.parallelism),
          }
        : {
            completions: cmd.tasks,
            parallelism: cmd.tasks,
            // A gang is all or nothing: no retries inside the cluster; the hub decides whether to requeue.
            backoffLimit: 0,
            activeDeadlineSeconds: Math.max(1, Math.ceil(cmd.maxRuntimeSec)),
          }),
      ttlSecondsAfterFinished: o.ttlSecondsAfterFinished,
      // An evicted (drained / preempted) pod fails the Job at once with a reason the hub reads as "requeue".
      podFailurePolicy: { rules: [{ action: 'FailJob', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] }] },
      template: {
        metadata: { labels: { ...labels, [RESERVATION_LABEL]: name }, annotations: podAnnotations },
        spec: {
          restartPolicy: 'Never',
          ...(Object.keys(nodeSelector).length ? { nodeSelector } : {}),
          ...(pinned.length
            ? { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: pinned.map((n) => ({ matchFields: [{ key: 'metadata.name', operator: 'In', values: [n] }] })) } } } }
            : {}),
          // a pinned gang waits behind the gang gate until its nodes have room for every task (./gang.ts)
          ...(pinned.length && cmd.tasks > 1 && !slurm?.array ? { schedulingGates: [{ name: GANG_GATE }] } : {}),
          ...(o.tolerations.length ? { tolerations: o.tolerations } : {}),
          ...(o.serviceAccountName ? { serviceAccountName: o.serviceAccountName } : {}),
          ...(o.priorityClassName ? { priorityClassName: o.priorityClassName } : {}),
          containers: [
            {
              name: 'main',
              image: cmd.image ?? (slurm ? (o.slurmScriptImage ?? DEFAULT_SLURM_SCRIPT_IMAGE) : o.defaultImage),
              ...(command ? { command } : {}),
              ...(args ? { args } : {}),
              env,
              // secrets come from the attempt's Secret by reference: their values are never in this spec
              ...(Object.keys(cmd.secrets ?? {}).length ? { envFrom: [{ secretRef: { name: secretName(cmd.jobId, cmd.attempt) } }] } : {}),
              resources: { requests, limits },
              // a failed container's last log lines become its termination message: the job's failure shows them
              terminationMessagePolicy: 'FallbackToLogsOnError',
              ...(slurm?.volumeMounts.length ? { volumeMounts: slurm.volumeMounts } : {}),
            },
          ],
          ...(slurm?.volumes.length ? { volumes: slurm.volumes } : {}),
        },
      },
    },
  };
}

export interface EnsureResult {
  created: boolean;
  name: string;
  namespace: string;
  job: V1Job;
}

/**
 * Creates the Job for a dispatch, or adopts the one that already exists for this job ID and attempt
 * (a resent command, an agent restart). A same-named object that belongs to something else is an error.
 */
export async function ensureJob(batch: k8s.BatchV1Api, cmd: DispatchCommand, o: JobOptions = DEFAULT_JOB_OPTIONS, suspend = false): Promise<EnsureResult> {
  const body = buildJob(cmd, o, suspend);
  const name = body.metadata!.name!;
  try {
    const job = await batch.createNamespacedJob({ namespace: o.namespace, body });
    return { created: true, name, namespace: o.namespace, job };
  } catch (err) {
    // the cause keeps the apiserver's status code: a refusal (422) fails the dispatch at once, not after retries
    if (statusOf(err) !== 409) throw new Error(`creating Job ${o.namespace}/${name} failed: ${errText(err)}`, { cause: err });
  }
  const existing = await batch.readNamespacedJob({ name, namespace: o.namespace });
  const l = existing.metadata?.labels ?? {};
  if (l[LABELS.jobId] !== labelValue(cmd.jobId) || l[LABELS.attempt] !== String(cmd.attempt)) {
    throw new Error(`Job ${o.namespace}/${name} exists but is not job ${cmd.jobId} attempt ${cmd.attempt} (labels ${JSON.stringify(l)}); not touching it`);
  }
  if (existing.metadata?.deletionTimestamp) throw new Error(`Job ${o.namespace}/${name} is being deleted (cancelled); a cancelled attempt is not restarted`);
  return { created: false, name, namespace: o.namespace, job: existing };
}

/** Makes sure the jobs namespace exists (the agent creates it on start when it may). */
export async function ensureNamespace(core: k8s.CoreV1Api, namespace: string): Promise<void> {
  try {
    await core.readNamespace({ name: namespace });
  } catch (err) {
    if (statusOf(err) !== 404) throw new Error(`reading namespace ${namespace} failed: ${errText(err)}`);
    try {
      await core.createNamespace({ body: { metadata: { name: namespace, labels: { [LABELS.managedBy]: MANAGED_BY } } } });
    } catch (e) {
      if (statusOf(e) !== 409) throw new Error(`creating namespace ${namespace} failed: ${errText(e)}`);
    }
  }
}
