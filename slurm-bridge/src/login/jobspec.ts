// sbatch options → Meridian's job spec (protocol/src/job-spec.ts). The gang shape and resources are what
// the hub schedules on; every Slurm-only detail rides in `slurm.meridian.dev/*` annotations, which the hub
// copies into the dispatch (`DispatchCommand.annotations`) and the Slurm driver turns back into sbatch options.
import { basename, resolve as resolvePath } from 'node:path';
import type { JobSpecInput } from '@meridian/protocol/job-spec';
import type { SbatchOptions } from './sbatch-options.ts';
import { SLURM_ANNOTATION_PREFIX, type SlurmAnnotationKey } from '@meridian/protocol/slurm/annotations';
import { DEFAULT_SECRET_ENV_PATTERNS, secretEnvPatterns, secretMatcher, type SecretTest } from './secret-env.ts';

export interface SubmitContext {
  cwd: string;
  env: Record<string, string | undefined>;
  user: string;
  host: string;
  /** Script path as given (undefined for stdin / --wrap). */
  scriptPath?: string;
  /**
   * The Meridian project: the one the account table maps --account to (accounts.ts), else MERIDIAN_PROJECT,
   * else "default". --account itself is a Slurm account, never read as a project name.
   */
  project?: string;
  /** Told the names of credentials the --export list named and that were left out (never their values). */
  onDropped?: (names: string[]) => void;
}

/** A DNS label for the hub's `name` (Slurm names are free text; the original goes in an annotation). */
export function dnsLabel(s: string): string {
  const t = s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/g, '');
  return t || 'job';
}

/** Login-session variables never sent with a job (credentials are matched by the site's patterns, secret-env.ts). */
const NEVER_EXPORT = /^(SSH_.*|SLURM_CONF|_|OLDPWD|PWD|SHLVL|TERM|LS_COLORS|DISPLAY|XAUTHORITY|MAIL)$/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const KEYWORDS = new Set(['ALL', 'NONE', 'NIL']);
const defaultSecret = secretMatcher(DEFAULT_SECRET_ENV_PATTERNS);

export interface ExportPlan {
  env: Record<string, string>;
  /** Credentials the --export list named (alone or as NAME=value), left out: the user is told. */
  dropped: string[];
}

/**
 * --export semantics: ALL (default), NONE/NIL, `ALL,A=1`, `A,B=2` (only those). A credential (`isSecret`) is
 * never exported: silently left out of ALL, and dropped with a warning when the list names it. A variable whose
 * value holds a credential's value (`FOO=$MERIDIAN_TOKEN`) is a credential too; SBATCH_EXPORT travels as names only.
 */
export function exportPlan(spec: string | undefined, env: Record<string, string | undefined>, isSecret: SecretTest = defaultSecret): ExportPlan {
  const secretValues = Object.entries(env).flatMap(([k, v]) => (v !== undefined && v.length >= 8 && isSecret(k) ? [v] : []));
  const leaks = (v: string) => secretValues.some((sv) => v.includes(sv));
  const all = () =>
    Object.fromEntries(
      Object.entries(env)
        .filter((e): e is [string, string] => e[1] !== undefined && NAME.test(e[0]) && !isSecret(e[0]) && !NEVER_EXPORT.test(e[0]) && !leaks(e[1]))
        .map(([k, v]) => [k, k === 'SBATCH_EXPORT' ? exportAnnotation(v, isSecret)! : v]),
    );
  const s = spec ?? 'ALL';
  if (s === 'NONE' || s === 'NIL') return { env: {}, dropped: [] };
  const parts = s.split(',').filter(Boolean);
  const out: Record<string, string> = parts[0] === 'ALL' ? all() : {};
  const dropped = new Set<string>();
  for (const p of parts) {
    if (KEYWORDS.has(p)) continue;
    const eq = p.indexOf('=');
    const k = eq > 0 ? p.slice(0, eq) : p;
    const v = eq > 0 ? p.slice(eq + 1) : env[k];
    if (!NAME.test(k) || v === undefined) continue;
    if (isSecret(k) || leaks(v)) {
      dropped.add(k);
      delete out[k];
    } else out[k] = k === 'SBATCH_EXPORT' ? exportAnnotation(v, isSecret)! : v;
  }
  return { env: out, dropped: [...dropped] };
}

export function exportedEnv(spec: string | undefined, env: Record<string, string | undefined>, isSecret: SecretTest = defaultSecret): Record<string, string> {
  return exportPlan(spec, env, isSecret).env;
}

/**
 * The --export value as the job's annotation (which every project viewer reads): names only, credentials
 * dropped; values travel in the job's environment, which only its owner sees.
 */
export function exportAnnotation(spec: string | undefined, isSecret: SecretTest = defaultSecret): string | undefined {
  if (spec === undefined) return undefined;
  const names = spec
    .split(',')
    .filter(Boolean)
    .map((p) => (KEYWORDS.has(p) ? p : p.slice(0, p.indexOf('=') > 0 ? p.indexOf('=') : undefined)))
    .filter((k) => KEYWORDS.has(k) || (NAME.test(k) && !isSecret(k)));
  return names.length ? names.join(',') : 'NONE';
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
  const isSecret = secretMatcher(secretEnvPatterns(ctx.env));
  const exported = exportPlan(o.export, ctx.env, isSecret);
  if (exported.dropped.length) ctx.onDropped?.(exported.dropped);
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
  put('export', exportAnnotation(o.export, isSecret));
  put('openMode', o.openMode);
  put('submitHost', ctx.host);
  put('submitUser', ctx.user);
  put('command', o.wrap !== undefined ? undefined : ctx.scriptPath);
  const project = ctx.project ?? 'default';
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
    workload: { script, env: exported.env },
    ...(o.timeSec ? { maxRuntime: o.timeSec } : {}),
    // -M all: any cluster, as sbatch picks the one that starts the job first
    ...(o.clusters && o.clusters !== 'all' ? { placement: { clusters: o.clusters.split(',') } } : {}),
    ...(o.nice !== undefined ? { priority: Math.max(-1000, Math.min(1000, -o.nice)) } : {}),
    annotations: a,
  };
  return spec;
}
