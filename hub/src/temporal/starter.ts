// Starts job workflows off the request path: a submit answers 201 once its row is committed, and the starter
// starts the workflow (ID = job ID, idempotent) moments later, marking it started in batches. If the hub dies
// first, the leader's reconciler starts whatever was never marked.
import type pg from 'pg';
import type { Logger } from 'pino';
import { markWorkflowStarted } from '../store/repos/jobs.ts';
import type { JobWorkflows } from './client.ts';

export class WorkflowStarter {
  private readonly queue: string[] = [];
  private active = 0;
  private readonly started: string[] = [];
  private flushTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly pool: pg.Pool,
    private readonly workflows: () => JobWorkflows | null,
    private readonly log: Logger,
    private readonly concurrency = 8,
  ) {}

  enqueue(jobId: string): void {
    this.queue.push(jobId);
    this.pump();
  }

  private pump(): void {
    while (this.active < this.concurrency && this.queue.length) {
      const id = this.queue.shift()!;
      const wf = this.workflows();
      if (!wf) return; // Temporal not connected yet: the reconciler starts it.
      this.active++;
      void wf
        .start(id)
        .then(() => {
          this.started.push(id);
          this.scheduleFlush();
        })
        .catch((err: unknown) => this.log.warn({ jobId: id, err: (err as Error).message }, 'workflow start deferred to the reconciler'))
        .finally(() => {
          this.active--;
          this.pump();
        });
    }
  }

  private scheduleFlush(): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      const ids = this.started.splice(0);
      markWorkflowStarted(this.pool, ids).catch(() => undefined); // unmarked ones are re-started idempotently
    }, 50);
  }

  async drain(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.queue.length || this.active) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (this.flushTimer) clearTimeout(this.flushTimer);
    await markWorkflowStarted(this.pool, this.started.splice(0)).catch(() => undefined);
  }
}
