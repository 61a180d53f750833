// Failures a person acts on: a container that can never start fails the attempt (not Pending until its
// deadline), a runtime start error is cut to its point, and a failed container's last lines are the message.
import type { V1ContainerState, V1Job, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { jobStatus, taskStatus } from './status.ts';

const ref = { jobId: '7', attempt: 1 };
const pod = (phase: string, state: V1ContainerState): V1Pod => ({
  metadata: { name: 'p0', annotations: { 'batch.kubernetes.io/job-completion-index': '0' }, creationTimestamp: new Date(1000) },
  spec: { nodeName: 'n0', containers: [{ name: 'main' }] },
  status: { phase, containerStatuses: [{ name: 'main', image: 'x', imageID: '', ready: false, restartCount: 0, state }] },
});
const job = (failed = false): V1Job => ({
  metadata: { name: 'mj-7-a1', namespace: 'ns' },
  spec: { completions: 1, parallelism: 1, template: { spec: { containers: [] } } },
  status: failed ? { conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' }] } : {},
});
const PULL = 'failed to pull and unpack image "meridian.local/nope:1": failed to resolve reference "meridian.local/nope:1": not found';

describe('start failures and last lines', () => {
  it('fails an attempt whose image cannot be pulled, with the kubelet message', () => {
    for (const reason of ['ErrImagePull', 'ImagePullBackOff']) {
      const s = jobStatus(ref, job(), [pod('Pending', { waiting: { reason, message: PULL } })]);
      expect(s).toMatchObject({ phase: 'Failed', reason: `ImagePullBackOff: ${PULL}`, message: PULL });
      expect(s.finishedAt).toBeDefined();
    }
  });

  it('fails on a create error but waits out a config error (its Secret may come a moment later)', () => {
    expect(jobStatus(ref, job(), [pod('Pending', { waiting: { reason: 'CreateContainerError', message: 'no such device' } })]).phase).toBe('Failed');
    const cfg = jobStatus(ref, job(), [pod('Pending', { waiting: { reason: 'CreateContainerConfigError', message: 'secret "s" not found' } })]);
    expect(cfg).toMatchObject({ phase: 'Pending', reason: 'CreateContainerConfigError' });
  });

  it('is not fooled by a Job being deleted (a cancel in flight)', () => {
    const j = { ...job(), metadata: { ...job().metadata, deletionTimestamp: new Date() } };
    expect(jobStatus(ref, j, [pod('Pending', { waiting: { reason: 'ImagePullBackOff', message: PULL } })]).phase).toBe('Pending');
  });

  it('cuts a runtime start error to the part that names the problem', () => {
    const message = 'failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "nosuch": executable file not found in $PATH: unknown';
    expect(taskStatus(pod('Failed', { terminated: { exitCode: 128, reason: 'StartError', message } })).reason).toBe('StartError: exec: "nosuch": executable file not found in $PATH');
  });

  it("puts a failed container's last lines in the message, its exit code in the reason", () => {
    const s = jobStatus(ref, job(true), [pod('Failed', { terminated: { exitCode: 3, reason: 'Error', message: 'step 1\nstep 2\n' } })]);
    expect(s).toMatchObject({ phase: 'Failed', exitCode: 3, reason: 'Error: exit code 3', message: 'last lines of task 0:\nstep 1\nstep 2' });
    const quiet = jobStatus(ref, job(true), [pod('Failed', { terminated: { exitCode: 3, reason: 'Error' } })]);
    expect(quiet.message).toBe('Job has reached the specified backoff limit');
  });

  it('keeps only the end of a long message', () => {
    const long = `${'x'.repeat(5000)}\nthe end`;
    const s = jobStatus(ref, job(true), [pod('Failed', { terminated: { exitCode: 1, reason: 'Error', message: long } })]);
    expect(s.message!.length).toBeLessThanOrEqual(2048 + 'last lines of task 0:\n'.length);
    expect(s.message!.endsWith('the end')).toBe(true);
  });
});
