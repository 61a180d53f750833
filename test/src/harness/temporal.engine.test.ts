import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { TemporalEngine } from './temporal.ts';

describe('Temporal dev server engine', () => {
  let temporal: TemporalEngine;
  beforeAll(async () => {
    temporal = await TemporalEngine.start();
  });
  afterAll(async () => {
    await temporal?.stop();
  });

  it('runs a workflow with an activity on a real worker', async () => {
    const nativeConnection = await NativeConnection.connect({ address: temporal.address });
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace: temporal.namespace,
      taskQueue: 'harness-check',
      workflowsPath: fileURLToPath(new URL('./fixtures/greet-workflow.ts', import.meta.url)),
      activities: { shout: async (name: string) => name.toUpperCase() },
    });
    const connection = await Connection.connect({ address: temporal.address });
    const client = new Client({ connection, namespace: temporal.namespace });
    const result = await worker.runUntil(
      client.workflow.execute('greet', { taskQueue: 'harness-check', workflowId: 'harness-greet-1', args: ['gpu'] }),
    );
    expect(result).toBe('hello, GPU');
    const described = await client.workflow.getHandle('harness-greet-1').describe();
    expect(described.status.name).toBe('COMPLETED');
    await connection.close();
    await nativeConnection.close();
  });
});
