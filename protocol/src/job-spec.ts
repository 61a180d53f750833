// The user-facing job spec (YAML/JSON), shared by the REST API, the CLI, the portal and the
// login-node commands. Validated once, here, so every entry point gives the same field-named errors; every
// field is bounded by the one table in bounds.ts.
import { z } from 'zod';
import { type Bound, BOUNDS, CHECKPOINT_SIGNALS, ENV_NAME_PATTERN, LABEL_KEY_NAME_PATTERN, LABEL_KEY_PREFIX_PATTERN, LABEL_VALUE_PATTERN, rangeText, utf8Length, within } from './bounds.ts';
import { boundedBytes, boundedInt, boundedString, datasetName, nameString, safeString } from './fields.ts';
import { SLURM_ANNOTATION_PREFIX } from './slurm/annotations.ts';
import { arrayWithinBounds } from './slurm/array-spec.ts';

export const TIERS = ['realtime', 'batch', 'interruptible', 'filler'] as const;
export const JOB_STATES = ['Queued', 'Placed', 'Dispatched', 'Running', 'Succeeded', 'Failed', 'Cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const TERMINAL_STATES: readonly JobState[] = ['Succeeded', 'Failed', 'Cancelled'];

const name = nameString();

/**
 * A quantity written as a number (in `numberUnit`) or a string with a unit; both end as a whole number of the
 * bound's unit within the bound, or an error that says the allowed range. The string form is checked after
 * conversion, so "0m" and "99999999999999999999999Ti" are refused like 0 and 1e308.
 */
function quantity(o: {
  bound: Bound;
  numberMin: number;
  numberMax: number;
  numberUnit: string;
  fromNumber: (v: number) => number;
  pattern: RegExp;
  fromString: (m: RegExpExecArray) => number;
  hint: string;
  /** the range in the string form's units, after the converted range */
  also: string;
  /** the same after the number form's range */
  numberAlso: string;
}) {
  const range = `allowed ${o.numberMin.toLocaleString('en-US')}..${o.numberMax.toLocaleString('en-US')} ${o.numberUnit}${o.numberAlso}`;
  return z
    .union([z.number().min(o.numberMin, range).max(o.numberMax, range), safeString().max(64, `is too long; ${o.hint}`).regex(o.pattern, o.hint)], {
      error: (iss) => (typeof iss.input === 'number' ? `${iss.input} is not a finite number; ${range}` : `expected a number or a string; ${o.hint}${iss.input === undefined ? '' : ` (got ${typeof iss.input})`}`),
    })
    .transform((v, ctx) => {
      const raw = typeof v === 'number' ? v : o.fromString(o.pattern.exec(v.trim())!);
      const n = typeof v === 'number' ? o.fromNumber(v) : raw;
      if (!(raw > 0) || !within(o.bound, n)) {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is ${Number.isFinite(n) ? n.toLocaleString('en-US') : 'too large'} ${o.bound.unit}; allowed ${rangeText(o.bound)}${o.also}` });
        return z.NEVER;
      }
      return n;
    });
}

const MEMORY_UNITS: Record<string, number> = { '': 1 / (1024 * 1024), Ki: 1 / 1024, Mi: 1, Gi: 1024, Ti: 1024 * 1024, Pi: 1024 ** 3, K: 1e3 / 1048576, M: 1e6 / 1048576, G: 1e9 / 1048576, T: 1e12 / 1048576, P: 1e15 / 1048576 };
const MEMORY_MAX_MIB = BOUNDS.memoryMiB.max;

/** Memory as Kubernetes writes it ("512Mi", "16Gi", "1G"; a bare string is bytes) or a plain MiB number → MiB. */
export const memoryMiB = quantity({
  bound: BOUNDS.memoryMiB,
  numberMin: 1,
  numberMax: MEMORY_MAX_MIB,
  numberUnit: 'MiB',
  fromNumber: Math.ceil,
  pattern: /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P)?$/,
  fromString: (m) => Math.ceil(Number(m[1]) * MEMORY_UNITS[m[2] ?? '']!),
  hint: 'write e.g. 512Mi, 16Gi or a number of MiB',
  also: ' (1Mi..64Ti)',
  numberAlso: ' (1Mi..64Ti)',
});

/** CPU as cores (2, 0.5) or millicores ("500m") → millicores. */
export const cpuMilli = quantity({
  bound: BOUNDS.cpuMilli,
  numberMin: 0.001,
  numberMax: BOUNDS.cpuMilli.max / 1000,
  numberUnit: 'cores',
  fromNumber: (v) => Math.round(v * 1000),
  pattern: /^(\d+(?:\.\d+)?)(m)?$/,
  fromString: (m) => (m[2] ? Math.round(Number(m[1])) : Math.round(Number(m[1]) * 1000)),
  hint: 'write cores (2, 0.5) or millicores ("500m")',
  also: ' (0.001..1,024 cores)',
  numberAlso: ' (as a string: 1m..1024000m)',
});

const SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;
/** Durations like "90s", "10m", "2h", "1d" or seconds as a number → whole seconds (rounded up). */
export const durationSec = quantity({
  bound: BOUNDS.runtimeSec,
  numberMin: 1,
  numberMax: BOUNDS.runtimeSec.max,
  numberUnit: 'seconds',
  fromNumber: Math.ceil,
  pattern: /^(\d+(?:\.\d+)?)(s|m|h|d)$/,
  fromString: (m) => Math.ceil(Number(m[1]) * SECONDS[m[2] as keyof typeof SECONDS]),
  hint: 'write e.g. 90s, 10m, 2h or 1d',
  also: ' (1s..365d)',
  numberAlso: ' (1s..365d)',
});

const gpuModel = boundedString(BOUNDS.gpuModelLength);
/** GPU models as a list or the `V100M16|V100M32` form. */
const gpuModels = z
  .union([z.array(gpuModel).max(BOUNDS.gpuModels.max, `at most ${BOUNDS.gpuModels.max} models`), boundedString({ ...BOUNDS.gpuModelLength, max: BOUNDS.gpuModels.max * (BOUNDS.gpuModelLength.max + 1) })])
  .transform((v) => (Array.isArray(v) ? v : v.split('|')).map((s) => s.trim()).filter(Boolean))
  .pipe(z.array(gpuModel).max(BOUNDS.gpuModels.max, `at most ${BOUNDS.gpuModels.max} models`));

export const ResourcesSchema = z
  .object({
    cpu: cpuMilli.default(1000),
    memory: memoryMiB.default(1024),
    gpus: boundedInt(BOUNDS.gpus).default(0),
    milliGpu: boundedInt(BOUNDS.milliGpu).optional().describe('a fractional share of one GPU, 1..999; only with gpus: 0'),
    gpuModels: gpuModels.optional(),
    rdma: boundedInt(BOUNDS.rdma).default(0),
  })
  .strict()
  .refine((r) => !(r.milliGpu && r.gpus > 0), { message: 'set either gpus (whole GPUs) or milliGpu (a share of one), not both', path: ['milliGpu'] });

/** Environment-like maps (env, secrets): bounded names, values and total size. */
function envMap(nameHint: string) {
  return z
    .record(boundedString(BOUNDS.envNameLength).regex(ENV_NAME_PATTERN, nameHint), boundedBytes(BOUNDS.envValueBytes))
    .superRefine((env, ctx) => {
      const entries = Object.entries(env);
      if (entries.length > BOUNDS.envVars.max) ctx.addIssue({ code: 'custom', message: `${entries.length} variables; allowed ${rangeText(BOUNDS.envVars)}` });
      const bytes = entries.reduce((n, [k, v]) => n + utf8Length(k) + utf8Length(v) + 2, 0);
      if (bytes > BOUNDS.envBytes.max) ctx.addIssue({ code: 'custom', message: `${bytes.toLocaleString('en-US')} bytes in all; allowed ${rangeText(BOUNDS.envBytes)}` });
    });
}

const arg = boundedBytes(BOUNDS.argBytes);
const argList = z.array(arg).max(BOUNDS.commandArgs.max, `at most ${BOUNDS.commandArgs.max} arguments`);

export const WorkloadSchema = z
  .object({
    image: boundedString(BOUNDS.imageLength).optional(),
    command: argList.min(1).optional(),
    args: argList.optional(),
    env: envMap('environment variable names are letters, digits and _').optional(),
    /**
     * Write-only job secrets: environment variable name → value. Stored encrypted, never echoed by any API;
     * delivered to Kubernetes as a Secret and to Slurm through a file only the job's user can read.
     */
    secrets: envMap('secret names are environment variable names: letters, digits and _').optional(),
    /** A Slurm batch script; on Kubernetes it runs in `image` with the SLURM_* variables set. */
    script: boundedBytes(BOUNDS.scriptBytes).optional(),
  })
  .strict()
  .refine((w) => w.image || w.script, { message: 'give a container image (workload.image) or a batch script (workload.script)', path: ['image'] })
  .refine((w) => (w.command?.length ?? 0) + (w.args?.length ?? 0) <= BOUNDS.commandArgs.max, {
    message: `command and args together: at most ${BOUNDS.commandArgs.max} arguments`,
    path: ['args'],
  });

export const DatasetSchema = z
  .object({
    name: datasetName(),
    sizeBytes: boundedInt(BOUNDS.datasetSizeBytes).optional(),
  })
  .strict();

/** Kubernetes qualified names for label and annotation keys: `[prefix/]name`. */
const qualifiedKey = safeString().superRefine((k, ctx) => {
  const slash = k.indexOf('/');
  const prefix = slash >= 0 ? k.slice(0, slash) : undefined;
  const keyName = slash >= 0 ? k.slice(slash + 1) : k;
  const problem =
    prefix !== undefined && (prefix.length === 0 || prefix.length > BOUNDS.labelKeyPrefixLength.max || !LABEL_KEY_PREFIX_PATTERN.test(prefix))
      ? `its prefix must be a DNS subdomain of at most ${BOUNDS.labelKeyPrefixLength.max} characters (e.g. example.com/)`
      : keyName.length === 0 || keyName.length > BOUNDS.labelKeyNameLength.max || !LABEL_KEY_NAME_PATTERN.test(keyName)
        ? `its name must be 1..${BOUNDS.labelKeyNameLength.max} letters, digits, "-", "_" or ".", starting and ending with a letter or digit`
        : undefined;
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const labelValue = safeString()
  .max(BOUNDS.labelValueLength.max, `label values are at most ${BOUNDS.labelValueLength.max} characters (Kubernetes); put longer text in annotations`)
  .regex(LABEL_VALUE_PATTERN, 'label values are letters, digits, "-", "_" and ".", starting and ending with a letter or digit');

const ARRAY_KEY = `${SLURM_ANNOTATION_PREFIX}array`;
/** The longest value slurmctld stores for each sbatch setting the annotations carry (job_mgr.c); 1024 otherwise. */
const SLURM_VALUE_MAX: Partial<Record<string, number>> = {
  array: BOUNDS.arraySpecLength.max,
  dependency: 128 * 1024,
  output: BOUNDS.slurmPathLength.max,
  error: BOUNDS.slurmPathLength.max,
  workDir: BOUNDS.slurmPathLength.max,
  submitDir: BOUNDS.slurmPathLength.max,
  command: BOUNDS.slurmPathLength.max,
};

const annotations = z.record(qualifiedKey, safeString()).superRefine((a, ctx) => {
  const bytes = Object.entries(a).reduce((n, [k, v]) => n + utf8Length(k) + utf8Length(v), 0);
  if (bytes > BOUNDS.annotationsBytes.max) ctx.addIssue({ code: 'custom', message: `${bytes.toLocaleString('en-US')} bytes in all; allowed ${rangeText(BOUNDS.annotationsBytes)}` });
  // sbatch settings: what slurmctld would refuse is refused here, before the job waits for a Slurm cluster.
  for (const [k, v] of Object.entries(a)) {
    if (!k.startsWith(SLURM_ANNOTATION_PREFIX)) continue;
    const max = SLURM_VALUE_MAX[k.slice(SLURM_ANNOTATION_PREFIX.length)] ?? BOUNDS.slurmTextLength.max;
    if (utf8Length(v) > max) ctx.addIssue({ code: 'custom', path: [k], message: `Slurm stores at most ${max.toLocaleString('en-US')} bytes here` });
  }
  // A job array becomes one pod or Slurm task per index: the same limit as Slurm's MaxArraySize.
  const spec = a[ARRAY_KEY];
  if (spec !== undefined && !arrayWithinBounds(spec))
    ctx.addIssue({ code: 'custom', path: [ARRAY_KEY], message: `Invalid job array specification: write e.g. 0-15, 0,6,16-32 or 0-15:4%2 with indices 0..${BOUNDS.arraySize.max - 1}` });
});

const signalHint = `a signal a job can trap: one of ${CHECKPOINT_SIGNALS.join(', ')}`;

export const JobSpecSchema = z
  .object({
    apiVersion: z.literal('meridian.dev/v1').default('meridian.dev/v1'),
    kind: z.literal('Job').default('Job'),
    name,
    project: name.default('default'),
    tier: z.enum(TIERS).default('batch'),
    priority: boundedInt(BOUNDS.priority).default(0),
    tasks: boundedInt(BOUNDS.tasks).default(1).describe('gang size: tasks start all together or not at all'),
    resources: ResourcesSchema.default({ cpu: 1000, memory: 1024, gpus: 0, rdma: 0 }),
    workload: WorkloadSchema,
    datasets: z.array(DatasetSchema).max(BOUNDS.datasets.max, `at most ${BOUNDS.datasets.max} datasets`).default([]),
    placement: z
      .object({
        regions: z.array(name).max(BOUNDS.placementTargets.max, `at most ${BOUNDS.placementTargets.max} regions`).optional(),
        clusters: z.array(name).max(BOUNDS.placementTargets.max, `at most ${BOUNDS.placementTargets.max} clusters`).optional(),
        policy: z.enum(['inventory-first', 'cost-first', 'locality-first', 'balanced']).optional(),
      })
      .strict()
      .default({}),
    maxRuntime: durationSec.default(24 * 3600),
    expectedRuntime: durationSec.optional(),
    checkpoint: z
      .object({
        signal: z.enum(CHECKPOINT_SIGNALS, { error: (iss) => `${iss.input === undefined ? 'missing' : `${JSON.stringify(iss.input)} is not`} ${signalHint}` }).default('SIGUSR1'),
        graceSeconds: boundedInt(BOUNDS.checkpointGraceSec).default(60),
      })
      .strict()
      .optional(),
    /** Copied onto the pods / Slurm comment; `kwok.meridian.dev/*` keys script simulated runs. */
    annotations: annotations.default({}),
    labels: z
      .record(qualifiedKey, labelValue)
      .refine((l) => Object.keys(l).length <= BOUNDS.labels.max, { message: `too many labels; allowed ${rangeText(BOUNDS.labels)}` })
      .default({}),
  })
  .strict()
  .refine((s) => s.expectedRuntime === undefined || s.expectedRuntime <= s.maxRuntime, {
    message: 'expectedRuntime is longer than maxRuntime; shorten it or raise maxRuntime (the job is killed at maxRuntime)',
    path: ['expectedRuntime'],
  });

export type JobSpecInput = z.input<typeof JobSpecSchema>;
export type JobSpec = z.output<typeof JobSpecSchema>;

export interface FieldError {
  path: string;
  message: string;
}

function issueMessage(i: z.core.$ZodIssue): string {
  if (i.code === 'unrecognized_keys') return `unknown field(s) ${i.keys.map((k) => `"${k}"`).join(', ')}; remove them or check the spelling`;
  if (i.code === 'invalid_key') return `the key ${JSON.stringify(String(i.path.at(-1) ?? ''))} is not allowed: ${i.issues.map((x) => x.message).join('; ')}`;
  return i.message;
}

/** Zod issues → `[{path: "resources.gpus", message}]`, the shape every API error uses in `details`. */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((i) => ({
    path: i.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[') || '(root)',
    message: issueMessage(i),
  }));
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

export function parseJobSpec(input: unknown): ParseResult<JobSpec> {
  const r = JobSpecSchema.safeParse(input);
  return r.success ? { ok: true, value: r.data } : { ok: false, errors: fieldErrors(r.error) };
}
