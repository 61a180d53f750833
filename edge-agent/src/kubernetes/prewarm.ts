// Prewarm: the hub asks the cluster to copy a dataset into its cache before a job placed here needs it. The agent
// runs one copy Job per dataset (labelled meridian.dev/prewarm) and reports `prewarm.status` events: Running with
// progress (elapsed / expected copy time), then Succeeded or Failed with the reason. The command answers at once
// (commands apply one at a time, a copy may take hours); a resent command adopts the existing Job.
import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { V1Job } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { AgentEvent, PrewarmCommand as PrewarmSchema } from '@meridian/protocol/agent-protocol';
import { LABELS } from '@meridian/protocol/agent-protocol';
import { errText, statusOf } from './informer.ts';
import { MANAGED_BY, labelValue } from './jobs.ts';
import type { Outcome } from './node-ops.ts';

type PrewarmCommand = z.infer<typeof PrewarmSchema>;

export const PREWARM_LABEL = 'meridian.dev/prewarm';
export const DATASET_ANNOTATION = 'meridian.dev/dataset';
export const EXPECTED_ANNOTATION = 'meridian.dev/prewarm-expected-seconds';
/** KWOK's stand-in for the copy: the simulated pod runs this long. */
export const KWOK_RUN_DURATION = 'kwok.meridian.dev/run-duration';

export interface PrewarmConfig {
  image: string;
  /** Runs with MERIDIAN_DATASET, MERIDIAN_DATASET_BYTES, MERIDIAN_DATASET_SOURCE and MERIDIAN_PREWARM_EXPECTED_SECONDS set. */
  command: string[];
  /** Expected copy throughput: the copy should take sizeBytes / bytesPerSec seconds. */
  bytesPerSec: number;
  /** Cap on the expected copy time (and on the simulated run on KWOK). */
  maxSeconds: number;
  pollMs: number;
}

const DEFAULT_COMMAND = ['sh', '-c', 'echo "prewarm $MERIDIAN_DATASET ($MERIDIAN_DATASET_BYTES bytes) from ${MERIDIAN_DATASET_SOURCE:-its home}"; sleep "$MERIDIAN_PREWARM_EXPECTED_SECONDS"'];

const positive = (name: string, example: string) =>
  z.coerce.number({ message: `${name} must be a number, e.g. ${example}` }).positive(`${name} must be > 0, e.g. ${example}`);
const EnvSchema = z.object({
  MERIDIAN_PREWARM_IMAGE: z.string().min(1, 'MERIDIAN_PREWARM_IMAGE must name a container image').default('busybox:1.36'),
  MERIDIAN_PREWARM_COMMAND: z
    .string()
    .optional()
    .transform((s, c) => {
      if (s === undefined || s === '') return DEFAULT_COMMAND;
      try {
        const v: unknown = JSON.parse(s);
        if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) return v as string[];
      } catch {
        /* reported below */
      }
      c.addIssue({ code: 'custom', message: 'MERIDIAN_PREWARM_COMMAND must be a JSON array of strings, e.g. ["rclone","copy","src:$(MERIDIAN_DATASET)","/cache"]' });
      return z.NEVER;
    }),
  MERIDIAN_PREWARM_BYTES_PER_SEC: positive('MERIDIAN_PREWARM_BYTES_PER_SEC', '1e9 for 1 GB/s').default(1e9),
  MERIDIAN_PREWARM_MAX_SECONDS: positive('MERIDIAN_PREWARM_MAX_SECONDS', '3600').default(3600),
  MERIDIAN_PREWARM_POLL_MS: positive('MERIDIAN_PREWARM_POLL_MS', '1000').default(1000),
});

/** The copy Job's settings from the agent's environment; a bad value throws naming the variable and the fix. */
export function prewarmConfig(env: NodeJS.ProcessEnv = process.env): PrewarmConfig {
  const r = EnvSchema.safeParse(env);
  if (!r.success) throw new Error(`prewarm settings: ${r.error.issues.map((i) => i.message).join('; ')}`);
  const e = r.data;
  return { image: e.MERIDIAN_PREWARM_IMAGE, command: e.MERIDIAN_PREWARM_COMMAND, bytesPerSec: e.MERIDIAN_PREWARM_BYTES_PER_SEC, maxSeconds: e.MERIDIAN_PREWARM_MAX_SECONDS, pollMs: e.MERIDIAN_PREWARM_POLL_MS };
}

/** Whole seconds the copy should take (at least 1, at most the cap). */
export function expectedSeconds(sizeBytes: number, cfg: Pick<PrewarmConfig, 'bytesPerSec' | 'maxSeconds'>): number {
  return Math.max(1, Math.min(Math.ceil(cfg.maxSeconds), Math.ceil(sizeBytes / cfg.bytesPerSec)));
}

/** `pw-<dataset>-<hash>`: DNS-1123, ≤ 63, one Job per dataset however it is spelled. */
export function prewarmJobName(dataset: string): string {
  const slug = dataset.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 45).replace(/-+$/, '');
  const hash = createHash('sha256').update(dataset).digest('hex').slice(0, 8);
  return slug ? `pw-${slug}-${hash}` : `pw-${hash}`;
}

