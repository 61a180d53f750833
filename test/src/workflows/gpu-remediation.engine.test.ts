// The remediation workflow on a real Temporal dev server and worker. The activities are in-memory here
// (they are the hub's to implement against its store and the agent gateway); what is under test is the
// workflow: step order, circuit-breaker refusal, checkpoint-first requeue, waiting for health, operator signal.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { TemporalEngine } from '../harness/temporal.ts';
import type { JobOnNode, RemediationActivities, RemediationEvent, RemediationInput, RemediationResult } from '@meridian/workflows/gpu-remediation';
import { packagePath } from '../packages.ts';

let temporal: TemporalEngine;
let connection: Connection;
let nativeConnection: NativeConnection;
let client: Client;

beforeAll(async () => {
  temporal = await TemporalEngine.start();
  nativeConnection = await NativeConnection.connect({ address: temporal.address });
  connection = await Connection.connect({ address: temporal.address });
  client = new Client({ connection, namespace: temporal.namespace });
});

afterAll(async () => {
  await connection?.close();
  await nativeConnection?.close();
  await temporal?.stop();
});

function fakeActivities(opts: { allow?: boolean; healthSequence?: ('healthy' | 'unhealthy')[]; jobs?: JobOnNode[] }) {
  const calls: string[] = [];
  const events: RemediationEvent[] = [];
  const health = [...(opts.healthSequence ?? ['healthy'])];
  const acts: RemediationActivities = {
    requestQuarantine: async (_c, node) => {
      calls.push(`requestQuarantine ${node}`);
      return opts.allow === false ? { allowed: false, tripped: true, reason: '5 quarantines within 10 min' } : { allowed: true };
    },
    quarantineNode: async (_c, node) => void calls.push(`quarantineNode ${node}`),
    jobsOnNode: async () => opts.jobs ?? [],
    checkpointJobs: async (jobs, grace) => {
      calls.push(`checkpoint ${jobs.map((j) => j.jobId).join(',')}`);
      return { signalled: jobs.map((j) => j.jobId), waitSeconds: grace };
    },
    requeueFromNode: async (jobId) => {
      calls.push(`requeue ${jobId}`);
      return true;
    },
    requestRecovery: async (_c, _n, kind) => void calls.push(`recovery ${kind}`),
    health: async () => ({ status: health.length > 1 ? health.shift()! : health[0]!, detail: 'fake' }),
    clearHealthEvents: async () => void calls.push('clearHealthEvents'),
    returnToService: async (_c, node) => void calls.push(`returnToService ${node}`),
    recordEvent: async (e) => void events.push(e),
  };
  return { acts, calls, events };
}

async function run(taskQueue: string, acts: RemediationActivities, input: RemediationInput, during?: (id: string) => Promise<void>): Promise<RemediationResult> {
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace: temporal.namespace,
    taskQueue,
    workflowsPath: packagePath('workflows', 'src/gpu-remediation.ts'),
    activities: acts,
  });
  const workflowId = `remediate-${taskQueue}`;
  return worker.runUntil(async () => {
    const handle = await client.workflow.start('gpuRemediation', { taskQueue, workflowId, args: [input] });
    if (during) await during(workflowId);
    return (await handle.result()) as RemediationResult;
  });
}

describe('gpuRemediation workflow (real Temporal)', () => {
  it('XID 79: quarantine → checkpoint → requeue (checkpointable first) → reboot → wait healthy → return to service; every step an event', async () => {
    const { acts, calls, events } = fakeActivities({
      healthSequence: ['unhealthy', 'healthy', 'unhealthy', 'healthy', 'healthy', 'healthy'],
      jobs: [
        { jobId: 'job-b', attempt: 1, checkpointable: false, tier: 'batch' },
        { jobId: 'job-a', attempt: 2, checkpointable: true, tier: 'batch' },
      ],
    });
    const r = await run('rem-79', acts, { cluster: 'kwok-a', node: 'gpu-node-3', gpuUuid: 'GPU-3', action: 'drain_reboot', reason: 'XID 79 ×1', checkpointGraceSeconds: 1, healthPollMs: 50 });
    expect(r.outcome).toBe('returned');
    expect(r.requeued).toEqual(['job-a', 'job-b']);
    expect(r.steps).toEqual(['quarantine', 'checkpoint_jobs', 'requeue_jobs', 'reboot_node', 'wait_healthy', 'return_to_service']);
    expect(calls).toEqual([
      'requestQuarantine gpu-node-3',
      'quarantineNode gpu-node-3',
      'checkpoint job-a',
      'requeue job-a',
      'requeue job-b',
      'recovery reboot_node',
      'clearHealthEvents',
      'returnToService gpu-node-3',
    ]);
    expect(events.map((e) => e.step)).toEqual(r.steps);
    expect(events[0]).toMatchObject({ cluster: 'kwok-a', node: 'gpu-node-3', gpuUuid: 'GPU-3' });
  });

  it('a tripped circuit breaker refuses: nothing is quarantined, the refusal is an event', async () => {
    const { acts, calls, events } = fakeActivities({ allow: false });
    const r = await run('rem-breaker', acts, { cluster: 'c', node: 'n9', action: 'drain_reset', reason: 'XID 48' });
    expect(r.outcome).toBe('refused');
    expect(calls).toEqual(['requestQuarantine n9']);
    expect(events).toEqual([expect.objectContaining({ step: 'quarantine_refused', detail: expect.stringMatching(/circuit breaker tripped/) })]);
  });

  it('a manual step waits for the operator, who may keep the node out', async () => {
    const { acts, calls } = fakeActivities({});
    const r = await run('rem-link', acts, { cluster: 'c', node: 'n1', action: 'drain_check_link', reason: 'link_downed increased' }, async (id) => {
      await new Promise((res) => setTimeout(res, 500));
      await client.workflow.getHandle(id).signal('operator', { decision: 'keep_out', note: 'cable replaced next week' });
    });
    expect(r.outcome).toBe('kept_out');
    expect(r.steps).toEqual(['quarantine', 'requeue_jobs', 'check_link', 'kept_out']);
    expect(calls).not.toContain('returnToService n1');
  });
});
