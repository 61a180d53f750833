// `meridian job ...`: submit (YAML or JSON, optionally --wait), list, get, cancel, why, logs, events.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseJobSpec } from '@meridian/protocol/job-spec';
import type { JobView } from '@meridian/protocol/job-view';
import YAML from 'yaml';
import { CliError, HubClient } from './client.ts';
import { parseDuration, print, table } from './format.ts';

/** The hub's job view (the CLI reads what the API writes: @meridian/protocol/job-view). */
type Job = JobView;

const COLUMNS = ['id', 'name', 'project', 'tier', 'state', 'cluster', 'attempt', 'reason'];

function readSpec(file: string): unknown {
  const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  try {
    return file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (err) {
    throw new CliError(`${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
}

export async function waitForJob(client: HubClient, id: string, timeoutMs: number, quiet: boolean): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const j = await client.request<Job>('GET', `/api/v1/jobs/${id}`);
    const line = `${j.state}${j.cluster ? ` on ${j.cluster}` : ''}${j.attempt > 1 ? ` (attempt ${j.attempt})` : ''}${j.reason && (j.state === 'Queued' || j.state === 'Dispatched') ? `: ${j.reason}` : ''}`;
    if (line !== last && !quiet) process.stderr.write(`job ${id}: ${line}\n`);
    last = line;
    if (['Succeeded', 'Failed', 'Cancelled'].includes(j.state)) return j;
    if (Date.now() > deadline) throw new CliError(`job ${id} is still ${j.state} after ${Math.round(timeoutMs / 1000)}s`, 124);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export function jobCommands(program: Command): void {
  const job = program.command('job').description('submit and manage jobs');

  job
    .command('submit <file>')
    .description('submit a job spec (YAML or JSON; - reads stdin)')
    .option('-p, --project <name>', 'override the spec’s project')
    .option('-n, --name <name>', 'override the spec’s name')
    .option('-w, --wait', 'wait until the job finishes; exit 0 only if it succeeded')
    .option('--timeout <duration>', 'give up waiting after this long', '24h')
    .option('-q, --quiet', 'print only the job id')
    .option('--json', 'print the job as JSON')
    .action(async (file: string, o: { project?: string; name?: string; wait?: boolean; timeout: string; quiet?: boolean; json?: boolean }) => {
      const spec = readSpec(file) as Record<string, unknown>;
      if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new CliError(`${file}: a job spec is a mapping (name, resources, workload, ...)`);
      if (o.project) spec.project = o.project;
      if (o.name) spec.name = o.name;
      // The hub's own validator and bounds, checked before any request: the same field-named errors, offline.
      // The spec is sent as written (its units as the author wrote them), not as parsed.
      const checked = parseJobSpec(spec);
      if (!checked.ok) throw new CliError([`${file}: invalid job spec`, ...checked.errors.map((e) => `  ${e.path}: ${e.message}`)].join('\n'));
      const client = new HubClient();
      const j = await client.request<Job>('POST', '/api/v1/jobs', spec);
      if (o.json && !o.wait) print(j, true, () => '');
      else process.stdout.write(o.quiet ? `${j.id}\n` : `submitted job ${j.id} (${j.name}, project ${j.project})\n`);
      if (!o.wait) return;
      const done = await waitForJob(client, j.id, parseDuration(o.timeout), Boolean(o.quiet));
      if (o.json) print(done, true, () => '');
      if (done.state !== 'Succeeded') throw new CliError(`job ${done.id} ${done.state}: ${done.reason ?? 'no reason given'}${done.exitCode !== null ? ` (exit code ${done.exitCode})` : ''}`);
      if (!o.quiet) process.stdout.write(`job ${done.id} succeeded on ${done.cluster}\n`);
    });

  job
    .command('list')
    .description('list jobs you can see (newest first)')
    .option('-p, --project <name>')
    .option('-s, --state <states>', 'comma-separated: Queued,Running,...')
    .option('--tier <tier>')
    .option('--cluster <id>')
    .option('-l, --limit <n>', 'page size', '50')
    .option('--cursor <id>', 'continue after this job id')
    .option('--json')
    .action(async (o: { project?: string; state?: string; tier?: string; cluster?: string; limit: string; cursor?: string; json?: boolean }) => {
      const q = new URLSearchParams({ limit: o.limit });
      for (const k of ['project', 'state', 'tier', 'cluster', 'cursor'] as const) if (o[k]) q.set(k, o[k]!);
      const r = await new HubClient().request<{ items: Job[]; nextCursor: string | null }>('GET', `/api/v1/jobs?${q}`);
      print(r, Boolean(o.json), () => table(r.items as unknown as Record<string, unknown>[], COLUMNS) + (r.nextCursor ? `\n(more: --cursor ${r.nextCursor})` : ''));
    });

  job
    .command('get <id>')
    .description('show one job')
    .option('--json')
    .action(async (id: string, o: { json?: boolean }) => {
      const j = await new HubClient().request<Job>('GET', `/api/v1/jobs/${encodeURIComponent(id)}`);
      print(j, Boolean(o.json), () => table([j as unknown as Record<string, unknown>], [...COLUMNS, 'exitCode', 'submittedAt']));
    });

  job
    .command('cancel <id>')
    .description('cancel a job (reaches the cluster if it was dispatched)')
    .action(async (id: string) => {
      const j = await new HubClient().request<Job>('POST', `/api/v1/jobs/${encodeURIComponent(id)}/cancel`);
      process.stdout.write(`cancel requested for job ${j.id} (${j.state})\n`);
    });

  job
    .command('why <id>')
    .description('why is this job pending (reason and ETA)')
    .option('--json')
    .action(async (id: string, o: { json?: boolean }) => {
      const w = await new HubClient().request<{ state: string; reasonCode: string | null; reason: string; etaSec: number | null }>('GET', `/api/v1/jobs/${encodeURIComponent(id)}/why`);
      print(w, Boolean(o.json), () => `${w.state}${w.reasonCode ? ` (${w.reasonCode})` : ''}: ${w.reason}${w.etaSec !== null ? `\nETA: ~${Math.round(w.etaSec)}s` : ''}`);
    });

  job
    .command('logs <id>')
    .description('a task’s log from its cluster (Kubernetes: the container log; Slurm: the output file)')
    .option('-t, --task <n>', 'task index', '0')
    .option('--tail <lines>', 'the last lines to show first', '200')
    .option('-f, --follow', 'keep printing new lines until the task has ended (waits for it to start)')
    .action(async (id: string, o: { task: string; tail: string; follow?: boolean }) => {
      const q = new URLSearchParams({ task: o.task, tail: o.tail, ...(o.follow ? { follow: 'true' } : {}) });
      const path = `/api/v1/jobs/${encodeURIComponent(id)}/logs?${q}`;
      // the log's bytes as they come (a log line that happens to be JSON is printed as it is)
      await new HubClient().stream(path, process.stdout);
    });

  job
    .command('events <id>')
    .description('the job’s event history')
    .option('--json')
    .action(async (id: string, o: { json?: boolean }) => {
      const r = await new HubClient().request<{ items: Record<string, unknown>[] }>('GET', `/api/v1/jobs/${encodeURIComponent(id)}/events?limit=1000`);
      print(r.items, Boolean(o.json), () => table(r.items, ['at', 'type', 'state', 'attempt', 'message']));
    });
}
