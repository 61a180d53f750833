// The attempt's Secret and the Job's reference to it (the engine suite checks ownership and garbage collection).
import { describe, expect, it } from 'vitest';
import type { DispatchCommand } from '@meridian/protocol/agent-protocol';
import { buildJob, DEFAULT_JOB_OPTIONS, jobName } from './jobs.ts';
import { buildJobSecret, secretName } from './secrets.ts';

const cmd: DispatchCommand = {
  kind: 'dispatch', jobId: 'j1', attempt: 1, project: 'p', name: 'n', tasks: 1, perTask: { cpuMilli: 1000, memoryMiB: 100, gpus: 0, rdma: 0 },
  nodes: [], env: { FOO: 'bar' }, maxRuntimeSec: 60, annotations: {}, image: 'busybox', secrets: { API_KEY: 'v@lue' },
};

describe('Kubernetes job secrets', () => {
  it('puts the values in the Secret only; the Job reads it with envFrom', () => {
    const s = buildJobSecret(cmd, 'ns');
    expect(s.metadata).toMatchObject({ name: `${jobName('j1', 1)}-secrets`, namespace: 'ns' });
    expect(Buffer.from(s.data!.API_KEY!, 'base64').toString()).toBe('v@lue');
    const job = buildJob(cmd, DEFAULT_JOB_OPTIONS);
    expect(job.spec!.template.spec!.containers[0]!.envFrom).toEqual([{ secretRef: { name: secretName('j1', 1) } }]);
    expect(JSON.stringify(job)).not.toContain('v@lue');
    expect(buildJob({ ...cmd, secrets: undefined }).spec!.template.spec!.containers[0]!.envFrom).toBeUndefined();
  });

  it('refuses a key that is not a variable name, naming it', () => {
    expect(() => buildJobSecret({ ...cmd, secrets: { 'a b': 'x' } }, 'ns')).toThrow(/secrets: "a b" is not a variable name/);
  });
});
