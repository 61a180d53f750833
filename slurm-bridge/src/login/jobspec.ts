// sbatch options → Meridian's job spec (protocol/src/job-spec.ts). The gang shape and resources are what
// the hub schedules on; every Slurm-only detail rides in `slurm.meridian.dev/*` annotations, which the hub
// copies into the dispatch (`DispatchCommand.annotations`) and the Slurm driver turns back into sbatch options.
import { basename, resolve as resolvePath } from 'node:path';
import type { JobSpecInput } from '@meridian/protocol/job-spec';
import type { SbatchOptions } from './sbatch-options.ts';
import { SLURM_ANNOTATION_PREFIX, type SlurmAnnotationKey } from '@meridian/protocol/slurm/annotations';

export interface SubmitContext {
  cwd: string;
  env: Record<string, string | undefined>;
  user: string;
  host: string;
  /** Script path as given (undefined for stdin / --wrap). */
  scriptPath?: string;
  /** Meridian project when --account is absent (MERIDIAN_PROJECT), else "default". */
  project?: string;
}

/** A DNS label for the hub's `name` (Slurm names are free text; the original goes in an annotation). */
export function dnsLabel(s: string): string {
  const t = s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/g, '');
  return t || 'job';
}

/** Variables never sent with a job (credentials, the login session). */
const NEVER_EXPORT = /^(MERIDIAN_TOKEN|SSH_.*|SLURM_CONF|_|OLDPWD|PWD|SHLVL|TERM|LS_COLORS|DISPLAY|XAUTHORITY|MAIL)$/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** --export semantics: ALL (default), NONE/NIL, `ALL,A=1`, `A,B=2` (only those). */
export function exportedEnv(spec: string | undefined, env: Record<string, string | undefined>): Record<string, string> {
  const all = () => Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && NAME.test(e[0]) && !NEVER_EXPORT.test(e[0])));
  const s = spec ?? 'ALL';
  if (s === 'NONE' || s === 'NIL') return {};
  const parts = s.split(',').filter(Boolean);
  const out: Record<string, string> = parts[0] === 'ALL' ? all() : {};
  for (const p of parts) {
    if (p === 'ALL' || p === 'NONE' || p === 'NIL') continue;
    const eq = p.indexOf('=');
    if (eq > 0) {
      const k = p.slice(0, eq);
      if (NAME.test(k)) out[k] = p.slice(eq + 1);
    } else if (NAME.test(p) && env[p] !== undefined) out[p] = env[p]!;
  }
  return out;
}

function gpuCount(v: string | undefined): { count: number; type?: string } | undefined {
  if (!v) return undefined;
  const m = /^(?:([A-Za-z0-9_.-]+):)?(\d+)$/.exec(v);
  return m ? { count: Number(m[2]), type: m[1] } : undefined;
}

/** GPUs per node and type from --gres / --gpus-per-node / --gpus / --gpus-per-task. */
export function gpusPerNode(o: SbatchOptions, nodes: number, tasksPerNode: number): { count: number; type?: string } {
  if (o.gres) {
    for (const g of o.gres.split(',')) {
      const m = /^(?:gres[:/])?gpu(?::([A-Za-z][\w.-]*))?(?::(\d+))?$/.exec(g);
      if (m) return { count: m[2] ? Number(m[2]) : 1, type: m[1] };
    }
  }
  const pn = gpuCount(o.gpusPerNode);
  if (pn) return pn;
  const pt = gpuCount(o.gpusPerTask);
  if (pt) return { count: pt.count * tasksPerNode, type: pt.type };
  const total = gpuCount(o.gpus);
  if (total) return { count: Math.ceil(total.count / nodes), type: total.type };
  return { count: 0 };
}

export function defaultJobName(o: SbatchOptions, scriptPath: string | undefined): string {
  if (o.jobName !== undefined) return o.jobName;
  if (o.wrap !== undefined) return 'wrap';
  return scriptPath ? basename(scriptPath) : 'sbatch';
}

export function jobSpecFor(o: SbatchOptions, script: string, ctx: SubmitContext): JobSpecInput {
  const nodes = o.nodesMin ?? 1;
  const tasksPerNode = o.ntasksPerNode ?? Math.max(1, Math.ceil((o.ntasks ?? nodes) / nodes));
  const cpusPerNode = tasksPerNode * (o.cpusPerTask ?? 1);
  const gpus = gpusPerNode(o, nodes, tasksPerNode);
  const memory = o.memMiB ?? (o.memPerCpuMiB !== undefined ? o.memPerCpuMiB * cpusPerNode : o.memPerGpuMiB !== undefined && gpus.count ? o.memPerGpuMiB * gpus.count : undefined);
  const name = defaultJobName(o, ctx.scriptPath);
  const a: Record<string, string> = {};
  const put = (k: SlurmAnnotationKey, v: string | number | boolean | undefined) => {
    if (v !== undefined && v !== '') a[`${SLURM_ANNOTATION_PREFIX}${k}`] = String(v);
  };
  put('jobName', name);
  put('partition', o.partition);
  put('account', o.account);
  put('qos', o.qos);
  put('nodes', o.nodesMin);
  put('ntasks', o.ntasks);
  put('ntasksPerNode', o.ntasksPerNode);
  put('cpusPerTask', o.cpusPerTask);
  put('memPerNodeMiB', o.memMiB);
  put('memPerCpuMiB', o.memPerCpuMiB);
  put('gres', o.gres ?? (gpus.count ? `gpu:${gpus.type ? `${gpus.type}:` : ''}${gpus.count}` : undefined));
  put('timeLimitMin', o.timeSec ? Math.ceil(o.timeSec / 60) : undefined);
  put('output', o.output);
  put('error', o.error);
  put('workDir', o.chdir ? resolvePath(ctx.cwd, o.chdir) : ctx.cwd);
  put('submitDir', ctx.cwd);
  put('array', o.array);
  put('dependency', o.dependency);
  put('hold', o.hold);
  put('constraint', o.constraint);
  put('exclusive', o.exclusive !== undefined ? true : undefined);
  put('requeue', o.requeue);
  put('begin', o.begin);
  put('signal', o.signal);
  put('comment', o.comment);
  put('mailType', o.mailType?.join(','));
  put('mailUser', o.mailUser);
  put('nodelist', o.nodelist);
  put('export', o.export);
  put('openMode', o.openMode);
  put('submitHost', ctx.host);
  put('submitUser', ctx.user);
  put('command', o.wrap !== undefined ? undefined : ctx.scriptPath);
  const project = o.account ? dnsLabel(o.account) : (ctx.project ?? 'default');
  const spec: JobSpecInput = {
    name: dnsLabel(name),
    project,
    tasks: nodes,
    resources: {
      cpu: cpusPerNode,
      ...(memory !== undefined ? { memory } : {}),
      gpus: gpus.count,
      ...(gpus.type ? { gpuModels: [gpus.type] } : {}),
    },
    workload: { script, env: exportedEnv(o.export, ctx.env) },
    ...(o.timeSec ? { maxRuntime: o.timeSec } : {}),
    ...(o.clusters ? { placement: { clusters: o.clusters.split(',') } } : {}),
    ...(o.nice !== undefined ? { priority: Math.max(-1000, Math.min(1000, -o.nice)) } : {}),
    annotations: a,
  };
  return spec;
}
