// Prewarm on Slurm: the hub asks the cluster to copy a dataset into its cache before a job placed here needs it.
// The agent submits one small batch job per dataset (name meridian-prewarm-<dataset>, comment
// meridian-prewarm:<dataset>), answers the command at once (a copy may take hours; commands apply one at a
// time) and follows the job through the transport, sending `prewarm.status` events: Running with elapsed /
// expected, then Succeeded or Failed with Slurm's state and exit code. A resent command adopts the job.
import type { AgentEvent } from '@meridian/protocol/agent-protocol';
import { TERMINAL_JOB_STATES, type SlurmJob, type SlurmTransport, type SubmitRequest } from '@meridian/slurm-bridge/types';

export const PREWARM_COMMENT_PREFIX = 'meridian-prewarm:';

export interface PrewarmInput {
  dataset: string;
  sizeBytes: number;
  source?: string;
}

export interface SlurmPrewarmConfig {
  partition?: string;
  /** Slurm time limit in minutes; undefined = twice the expected copy time plus 5 minutes. */
  timeLimitMin?: number;
  /** Shell text run by bash in the batch script, with the MERIDIAN_* variables of `prewarmScript` set. */
  command: string;
  cacheDir: string;
  bytesPerSec: number;
  maxSeconds: number;
  pollMs: number;
}

/**
 * Copies `source` when it is a path on the cluster (the hub usually names a cluster or region, which a plain
 * `cp` cannot reach: then it only waits the expected time). The copy lands beside the target and is renamed
 * into place, so a half-done copy never looks like a cached dataset.
 */
export const DEFAULT_PREWARM_COMMAND = [
  'echo "prewarm $MERIDIAN_DATASET ($MERIDIAN_DATASET_BYTES bytes) from ${MERIDIAN_DATASET_SOURCE:-its home} into $MERIDIAN_PREWARM_TARGET"',
  'if [[ "$MERIDIAN_DATASET_SOURCE" == /* ]]; then',
  '  mkdir -p "$MERIDIAN_PREWARM_CACHE_DIR" && rm -rf "$MERIDIAN_PREWARM_TARGET.part"',
  '  cp -a -- "$MERIDIAN_DATASET_SOURCE" "$MERIDIAN_PREWARM_TARGET.part"',
  '  rm -rf "$MERIDIAN_PREWARM_TARGET" && mv "$MERIDIAN_PREWARM_TARGET.part" "$MERIDIAN_PREWARM_TARGET"',
  'else',
  '  sleep "$MERIDIAN_PREWARM_EXPECTED_SECONDS"',
  'fi',
].join('\n');

function positive(env: NodeJS.ProcessEnv, name: string, example: string, dflt: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`prewarm settings: ${name} must be a number > 0, e.g. ${example} (got ${JSON.stringify(raw)})`);
  return n;
}

/** The copy job's settings from the agent's environment; a bad value throws naming the variable and the fix. */
export function slurmPrewarmConfig(workDir: string, env: NodeJS.ProcessEnv = process.env): SlurmPrewarmConfig {
  const cacheDir = env.MERIDIAN_PREWARM_CACHE_DIR || `${workDir.replace(/\/+$/, '')}/.meridian-cache`;
  if (!cacheDir.startsWith('/')) throw new Error(`prewarm settings: MERIDIAN_PREWARM_CACHE_DIR must be an absolute path on the cluster, e.g. /scratch/cache (got ${JSON.stringify(cacheDir)})`);
  const partition = env.MERIDIAN_PREWARM_PARTITION?.trim();
  if (partition && !/^[\w.-]+$/.test(partition)) throw new Error(`prewarm settings: MERIDIAN_PREWARM_PARTITION must be one partition name, e.g. io (got ${JSON.stringify(partition)})`);
  const limit = env.MERIDIAN_PREWARM_TIME_LIMIT_MIN ? Math.ceil(positive(env, 'MERIDIAN_PREWARM_TIME_LIMIT_MIN', '120', 0)) : undefined;
  return {
    ...(partition ? { partition } : {}),
    ...(limit ? { timeLimitMin: limit } : {}),
    command: env.MERIDIAN_PREWARM_COMMAND?.trim() || DEFAULT_PREWARM_COMMAND,
    cacheDir,
    bytesPerSec: positive(env, 'MERIDIAN_PREWARM_BYTES_PER_SEC', '1e9 for 1 GB/s', 1e9),
    maxSeconds: positive(env, 'MERIDIAN_PREWARM_MAX_SECONDS', '3600', 3600),
    pollMs: positive(env, 'MERIDIAN_PREWARM_POLL_MS', '1000', 1000),
  };
}

