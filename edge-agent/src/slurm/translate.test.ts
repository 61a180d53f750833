import { describe, expect, it } from 'vitest';
import type { DispatchCommand } from '@meridian/protocol/agent-protocol';
import type { SlurmJob, SlurmNode } from '@meridian/slurm-bridge/types';
import { compactState, containerScript, federationComment, nodeInfoOf, parseFederationComment, phaseOf, readExtras, statusEvent, submitRequestFor, translateDependency } from './translate.ts';

const base: DispatchCommand = {
  kind: 'dispatch', jobId: '42', attempt: 2, project: 'p', name: 'train', tasks: 2,
  perTask: { cpuMilli: 1500, memoryMiB: 4096, gpus: 2, rdma: 0 }, gpuModel: 'A100', nodes: [], env: { A: '1' },
  maxRuntimeSec: 3601, annotations: {}, script: '#!/bin/bash\ntrue\n',
};

function job(over: Partial<SlurmJob>): SlurmJob {
  return { jobId: '7', name: 'n', comment: 'meridian:42:2', user: 'u', partition: 'gpu', state: 'RUNNING', reason: 'None', exitCode: 0, signal: 0, nodeList: 'gpu-[0-1]', numNodes: 2, numCpus: 4, stdout: '', stderr: '', workDir: '', tresPerNode: '', ...over };
}

describe('federation comment', () => {
  it('round-trips', () => {
    expect(federationComment('42', 2)).toBe('meridian:42:2');
    expect(parseFederationComment('meridian:42:2')).toEqual({ jobId: '42', attempt: 2 });
    expect(parseFederationComment('meridian:42')).toBeUndefined();
    expect(parseFederationComment('someone else')).toBeUndefined();
  });
});

describe('dispatch → submit request', () => {
  it('a GPU gang: one task per node with gres of the model, time rounded up to minutes', () => {
    const r = submitRequestFor(base, { runtime: 'host', defaultWorkDir: '/w' });
    expect(r).toMatchObject({ name: 'meridian-42', comment: 'meridian:42:2', nodes: 2, tasks: 2, tasksPerNode: 1, cpusPerTask: 2, gres: 'gpu:a100:2', memoryPerNodeMiB: 4096, timeLimitMin: 61, workDir: '/w' });
    expect(r.env).toEqual({ A: '1', MERIDIAN_JOB_ID: '42', MERIDIAN_ATTEMPT: '2' });
  });
  it('maps GPU models through gpuTypes', () => {
    expect(submitRequestFor(base, { runtime: 'host', defaultWorkDir: '/w', gpuTypes: { A100: 'a100_80g' } }).gres).toBe('gpu:a100_80g:2');
  });
  it('CPU-only: tasks with memory per CPU', () => {
    const r = submitRequestFor({ ...base, perTask: { cpuMilli: 500, memoryMiB: 1000, gpus: 0, rdma: 0 } }, { runtime: 'host', defaultWorkDir: '/w' });
    expect(r).toMatchObject({ tasks: 2, cpusPerTask: 1, memoryPerCpuMiB: 1000 });
    expect(r.gres).toBeUndefined();
  });
  it('login-node extras override (job name, output, array, resources)', () => {
    const r = submitRequestFor({ ...base, slurm: { jobName: 'my job', output: 'o-%j.out', array: '0-3%2', nodes: 1, ntasks: 4, gres: 'gpu:1', partition: 'debug', hold: true } }, { runtime: 'host', defaultWorkDir: '/w' });
    expect(r).toMatchObject({ name: 'my job', stdout: 'o-%j.out', array: '0-3%2', nodes: 1, tasks: 4, gres: 'gpu:1', partition: 'debug', hold: true });
  });
  it('checkpoint signal → --signal B:USR1@60', () => {
    expect(submitRequestFor({ ...base, checkpointSignal: 'SIGUSR1' }, { runtime: 'host', defaultWorkDir: '/w' }).signal).toBe('B:USR1@60');
  });
  it('rejects extras of the wrong type, naming the key', () => {
    expect(() => readExtras({ nodes: 'two' })).toThrow(/dispatch\.slurm\.nodes must be a number/);
    expect(readExtras({ unknown: 1, hold: true })).toEqual({ hold: true });
  });
});

