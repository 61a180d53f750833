// The user-facing job spec (YAML/JSON), shared by the REST API, the CLI, the portal and the
// login-node commands. Validated once, here, so every entry point gives the same field-named errors.
import { z } from 'zod';

export const TIERS = ['realtime', 'batch', 'interruptible', 'filler'] as const;
export const JOB_STATES = ['Queued', 'Placed', 'Dispatched', 'Running', 'Succeeded', 'Failed', 'Cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const TERMINAL_STATES: readonly JobState[] = ['Succeeded', 'Failed', 'Cancelled'];

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const name = z
  .string()
  .min(1)
  .max(63)
  .regex(DNS_LABEL, 'use lowercase letters, digits and "-", starting and ending with a letter or digit');

const UNITS: Record<string, number> = { '': 1 / (1024 * 1024), Ki: 1 / 1024, Mi: 1, Gi: 1024, Ti: 1024 * 1024, K: 1e3 / 1048576, M: 1e6 / 1048576, G: 1e9 / 1048576, T: 1e12 / 1048576 };
/** Memory as Kubernetes writes it ("512Mi", "16Gi", "1G") or a plain MiB number → MiB. */
export const memoryMiB = z.union([z.number().positive(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$/.exec(v.trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a memory size; write e.g. 512Mi, 16Gi or a number of MiB` });
    return z.NEVER;
  }
  return Math.ceil(Number(m[1]) * UNITS[m[2] ?? '']!);
});

/** CPU as cores (2, 0.5) or millicores ("500m") → millicores. */
export const cpuMilli = z.union([z.number().positive(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return Math.round(v * 1000);
  const m = /^(\d+(?:\.\d+)?)(m)?$/.exec(v.trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a CPU amount; write cores (2, 0.5) or millicores ("500m")` });
    return z.NEVER;
  }
  return m[2] ? Math.round(Number(m[1])) : Math.round(Number(m[1]) * 1000);
});

/** Durations like "90s", "10m", "2h", "1d" or seconds as a number → seconds. */
export const durationSec = z.union([z.number().positive(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(v.trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration; write e.g. 90s, 10m, 2h or 1d` });
    return z.NEVER;
  }
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
});

/** GPU models as a list or the `V100M16|V100M32` form. */
const gpuModels = z
  .union([z.array(z.string().min(1)), z.string()])
  .transform((v) => (Array.isArray(v) ? v : v.split('|')).map((s) => s.trim()).filter(Boolean));

export const ResourcesSchema = z
  .object({
    cpu: cpuMilli.default(1000),
    memory: memoryMiB.default(1024),
    gpus: z.number().int().min(0).max(64).default(0),
    milliGpu: z.number().int().min(1).max(999).optional().describe('a fractional share of one GPU, 1..999; only with gpus: 0'),
    gpuModels: gpuModels.optional(),
    rdma: z.number().int().min(0).max(16).default(0),
  })
  .strict()
  .refine((r) => !(r.milliGpu && r.gpus > 0), { message: 'set either gpus (whole GPUs) or milliGpu (a share of one), not both', path: ['milliGpu'] });

export const WorkloadSchema = z
  .object({
    image: z.string().min(1).optional(),
    command: z.array(z.string()).min(1).optional(),
    args: z.array(z.string()).optional(),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are letters, digits and _'), z.string()).optional(),
    /**
     * Write-only job secrets: environment variable name → value. Stored encrypted, never echoed by any API;
     * delivered to Kubernetes as a Secret and to Slurm through a file only the job's user can read.
     */
    secrets: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'secret names are environment variable names: letters, digits and _'), z.string()).optional(),
    /** A Slurm batch script; on Kubernetes it runs in `image` with the SLURM_* variables set. */
    script: z.string().min(1).optional(),
  })
  .strict()
  .refine((w) => w.image || w.script, { message: 'give a container image (workload.image) or a batch script (workload.script)', path: ['image'] });

export const DatasetSchema = z
  .object({
    name: z.string().min(1),
    sizeBytes: z.number().int().nonnegative().optional(),
  })
  .strict();

export const JobSpecSchema = z
  .object({
    apiVersion: z.literal('meridian.dev/v1').default('meridian.dev/v1'),
    kind: z.literal('Job').default('Job'),
    name,
    project: name.default('default'),
    tier: z.enum(TIERS).default('batch'),
    priority: z.number().int().min(-1000).max(1000).default(0),
    tasks: z.number().int().min(1).max(4096).default(1).describe('gang size: tasks start all together or not at all'),
    resources: ResourcesSchema.default({ cpu: 1000, memory: 1024, gpus: 0, rdma: 0 }),
    workload: WorkloadSchema,
    datasets: z.array(DatasetSchema).max(64).default([]),
    placement: z
      .object({
        regions: z.array(z.string().min(1)).optional(),
        clusters: z.array(z.string().min(1)).optional(),
        policy: z.enum(['inventory-first', 'cost-first', 'locality-first', 'balanced']).optional(),
      })
      .strict()
      .default({}),
    maxRuntime: durationSec.default(24 * 3600),
    expectedRuntime: durationSec.optional(),
    checkpoint: z
      .object({ signal: z.string().regex(/^SIG[A-Z0-9]+$/, 'a signal name such as SIGUSR1').default('SIGUSR1'), graceSeconds: z.number().int().min(0).max(3600).default(60) })
      .strict()
      .optional(),
    /** Copied onto the pods / Slurm comment; `kwok.meridian.dev/*` keys script simulated runs. */
    annotations: z.record(z.string(), z.string()).default({}),
    labels: z.record(z.string(), z.string()).default({}),
  })
  .strict();

export type JobSpecInput = z.input<typeof JobSpecSchema>;
export type JobSpec = z.output<typeof JobSpecSchema>;

export interface FieldError {
  path: string;
  message: string;
}

/** Zod issues → `[{path: "resources.gpus", message}]`, the shape every API error uses in `details`. */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((i) => ({
    path: i.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[') || '(root)',
    message: i.code === 'unrecognized_keys' ? `unknown field(s) ${i.keys.map((k) => `"${k}"`).join(', ')}; remove them or check the spelling` : i.message,
  }));
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

export function parseJobSpec(input: unknown): ParseResult<JobSpec> {
  const r = JobSpecSchema.safeParse(input);
  return r.success ? { ok: true, value: r.data } : { ok: false, errors: fieldErrors(r.error) };
}