/** Whole seconds the copy should take (at least 1, at most the cap). */
export function expectedSeconds(sizeBytes: number, cfg: Pick<SlurmPrewarmConfig, 'bytesPerSec' | 'maxSeconds'>): number {
  return Math.max(1, Math.min(Math.ceil(cfg.maxSeconds), Math.ceil(sizeBytes / cfg.bytesPerSec)));
}

/** A dataset name as a job-name and file-name part: letters, digits, `.`, `_`, `-` only. */
export function datasetSlug(dataset: string): string {
  return dataset.replace(/[^\w.-]+/g, '-').replace(/^[-.]+|-+$/g, '') || 'dataset';
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export function prewarmSubmitRequest(cmd: PrewarmInput, cfg: SlurmPrewarmConfig, workDir: string): SubmitRequest {
  if (!cmd.dataset.trim()) throw new Error('prewarm: dataset must name a dataset');
  if (!Number.isFinite(cmd.sizeBytes) || cmd.sizeBytes < 0) throw new Error(`prewarm ${cmd.dataset}: sizeBytes must be a number ≥ 0`);
  const sec = expectedSeconds(cmd.sizeBytes, cfg);
  const slug = datasetSlug(cmd.dataset);
  // the variables live in the script, not the submit environment: REST replaces the whole environment
  const vars: Record<string, string> = {
    MERIDIAN_DATASET: cmd.dataset,
    MERIDIAN_DATASET_BYTES: String(cmd.sizeBytes),
    MERIDIAN_DATASET_SOURCE: cmd.source ?? '',
    MERIDIAN_PREWARM_EXPECTED_SECONDS: String(sec),
    MERIDIAN_PREWARM_CACHE_DIR: cfg.cacheDir,
    MERIDIAN_PREWARM_TARGET: `${cfg.cacheDir}/${slug}`,
  };
  const exports = Object.entries(vars).map(([k, v]) => `export ${k}=${shq(v)}`);
  const script = ['#!/bin/bash', 'set -eo pipefail', ...exports, cfg.command, ''].join('\n');
  return {
    script,
    name: `meridian-prewarm-${slug}`,
    comment: `${PREWARM_COMMENT_PREFIX}${cmd.dataset}`,
    ...(cfg.partition ? { partition: cfg.partition } : {}),
    timeLimitMin: cfg.timeLimitMin ?? Math.ceil((2 * sec) / 60) + 5,
    tasks: 1,
    cpusPerTask: 1,
    workDir,
    stdout: `${workDir.replace(/\/+$/, '')}/meridian-prewarm-${slug}-%j.out`,
  };
}

/** Newest first by Slurm job id. */
const newest = (jobs: SlurmJob[]): SlurmJob[] => [...jobs].sort((a, b) => Number(b.jobId) - Number(a.jobId));

/** The job a resent command adopts: one still queued or running, else one that finished well; a failed one is retried. */
export function adoptable(jobs: SlurmJob[]): SlurmJob | undefined {
  const sorted = newest(jobs);
  return sorted.find((j) => !TERMINAL_JOB_STATES.has(j.state)) ?? (sorted[0]?.state === 'COMPLETED' ? sorted[0] : undefined);
}

export type Progress = { phase: 'Running' | 'Succeeded' | 'Failed'; percent: number; reason?: string };

/** Where a copy job stands: finished (Slurm's state) or running with elapsed / expected, at most 99 %. */
export function jobProgress(job: SlurmJob, expectedSec: number, now: number): Progress {
  if (job.state === 'COMPLETED') return { phase: 'Succeeded', percent: 100 };
  if (TERMINAL_JOB_STATES.has(job.state)) {
    return { phase: 'Failed', percent: 0, reason: `copy job ${job.jobId} ${job.state} ExitCode=${job.exitCode}:${job.signal}${job.reason && job.reason !== 'None' ? ` (${job.reason})` : ''}` };
  }
  if (job.state !== 'RUNNING' && job.state !== 'COMPLETING') return { phase: 'Running', percent: 0 };
  const started = job.startTime?.getTime() ?? now;
  return { phase: 'Running', percent: Math.min(99, Math.max(0, Math.floor(((now - started) / 1000 / Math.max(1, expectedSec)) * 100))) };
}

/** The job's output file with Slurm's `%j` filled in, when it is a plain absolute path. */
export function outputPath(job: SlurmJob): string | undefined {
  const p = job.stdout.replace(/%j/g, job.jobId);
  return p.startsWith('/') && !p.includes('%') ? p : undefined;
}

type Emit = (event: AgentEvent) => void;
type Log = { info: (o: object, m?: string) => void; warn: (o: object, m?: string) => void };
export interface Outcome {
  ok: boolean;
  error?: string;
  detail?: unknown;
}

const KEEPALIVE_MS = 30_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/** Submits or adopts copy jobs and follows each until it finishes (one follower per Slurm job). */
export class SlurmPrewarmer {
  private readonly following = new Set<string>();
  private readonly starting = new Map<string, Promise<Outcome>>();
  private stopped = false;

  constructor(private readonly o: { transport: SlurmTransport; workDir: string; emit: Emit; log?: Log; env?: NodeJS.ProcessEnv }) {}

  /** Answers at once with the job id; a second command for the same dataset waits for the first and adopts its job. */
  start(cmd: PrewarmInput): Promise<Outcome> {
    const prev = this.starting.get(cmd.dataset) ?? Promise.resolve<Outcome>({ ok: true });
    const next = prev.catch(() => undefined).then(() => this.startOnce(cmd));
    this.starting.set(cmd.dataset, next);
    void next.finally(() => {
      if (this.starting.get(cmd.dataset) === next) this.starting.delete(cmd.dataset);
    });
    return next;
  }

  private async startOnce(cmd: PrewarmInput): Promise<Outcome> {
    this.stopped = false;
    let cfg: SlurmPrewarmConfig;
    let req: SubmitRequest;
    try {
      cfg = slurmPrewarmConfig(this.o.workDir, this.o.env ?? process.env);
      req = prewarmSubmitRequest(cmd, cfg, this.o.workDir);
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    const sec = expectedSeconds(cmd.sizeBytes, cfg);
    const existing = adoptable(await this.o.transport.findJobsByComment(req.comment!));
    let jobId = existing?.jobId;
    if (!jobId) {
      jobId = (await this.o.transport.submit(req)).jobId;
      this.o.log?.info({ dataset: cmd.dataset, slurmJobId: jobId, expectedSeconds: sec }, 'prewarm copy job submitted');
    }
    void this.follow(jobId, cmd.dataset, sec, cfg.pollMs);
    return { ok: true, detail: { slurmJobId: jobId, adopted: Boolean(existing), expectedSeconds: sec } };
  }

  /** Ends the followers (the agent stops); a restarted agent adopts the jobs when the hub asks again. */
  stop(): void {
    this.stopped = true;
  }

  private async follow(jobId: string, dataset: string, expectedSec: number, pollMs: number): Promise<void> {
    if (this.following.has(jobId)) return;
    this.following.add(jobId);
    let last = -1;
    let lastAt = 0;
    try {
      while (!this.stopped) {
        let p: Progress;
        try {
          const job = (await this.o.transport.getJob(jobId)) ?? (await this.o.transport.findJobsByComment(`${PREWARM_COMMENT_PREFIX}${dataset}`)).find((j) => j.jobId === jobId);
          p = job ? jobProgress(job, expectedSec, Date.now()) : { phase: 'Failed', percent: 0, reason: `copy job ${jobId} is no longer known to Slurm` };
          if (job && p.phase === 'Failed') p.reason = `${p.reason}${await this.outputTail(job)}`;
        } catch (err) {
          this.o.log?.warn({ dataset, slurmJobId: jobId, err: err instanceof Error ? err.message : String(err) }, 'reading the copy job failed; retrying');
          await sleep(pollMs);
          continue;
        }
        // unchanged progress is still re-sent now and then: the hub asks again when a running copy goes silent
        if (p.phase !== 'Running' || p.percent !== last || Date.now() - lastAt >= KEEPALIVE_MS) {
          this.o.emit({ type: 'prewarm.status', dataset, ...p });
          lastAt = Date.now();
        }
        if (p.phase !== 'Running') {
          this.o.log?.info({ dataset, slurmJobId: jobId, phase: p.phase, reason: p.reason }, 'prewarm finished');
          return;
        }
        last = p.percent;
        await sleep(pollMs);
      }
    } finally {
      this.following.delete(jobId);
    }
  }

  /** The last output line of a failed copy (e.g. cp's "No such file"), so the hub shows why. */
  private async outputTail(job: SlurmJob): Promise<string> {
    const path = outputPath(job);
    if (!path) return '';
    const text = await this.o.transport.readTail(path, 1).catch(() => undefined);
    const line = text?.trim().split('\n').at(-1)?.trim();
    return line ? `: ${line.slice(0, 300)}` : '';
  }
}
