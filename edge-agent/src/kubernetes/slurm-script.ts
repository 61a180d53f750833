// A login-node sbatch job placed on Kubernetes: the pod runs the batch script the way slurmd would, with the
// SLURM_* variables Slurm sets, in the job's working directory, with stdout/stderr redirected to the files
// --output/--error name (Slurm's filename patterns). The directories come from the nodes' shared filesystem
// (hostPath at the same path, as on an HPC cluster). Arrays become an Indexed Job: one completion per array
// index, at most %limit pods at once. Pure: dispatch in, pod parts out.
import type { V1EnvVar, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { DispatchCommand } from '@meridian/protocol/agent-protocol';
import { slurmAnnotation, slurmAnnotationName, SLURM_ANNOTATION_PREFIX, type SlurmAnnotationKey } from '@meridian/protocol/slurm/annotations';
import { emptyRange, parseArraySpec } from '@meridian/protocol/slurm/array-spec';
import { defaultOutputPattern, expandSlurmPattern, inWorkDir } from '@meridian/protocol/slurm/patterns';

const INDEX_FIELD = "metadata.annotations['batch.kubernetes.io/job-completion-index']";

export interface SlurmPodParts {
  env: V1EnvVar[];
  command: string[];
  volumes: V1Volume[];
  volumeMounts: V1VolumeMount[];
  /** Array jobs: one completion per index, `parallelism` at once (%limit). */
  array?: { completions: number; parallelism: number; indices: number[] };
}

/** Whether a dispatch is a login-node batch script (it carries sbatch's settings as annotations). */
export function isSlurmScript(cmd: Pick<DispatchCommand, 'script' | 'annotations'>): boolean {
  return Boolean(cmd.script) && Object.keys(cmd.annotations ?? {}).some((k) => k.startsWith(SLURM_ANNOTATION_PREFIX));
}

/** `0-15%4`, `1,3,5`, `0-10:2` → sorted indices and the limit. Throws naming the field on bad input. */
export function parseArray(spec: string): { indices: number[]; limit?: number } {
  const field = `annotation ${SLURM_ANNOTATION_PREFIX}array`;
  const parsed = parseArraySpec(spec);
  if (parsed.malformed) throw new Error(`${field}: "${spec}" is not like 0-15%4, 1,3,5 or 0-10:2`);
  const out = new Set<number>();
  for (const { text, range } of parsed.parts) {
    if (!range) throw new Error(`${field}: "${text}" in "${spec}" is not N, N-M or N-M:S`);
    if (emptyRange(range)) throw new Error(`${field}: "${text}" is an empty range`);
    for (let i = range.lo; i <= range.hi; i += range.step) {
      out.add(i);
      if (out.size > 10_000) throw new Error(`${field}: "${spec}" has more than 10000 tasks`);
    }
  }
  const limit = parsed.limitText;
  return { indices: [...out].sort((a, b) => a - b), ...(limit !== undefined ? { limit: Math.max(1, Number(limit)) } : {}) };
}

/** Kubernetes expands `$(VAR)` and reduces `$$` in env values and commands; `$$` everywhere keeps text literal. */
export const k8sLiteral = (s: string) => s.replace(/\$/g, '$$$$');
/** Text for a double-quoted shell word. */
const dq = (s: string) => s.replace(/[\\"$`]/g, (c) => `\\${c}`);
/** A run-time value (shell variable) with Slurm's zero padding. */
const shellVar = (name: string) => (width: number) => (width ? `$(printf '%0${width}d' "$${name}")` : `\${${name}}`);

/** Where the script's output goes: the pattern expanded as Slurm does, with run-time codes as shell variables. */
export function outputPath(pattern: string, cmd: Pick<DispatchCommand, 'jobId' | 'name' | 'annotations'>, workDir: string): string {
  const a = (k: SlurmAnnotationKey) => cmd.annotations[slurmAnnotationName(k)];
  const values = {
    j: dq(cmd.jobId),
    J: dq(cmd.jobId),
    A: dq(cmd.jobId),
    x: dq(a('jobName') ?? cmd.name),
    u: dq(a('submitUser') ?? 'nobody'),
    s: 'batch',
    t: '0',
    n: shellVar('SLURM_NODEID'),
    N: shellVar('SLURMD_NODENAME'),
    a: shellVar('SLURM_ARRAY_TASK_ID'),
  };
  return expandSlurmPattern(dq(inWorkDir(pattern, workDir)), values);
}

const posInt = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);

/** The pod parts of a login-node batch script (undefined for other dispatches). */
export function slurmScriptParts(cmd: DispatchCommand): SlurmPodParts | undefined {
  if (!isSlurmScript(cmd)) return undefined;
  const a = (k: SlurmAnnotationKey) => slurmAnnotation(cmd.annotations, k);
  const workDir = a('workDir') ?? '/tmp';
  const submitDir = a('submitDir') ?? workDir;
  const nodes = cmd.tasks;
  const tasksPerNode = posInt(a('ntasksPerNode')) ?? Math.max(1, Math.ceil((posInt(a('ntasks')) ?? nodes) / nodes));
  const ntasks = posInt(a('ntasks')) ?? tasksPerNode * nodes;
  const cpusOnNode = Math.max(1, Math.ceil(cmd.perTask.cpuMilli / 1000));
  const name = a('jobName') ?? cmd.name;
  const v = (n: string, value: string | undefined): V1EnvVar[] => (value === undefined ? [] : [{ name: n, value }]);
  const env: V1EnvVar[] = [
    { name: 'SLURMD_NODENAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
    { name: 'SLURM_NODEID', valueFrom: { fieldRef: { fieldPath: INDEX_FIELD } } },
    { name: 'SLURM_PROCID', value: '$(SLURM_NODEID)' },
    { name: 'SLURM_LOCALID', value: '0' },
    ...v('SLURM_JOB_ID', cmd.jobId),
    ...v('SLURM_JOBID', cmd.jobId),
    ...v('SLURM_JOB_NAME', name),
    ...v('SLURM_JOB_USER', a('submitUser')),
    ...v('SLURM_JOB_ACCOUNT', a('account')),
    ...v('SLURM_JOB_QOS', a('qos')),
    ...v('SLURM_SUBMIT_DIR', submitDir),
    ...v('SLURM_SUBMIT_HOST', a('submitHost')),
    ...v('SLURM_NTASKS', String(ntasks)),
    ...v('SLURM_NPROCS', String(ntasks)),
    ...v('SLURM_CPUS_PER_TASK', a('cpusPerTask')),
    ...v('SLURM_JOB_NUM_NODES', String(nodes)),
    ...v('SLURM_NNODES', String(nodes)),
    // A gang's other pods are not known before they are scheduled; the node list names this pod's node.
    ...v('SLURM_JOB_NODELIST', '$(SLURMD_NODENAME)'),
    ...v('SLURM_NODELIST', '$(SLURMD_NODENAME)'),
    ...v('SLURM_TASKS_PER_NODE', nodes > 1 ? `${tasksPerNode}(x${nodes})` : String(tasksPerNode)),
    ...v('SLURM_CPUS_ON_NODE', String(cpusOnNode)),
    ...v('SLURM_JOB_CPUS_PER_NODE', nodes > 1 ? `${cpusOnNode}(x${nodes})` : String(cpusOnNode)),
    ...v('SLURM_MEM_PER_NODE', a('memPerNodeMiB') ?? (a('memPerCpuMiB') ? undefined : String(Math.ceil(cmd.perTask.memoryMiB)))),
    ...v('SLURM_MEM_PER_CPU', a('memPerCpuMiB')),
    ...v('SLURM_JOB_PARTITION', a('partition')),
    ...v('SLURM_GPUS_ON_NODE', cmd.perTask.gpus > 0 ? String(cmd.perTask.gpus) : undefined),
    ...v('SLURM_EXPORT_ENV', a('export')),
  ];
  let array: SlurmPodParts['array'];
  const arraySpec = a('array');
  if (arraySpec) {
    const { indices, limit } = parseArray(arraySpec);
    array = { completions: indices.length, parallelism: Math.min(limit ?? indices.length, indices.length), indices };
    env.push(
      { name: 'SLURM_ARRAY_JOB_ID', value: cmd.jobId },
      { name: 'SLURM_ARRAY_TASK_COUNT', value: String(indices.length) },
      { name: 'SLURM_ARRAY_TASK_MIN', value: String(indices[0]) },
      { name: 'SLURM_ARRAY_TASK_MAX', value: String(indices.at(-1)) },
      { name: 'SLURM_ARRAY_TASK_STEP', value: String(arrayStep(indices)) },
    );
  }
  const out = outputPath(a('output') ?? defaultOutputPattern(Boolean(arraySpec)), cmd, workDir);
  const err = a('error') ? outputPath(a('error')!, cmd, workDir) : undefined;
  const truncate = a('openMode') !== 'append';
  const redirect = `exec 1${truncate ? '>' : '>>'}"${out}" ${err ? `2${truncate ? '>' : '>>'}"${err}"` : '2>&1'}`;
  const wrapper = [
    // Array tasks: the completion index picks this pod's array index (the list may have gaps: 1,3,5).
    ...(array ? [`set -- ${array.indices.join(' ')}; shift "$SLURM_NODEID"; SLURM_ARRAY_TASK_ID=$1; SLURM_NODEID=0; SLURM_PROCID=0; export SLURM_ARRAY_TASK_ID SLURM_NODEID SLURM_PROCID`] : []),
    // slurmd runs the script in the working directory, /tmp when it cannot enter it.
    `cd "${dq(workDir)}" 2>/dev/null || cd /tmp`,
    redirect,
    'f=$(mktemp) && printf "%s" "$MERIDIAN_SLURM_SCRIPT" > "$f" && chmod +x "$f" && unset MERIDIAN_SLURM_SCRIPT && exec "$f"',
  ].join('\n');
  env.push({ name: 'MERIDIAN_SLURM_SCRIPT', value: k8sLiteral(cmd.script!) });
  const dirs = [...new Set([workDir, submitDir, ...[a('output'), a('error')].filter((p): p is string => !!p && p.startsWith('/')).map((p) => p.replace(/\/[^/]*$/, '') || '/')])].filter((d) => !d.includes('%'));
  const volumes: V1Volume[] = dirs.map((d, i) => ({ name: `slurm-dir-${i}`, hostPath: { path: d, type: 'DirectoryOrCreate' } }));
  const volumeMounts: V1VolumeMount[] = dirs.map((d, i) => ({ name: `slurm-dir-${i}`, mountPath: d }));
  return { env, command: ['/bin/sh', '-c', k8sLiteral(wrapper)], volumes, volumeMounts, ...(array ? { array } : {}) };
}

/** SLURM_ARRAY_TASK_STEP: the common step of the indices (1 for irregular lists, as Slurm reports). */
function arrayStep(indices: number[]): number {
  if (indices.length < 2) return 1;
  const step = indices[1]! - indices[0]!;
  return indices.every((x, i) => i === 0 || x - indices[i - 1]! === step) ? step : 1;
}