describe('container jobs as batch scripts', () => {
  const c: DispatchCommand = { ...base, script: undefined, image: 'nvcr.io/nvidia/pytorch:24.01', command: ['python', '-c'], args: ["print('hi')"], env: { A: '1' } };
  it('pyxis', () => expect(containerScript(c, 'pyxis')).toContain(`exec srun --container-image='nvcr.io/nvidia/pytorch:24.01' 'python' '-c' 'print('\\''hi'\\'')'`));
  it('apptainer', () => expect(containerScript(c, 'apptainer')).toContain('exec apptainer exec --cleanenv --nv docker://nvcr.io/nvidia/pytorch:24.01 '));
  it('podman passes the env through', () => expect(containerScript(c, 'podman')).toContain('exec podman run --rm --network=host -e A -e SLURM_JOB_ID'));
  it('host', () => expect(containerScript(c, 'host')).toMatch(/^#!\/bin\/bash\n.*\nset -euo pipefail\nexec 'python' '-c'/));
  it('no image and no script is an error', () => expect(() => containerScript({ ...c, image: undefined }, 'host')).toThrow(/neither a script nor an image/));
});

describe('dependencies in federation ids', () => {
  const ids: Record<string, string> = { a: '10', b: '11' };
  const look = async (id: string) => ids[id];
  it('translates every id, keeps , ? and +time', async () => {
    expect(await translateDependency('afterok:a:b,afterany:a+5?singleton', look)).toBe('afterok:10:11,afterany:10+5?singleton');
    expect(await translateDependency('singleton', look)).toBe('singleton');
  });
  it('fails on unknown ids and bad syntax', async () => {
    await expect(translateDependency('afterok:zz', look)).rejects.toThrow(/job zz/);
    await expect(translateDependency('whenever:a', look)).rejects.toThrow(/not type:jobid/);
  });
});

describe('status up', () => {
  it('states → phases and reasons', () => {
    expect(phaseOf(job({ state: 'PENDING', reason: 'Resources' }))).toEqual({ phase: 'Pending', reason: 'Resources' });
    expect(phaseOf(job({ state: 'TIMEOUT' }))).toEqual({ phase: 'Failed', reason: 'TIMEOUT' });
    expect(phaseOf(job({ state: 'OUT_OF_MEMORY' }))).toEqual({ phase: 'Failed', reason: 'OOMKilled' });
    expect(phaseOf(job({ state: 'FAILED', exitCode: 3 }))).toEqual({ phase: 'Failed', reason: 'NonZeroExitCode' });
    expect(phaseOf(job({ state: 'FAILED', signal: 9 }))).toEqual({ phase: 'Failed', reason: 'Signal 9' });
    expect(phaseOf(job({ state: 'CANCELLED' })).phase).toBe('Cancelled');
    expect(phaseOf(job({ state: 'NODE_FAIL' })).reason).toBe('NodeFail');
    expect(phaseOf(job({ state: 'COMPLETING' })).phase).toBe('Running');
  });
  it('one job on two nodes → two tasks', () => {
    const ev = statusEvent('42', 2, [job({ startTime: new Date(1000) })]);
    expect(ev).toMatchObject({ type: 'job.status', jobId: '42', attempt: 2, phase: 'Running', clusterJobId: '7' });
    expect(ev.tasks.map((t) => t.node)).toEqual(['gpu-0', 'gpu-1']);
  });
  it('OOM with exit code:signal', () => {
    const ev = statusEvent('42', 2, [job({ state: 'OUT_OF_MEMORY', exitCode: 0, signal: 125, endTime: new Date(5000) })]);
    expect(ev).toMatchObject({ phase: 'Failed', reason: 'OOMKilled', exitCode: 0, message: 'Slurm job 7 OUT_OF_MEMORY ExitCode=0:125' });
    expect(ev.finishedAt).toBe(new Date(5000).toISOString());
  });
  it('arrays: running while any runs, failed if any failed once all are done', () => {
    const t = (id: string, state: string, exitCode = 0) => job({ jobId: `${100 + Number(id)}`, arrayJobId: '100', arrayTaskId: id, state, exitCode, nodeList: 'gpu-0' });
    expect(statusEvent('a', 1, [t('0', 'COMPLETED'), t('1', 'RUNNING')]).phase).toBe('Running');
    expect(statusEvent('a', 1, [t('0', 'COMPLETED'), job({ jobId: '100', arrayJobId: '100', arrayTaskId: '2-3', state: 'PENDING', nodeList: '' })]).phase).toBe('Running');
    const done = statusEvent('a', 1, [t('0', 'COMPLETED'), t('1', 'FAILED', 2)]);
    expect(done).toMatchObject({ phase: 'Failed', exitCode: 2, clusterJobId: '100' });
    expect(done.tasks.map((x) => [x.index, x.phase])).toEqual([[0, 'Succeeded'], [1, 'Failed']]);
    expect(statusEvent('a', 1, [t('0', 'COMPLETED'), t('1', 'COMPLETED')]).phase).toBe('Succeeded');
  });
});

describe('inventory', () => {
  const node = (over: Partial<SlurmNode>): SlurmNode => ({ name: 'g', baseState: 'idle', flags: [], cpus: 8, allocCpus: 2, memoryMiB: 16000, allocMemoryMiB: 100, gres: [{ name: 'gpu', type: 'a100', count: 4 }], gresUsed: [{ name: 'gpu', type: 'a100', count: 1 }], partitions: ['gpu'], features: ['ib'], reason: '', ...over });
  it('maps capacity, requests, labels', () => {
    const n = nodeInfoOf(node({ baseState: 'mixed' }), 'c1');
    expect(n).toMatchObject({ name: 'g', gpuModel: 'a100', capacity: { cpuMilli: 8000, memoryMiB: 16000, gpus: 4 }, requested: { cpuMilli: 2000, memoryMiB: 100, gpus: 1 }, unschedulable: false, ready: true, state: 'mix' });
    expect(n.labels).toMatchObject({ 'slurm.meridian.dev/cluster': 'c1', 'slurm.meridian.dev/feature.ib': 'true' });
    expect(n.gpus.map((g) => g.milliUsed)).toEqual([1000, 0, 0, 0]);
  });
  it('drain, drng, down, power states', () => {
    expect(nodeInfoOf(node({ flags: ['DRAIN'], reason: 'meridian: x', reasonUser: 'root' }))).toMatchObject({ state: 'drain', unschedulable: true, reason: 'meridian: x', labels: { 'slurm.meridian.dev/reason-user': 'root' } });
    expect(compactState(node({ baseState: 'mixed', flags: ['DRAIN'] }))).toBe('drng');
    expect(nodeInfoOf(node({ baseState: 'down', flags: ['NOT_RESPONDING'], reason: 'Not responding' }))).toMatchObject({ state: 'down*', unschedulable: true, ready: false });
    expect(nodeInfoOf(node({ flags: ['CLOUD', 'POWERED_DOWN'] }))).toMatchObject({ state: 'idle~', unschedulable: false, ready: false, labels: { 'slurm.meridian.dev/power': 'off', 'slurm.meridian.dev/cloud': 'true' } });
    expect(compactState(node({ flags: ['CLOUD', 'POWERING_UP'] }))).toBe('idle#');
  });
});

describe('statusEvent for arrays', () => {
  it("the Slurm driver reports the array's pending remainder as one pending task per index", () => {
    const base = { name: 'a', user: 'root', partition: 'gpu', reason: 'JobArrayTaskLimit', nodeList: '', numNodes: 1, numCpus: 1, exitCode: 0, signal: 0, comment: 'meridian:9:1', stdout: '', workDir: '/', arrayJobId: '40' };
    const ev = statusEvent('9', 1, [
      { ...base, jobId: '41', arrayTaskId: '0', state: 'RUNNING', nodeList: 'gpu-0' },
      { ...base, jobId: '40', arrayTaskId: '1-3%1', state: 'PENDING' },
    ] as unknown as SlurmJob[]);
    expect(ev.tasks.map((t) => [t.index, t.phase])).toEqual([[0, 'Running'], [1, 'Pending'], [2, 'Pending'], [3, 'Pending']]);
  });
});
