// The hub's Temporal client: starts job workflows idempotently (workflow ID = job ID) and wakes them.
import { Client, Connection, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import type { Logger } from 'pino';
import type { JobLifecycleInput } from '@meridian/workflows/job-lifecycle';

export interface TemporalSettings {
  address: string;
  namespace: string;
  taskQueue: string;
  /** Workflow poll interval without signals (ms). */
  pollMs: number;
  cancelConfirmMs: number;
  /** Continue-as-new past this many history events. */
  maxHistory: number;
}

export class JobWorkflows {
  private constructor(
    private readonly connection: Connection,
    private readonly client: Client,
    private readonly cfg: TemporalSettings,
    private readonly log: Logger,
  ) {}

  static async connect(cfg: TemporalSettings, log: Logger): Promise<JobWorkflows> {
    const connection = await Connection.connect({ address: cfg.address, connectTimeout: 10_000 });
    return new JobWorkflows(connection, new Client({ connection, namespace: cfg.namespace }), cfg, log);
  }

  /** Starts the job's workflow; true when it runs (now or already). Throws only on transport errors. */
  async start(jobId: string): Promise<void> {
    const input: JobLifecycleInput = { jobId, pollMs: this.cfg.pollMs, cancelConfirmMs: this.cfg.cancelConfirmMs, maxHistory: this.cfg.maxHistory };
    try {
      // Bounded: when Temporal is down the submit still answers; the reconciler starts the workflow later.
      await this.connection.withDeadline(Date.now() + 5000, () =>
        this.client.workflow.start('jobLifecycle', {
          taskQueue: this.cfg.taskQueue,
          workflowId: jobId,
          args: [input],
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          // Tasks run local activities against the store; under load a task that times out is redone from
          // the backlog, which costs far more than waiting a little longer for it.
          workflowTaskTimeout: '30 seconds',
        }),
      );
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return;
      throw err;
    }
  }

  /** Wakes the workflow so it re-reads the store now; failures only delay it to its next poll. */
  async wake(jobIds: string[]): Promise<void> {
    const queue = [...jobIds];
    const worker = async (): Promise<void> => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        try {
          await this.connection.withDeadline(Date.now() + 5000, () => this.client.workflow.getHandle(id).signal('wake'));
        } catch (err) {
          this.log.debug({ jobId: id, err: (err as Error).message }, 'wake signal failed (the workflow will poll)');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, queue.length) }, worker));
  }

  get workflow(): Client['workflow'] {
    return this.client.workflow;
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}
