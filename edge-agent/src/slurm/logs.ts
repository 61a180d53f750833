// A Slurm task's log: its output file (StdOut as scontrol expands it), read on the cluster through the
// driver's transport (local or SSH), never on the hub's host. The tail ends at the file's size then; a
// follower asks again from that offset (see ../logs/chunk.ts).
import { LOGS_CHUNK_BYTES, type LogsErrorCode } from '@meridian/protocol/agent-protocol';
import type { SlurmJob, SlurmTransport } from '@meridian/slurm-bridge/types';
import { followDetail, tailDetail } from '../logs/chunk.ts';

/** States in which a job may still write output (anything else has ended). */
const LIVE_STATES = new Set(['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'REQUEUED', 'RESIZING', 'SIGNALING', 'STAGE_OUT', 'STOPPED']);

export interface LogsOutcome {
  ok: boolean;
  error?: string;
  detail?: unknown;
}

const fail = (code: LogsErrorCode, error: string): LogsOutcome => ({ ok: false, error, detail: { code } });

/** The output file of one Slurm job (one array task), from `offset` or as the last `tailLines` lines. */
export async function slurmTaskLogs(transport: SlurmTransport, fedJobId: string, task: number, job: SlurmJob, cmd: { tailLines?: number; offset?: number }): Promise<LogsOutcome> {
  const path = job.stdout.startsWith('/') ? job.stdout : job.stdout && job.workDir ? `${job.workDir}/${job.stdout}` : '';
  if (job.state === 'PENDING') return fail('not-started', `job ${fedJobId} task ${task} has not started on the cluster (Slurm job ${job.jobId} is PENDING${job.reason && job.reason !== 'None' ? `: ${job.reason}` : ''})`);
  if (!path || path.includes('%')) return fail('not-found', `job ${fedJobId}: Slurm reports no expanded output path (${job.stdout || 'none'})`);
  // the state is read before the file: when it says ended, the read below holds everything the job wrote
  const ended = !LIVE_STATES.has(job.state);
  const size = await transport.fileSize(path);
  if (size === undefined) return fail(ended ? 'not-found' : 'not-started', `job ${fedJobId} task ${task}: output file ${path} does not exist${ended ? ' (removed after the job ended?)' : ' (yet)'}`);
  if (cmd.offset === undefined) {
    const start = Math.max(0, size - LOGS_CHUNK_BYTES);
    const bytes = Buffer.from((await transport.readFrom(path, start)) ?? '').subarray(0, size - start);
    return { ok: true, detail: { ...tailDetail(bytes, start, cmd.tailLines ?? 200, ended), path } };
  }
  // a file shorter than the offset was rewritten (a requeued attempt): follow it from its start
  const from = cmd.offset > size ? 0 : cmd.offset;
  const rest = Buffer.from((await transport.readFrom(path, from)) ?? '');
  return { ok: true, detail: { ...followDetail(rest, from, ended), path } };
}
