// The Temporal worker hosted by the hub: job-lifecycle and gpu-remediation workflows and their activities.
// The workflow bundle is cached on disk by content hash so a restarted hub starts in seconds.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type pg from 'pg';
import type { Logger } from 'pino';
import { lifecycleActivities } from './activities/lifecycle.ts';
import type { LifecycleHooks } from './activities/lifecycle.ts';
import { remediationActivities } from './activities/remediation.ts';
import type { RemediationDeps } from './activities/remediation.ts';

// The workflows package's sources, found through its package export (the worker bundles them itself).
export const WORKFLOWS_DIR = join(dirname(createRequire(import.meta.url).resolve('@meridian/workflows/package.json')), 'src');

/** Bundles the workflows package once per content version (cached under the OS temp dir). */
export async function workflowBundle(log?: Logger): Promise<{ code: string }> {
  const h = createHash('sha256');
  for (const f of readdirSync(WORKFLOWS_DIR).filter((x) => x.endsWith('.ts')).sort()) h.update(f).update(readFileSync(join(WORKFLOWS_DIR, f)));
  const file = join(tmpdir(), `meridian-workflows-${h.digest('hex').slice(0, 16)}.js`);
  if (existsSync(file)) return { code: readFileSync(file, 'utf8') };
  const started = Date.now();
  const { code } = await bundleWorkflowCode({ workflowsPath: join(WORKFLOWS_DIR, 'index.ts'), logger: undefined });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, code);
  renameSync(tmp, file);
  log?.info({ ms: Date.now() - started }, 'bundled workflows');
  return { code };
}

export interface WorkerHandle {
  run: Promise<void>;
  stop(): Promise<void>;
}

let runtimeInstalled = false;
/** The SDK logs through its own runtime; keep it to warnings (once per process). */
function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger((process.env.TEMPORAL_LOG_LEVEL as 'WARN' | undefined) ?? 'WARN') });
  } catch {
    /* already installed by the host process */
  }
}

export async function startWorker(opts: { address: string; namespace: string; taskQueue: string; pool: pg.Pool; log: Logger; hooks?: LifecycleHooks; remediation?: Omit<RemediationDeps, 'pool'> }): Promise<WorkerHandle> {
  quietRuntime();
  const connection = await NativeConnection.connect({ address: opts.address });
  const worker = await Worker.create({
    connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowBundle: await workflowBundle(opts.log),
    // remediation activities need the receiver's hot state: only hubs that run the receiver host them
    activities: { ...lifecycleActivities(opts.pool, opts.hooks), ...(opts.remediation ? remediationActivities({ ...opts.remediation, pool: opts.pool }) : {}) },
    maxConcurrentActivityTaskExecutions: 50,
    maxConcurrentLocalActivityExecutions: 30,
    maxConcurrentWorkflowTaskExecutions: 100,
    maxConcurrentWorkflowTaskPolls: 20,
    // After a hub crash, tasks bound to the dead worker's sticky queue move to the shared queue this fast.
    stickyQueueScheduleToStartTimeout: '3 seconds',
    shutdownGraceTime: '2 seconds',
  });
  const run = worker.run().catch((err: unknown) => opts.log.error({ err: (err as Error).message }, 'temporal worker stopped'));
  return {
    run,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await run;
      await connection.close();
    },
  };
}