export function copyJob(cmd: PrewarmCommand, namespace: string, cfg: PrewarmConfig): V1Job {
  const sec = expectedSeconds(cmd.sizeBytes, cfg);
  const labels = { [PREWARM_LABEL]: labelValue(cmd.dataset), [LABELS.managedBy]: MANAGED_BY };
  const annotations = { [DATASET_ANNOTATION]: cmd.dataset, [EXPECTED_ANNOTATION]: String(sec) };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: prewarmJobName(cmd.dataset), namespace, labels, annotations },
    spec: {
      backoffLimit: 2,
      ttlSecondsAfterFinished: 3600,
      template: {
        metadata: { labels, annotations: { ...annotations, [KWOK_RUN_DURATION]: `${sec}s` } },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'copy',
              image: cfg.image,
              command: cfg.command,
              env: [
                { name: 'MERIDIAN_DATASET', value: cmd.dataset },
                { name: 'MERIDIAN_DATASET_BYTES', value: String(cmd.sizeBytes) },
                { name: 'MERIDIAN_DATASET_SOURCE', value: cmd.source ?? '' },
                { name: 'MERIDIAN_PREWARM_EXPECTED_SECONDS', value: String(sec) },
              ],
              resources: { requests: { cpu: '100m', memory: '128Mi' } },
            },
          ],
        },
      },
    },
  };
}

type Emit = (event: AgentEvent) => void;
type Log = Pick<Logger, 'info' | 'warn' | 'debug'>;
type Progress = { phase: 'Running' | 'Succeeded' | 'Failed'; percent: number; reason?: string };

/** Where a copy Job stands: finished (from its conditions) or running with elapsed / expected. */
export function jobProgress(job: V1Job, now: number): Progress {
  const cond = (t: string) => job.status?.conditions?.find((c) => c.type === t && c.status === 'True');
  if (cond('Complete') || (job.status?.succeeded ?? 0) > 0) return { phase: 'Succeeded', percent: 100 };
  const failed = cond('Failed');
  if (failed) return { phase: 'Failed', percent: 0, reason: `copy Job ${job.metadata?.name} failed: ${failed.reason ?? ''}${failed.message ? ` (${failed.message})` : ''}`.trim() };
  const expected = Number(job.metadata?.annotations?.[EXPECTED_ANNOTATION] ?? 0) || 1;
  const started = job.status?.startTime ? new Date(job.status.startTime).getTime() : now;
  return { phase: 'Running', percent: Math.min(99, Math.max(0, Math.floor(((now - started) / 1000 / expected) * 100))) };
}

const watching = new Set<string>();
const KEEPALIVE_MS = 30_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/** Polls the Job until it finishes, emitting progress when it moves and the outcome once. */
async function watch(batch: k8s.BatchV1Api, namespace: string, name: string, dataset: string, emit: Emit, cfg: PrewarmConfig, log?: Log): Promise<void> {
  const key = `${namespace}/${name}`;
  if (watching.has(key)) return;
  watching.add(key);
  let last = -1;
  let lastAt = 0;
  try {
    for (;;) {
      let p: Progress;
      try {
        p = jobProgress(await batch.readNamespacedJob({ name, namespace }), Date.now());
      } catch (err) {
        if (statusOf(err) !== 404) {
          log?.debug({ job: name, err: errText(err) }, 'reading the copy Job failed; retrying');
          await sleep(cfg.pollMs);
          continue;
        }
        p = { phase: 'Failed', percent: 0, reason: `copy Job ${name} was deleted before it finished` };
      }
      // unchanged progress is still re-sent now and then: the hub asks again when a running copy goes silent
      if (p.phase !== 'Running' || p.percent !== last || Date.now() - lastAt >= KEEPALIVE_MS) {
        emit({ type: 'prewarm.status', dataset, ...p });
        lastAt = Date.now();
      }
      if (p.phase !== 'Running') {
        log?.info({ dataset, job: name, phase: p.phase, reason: p.reason }, 'prewarm finished');
        return;
      }
      last = p.percent;
      await sleep(cfg.pollMs);
    }
  } finally {
    watching.delete(key);
  }
}

/** Creates (or adopts) the copy Job and starts watching it; a Job that failed before is replaced (a retry). */
export async function startPrewarm(batch: k8s.BatchV1Api, namespace: string, emit: Emit, cmd: PrewarmCommand, log?: Log): Promise<Outcome> {
  const cfg = prewarmConfig();
  const body = copyJob(cmd, namespace, cfg);
  const name = body.metadata!.name!;
  for (let i = 0; ; i++) {
    try {
      await batch.createNamespacedJob({ namespace, body });
      break;
    } catch (err) {
      if (statusOf(err) !== 409) return { ok: false, error: `creating copy Job ${name}: ${errText(err)}` };
      const existing = await batch.readNamespacedJob({ name, namespace }).catch(() => null);
      if (!existing || existing.metadata?.deletionTimestamp || jobProgress(existing, Date.now()).phase === 'Failed') {
        if (i >= 20) return { ok: false, error: `copy Job ${name} from an earlier failed copy is still being deleted; try again later` };
        if (existing && !existing.metadata?.deletionTimestamp) await batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' }).catch(() => undefined);
        await sleep(500);
        continue;
      }
      break; // running or done: adopt it
    }
  }
  void watch(batch, namespace, name, cmd.dataset, emit, cfg, log);
  return { ok: true, detail: { job: name, expectedSeconds: expectedSeconds(cmd.sizeBytes, cfg) } };
}
