// Starts and steers gpu-remediation workflows (workflows/src/gpu-remediation.ts) through the hub's Temporal
// client. One workflow per node (`remediate:<cluster>:<node>`): a start while one runs nudges it instead, and
// a finished one may be started again for the next incident (ALLOW_DUPLICATE).
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import type { RemediationInput } from '@meridian/workflows/gpu-remediation';
import type { RemediationStarter } from '../telemetry/remediation-trigger.ts';
import { remediationWorkflowId } from '../telemetry/remediation-policy.ts';
import type { JobWorkflows } from './client.ts';

export type OperatorDecision = { decision: 'release' | 'keep_out'; note?: string };

export class RemediationWorkflows implements RemediationStarter {
  constructor(
    private readonly workflows: JobWorkflows,
    private readonly taskQueue: string,
  ) {}

  async start(workflowId: string, input: RemediationInput): Promise<'started' | 'running'> {
    try {
      await this.workflows.workflow.start('gpuRemediation', {
        taskQueue: this.taskQueue,
        workflowId,
        args: [input],
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      });
      return 'started';
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      await this.nudge(workflowId);
      return 'running';
    }
  }

  async nudge(workflowId: string): Promise<void> {
    try {
      await this.workflows.workflow.getHandle(workflowId).signal('healthChanged');
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }

  /** An operator's decision for the node's running remediation; false when none runs. */
  async operator(cluster: string, node: string, d: OperatorDecision): Promise<boolean> {
    try {
      await this.workflows.workflow.getHandle(remediationWorkflowId(cluster, node)).signal('operator', d);
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  /** The node's latest remediation: running or how it ended, and the steps so far. */
  async describe(cluster: string, node: string): Promise<{ workflowId: string; status: string; steps?: string[]; step?: string } | null> {
    const h = this.workflows.workflow.getHandle(remediationWorkflowId(cluster, node));
    try {
      const d = await h.describe();
      const status = d.status.name;
      if (status !== 'RUNNING') return { workflowId: h.workflowId, status };
      const q = await h.query<{ step: string; steps: string[] }>('status');
      return { workflowId: h.workflowId, status, step: q.step, steps: q.steps };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    }
  }
}
