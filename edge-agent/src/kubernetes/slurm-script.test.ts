// A login-node batch script placed on Kubernetes: SLURM_* variables, output redirection by Slurm's patterns,
// shared-filesystem volumes, arrays as Indexed Jobs. The wrapper is also run by /bin/sh here, with the
// variables Kubernetes would set, to prove the files land where sbatch would put them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DispatchCommand as DispatchSchema } from '@meridian/protocol/agent-protocol';
import type { DispatchCommand } from '@meridian/protocol/agent-protocol';
import { buildJob } from './jobs.ts';
import { outputPath, parseArray, slurmScriptParts } from './slurm-script.ts';

const dir = mkdtempSync(join(tmpdir(), 'slurm-script-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const S = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [`slurm.meridian.dev/${k}`, v]));
const cmd = (ann: Record<string, string>, o: Partial<DispatchCommand> = {}): DispatchCommand =>
  DispatchSchema.parse({ kind: 'dispatch', jobId: '123', attempt: 1, project: 'p', name: 'train', tasks: 1, perTask: { cpuMilli: 4000, memoryMiB: 2048, gpus: 2, rdma: 0 }, script: '#!/bin/sh\necho "id=$SLURM_JOB_ID pid=$$ name=$SLURM_JOB_NAME task=${SLURM_ARRAY_TASK_ID:-none}"\necho err >&2\n', maxRuntimeSec: 600, annotations: S({ jobName: 'train gpu', workDir: dir, submitUser: 'ana', ...ann }), ...o });

/** What the kubelet does to `$$` / `$(VAR)` in env values and commands (for a variable-free text). */
const unk8s = (s: string) => s.replace(/\$\$/g, '$');

function runLikeKubelet(c: DispatchCommand, index: number, node = 'gpu-node-1'): void {
  const p = slurmScriptParts(c)!;
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (const e of p.env) {
    if (e.valueFrom) env[e.name] = e.valueFrom.fieldRef!.fieldPath === 'spec.nodeName' ? node : String(index);
    else env[e.name] = unk8s(e.value!).replace(/\$\((\w+)\)/g, (_, n: string) => env[n] ?? '');
  }
  const r = spawnSync(p.command[0]!, [p.command[1]!, unk8s(p.command[2]!)], { env, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
}

describe('sbatch script on Kubernetes', () => {
  it('sets the SLURM_* variables Slurm would', () => {
    const p = slurmScriptParts(cmd({ cpusPerTask: '4', ntasks: '1', account: 'physics', submitHost: 'login1', submitDir: '/home/ana' }))!;
    const env = Object.fromEntries(p.env.map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]));
    expect(env).toMatchObject({
      SLURM_JOB_ID: '123', SLURM_JOBID: '123', SLURM_JOB_NAME: 'train gpu', SLURM_JOB_USER: 'ana', SLURM_JOB_ACCOUNT: 'physics', SLURM_SUBMIT_DIR: '/home/ana', SLURM_SUBMIT_HOST: 'login1',
      SLURM_NTASKS: '1', SLURM_NPROCS: '1', SLURM_CPUS_PER_TASK: '4', SLURM_JOB_NUM_NODES: '1', SLURM_NNODES: '1', SLURM_CPUS_ON_NODE: '4', SLURM_MEM_PER_NODE: '2048', SLURM_GPUS_ON_NODE: '2',
      SLURMD_NODENAME: 'spec.nodeName', SLURM_JOB_NODELIST: '$(SLURMD_NODENAME)', SLURM_NODEID: "metadata.annotations['batch.kubernetes.io/job-completion-index']",
    });
    expect(env.CUDA_VISIBLE_DEVICES).toBeUndefined(); // the device plugin sets it
    expect(slurmScriptParts(cmd({}, { annotations: {} }))).toBeUndefined();
  });

  it('expands output patterns as Slurm does, run-time codes as shell variables', () => {
    const c = cmd({});
    expect(outputPath('%x-%j.out', c, '/w')).toBe('/w/train gpu-123.out');
    expect(outputPath('/o/%u/%8j_%%_%A_%a_%N.log', c, '/w')).toBe('/o/ana/00000123_%_123_${SLURM_ARRAY_TASK_ID}_${SLURMD_NODENAME}.log');
    expect(outputPath('%3a-%q.out', c, '/w')).toBe(`/w/$(printf '%03d' "$SLURM_ARRAY_TASK_ID")-%q.out`);
    expect(outputPath('a"$b`.out', c, '/w')).toBe('/w/a\\"\\$b\\`.out');
  });

  it('the Job runs the wrapper with the shared directories mounted and the output in the default slurm-%j.out', () => {
    const job = buildJob(cmd({ output: '/scratch/logs/%x.out' }));
    const pod = job.spec!.template.spec!;
    const c = pod.containers[0]!;
    expect(c.image).toBe('meridian.local/job-runner:0.1.0');
    expect(c.command![0]).toBe('/bin/sh');
    expect(c.command![2]).toContain('exec 1>"/scratch/logs/train gpu.out" 2>&1');
    expect(c.args).toBeUndefined();
    expect(pod.volumes).toEqual([
      { name: 'slurm-dir-0', hostPath: { path: dir, type: 'DirectoryOrCreate' } },
      { name: 'slurm-dir-1', hostPath: { path: '/scratch/logs', type: 'DirectoryOrCreate' } },
    ]);
    expect(c.volumeMounts).toEqual([{ name: 'slurm-dir-0', mountPath: dir }, { name: 'slurm-dir-1', mountPath: '/scratch/logs' }]);
    expect(job.spec).toMatchObject({ completions: 1, parallelism: 1, backoffLimit: 0 });
  });

  it('writes stdout and stderr where --output / --error say (run by /bin/sh as the pod would)', () => {
    runLikeKubelet(cmd({}), 0);
    expect(readFileSync(join(dir, 'slurm-123.out'), 'utf8')).toMatch(/^id=123 pid=\d+ name=train gpu task=none\nerr\n$/);
    runLikeKubelet(cmd({ output: '%x-%j.out', error: '%x-%j.err' }), 0);
    expect(readFileSync(join(dir, 'train gpu-123.out'), 'utf8')).toMatch(/^id=123 pid=\d+ /);
    expect(readFileSync(join(dir, 'train gpu-123.err'), 'utf8')).toBe('err\n');
  });

  it('an array becomes an Indexed Job: one completion per index, %limit at once, SLURM_ARRAY_* per pod', () => {
    const c = cmd({ array: '1,3,5-9:2%2', output: 'arr-%A_%a.out' });
    const job = buildJob(c);
    expect(job.spec).toMatchObject({ completions: 5, parallelism: 2, backoffLimitPerIndex: 0, activeDeadlineSeconds: 600 * 3 });
    expect(job.spec!.backoffLimit).toBeUndefined();
    const env = Object.fromEntries(slurmScriptParts(c)!.env.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ SLURM_ARRAY_JOB_ID: '123', SLURM_ARRAY_TASK_COUNT: '5', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_MAX: '9', SLURM_ARRAY_TASK_STEP: '2' });
    runLikeKubelet(c, 3); // completion index 3 → array index 7
    expect(readFileSync(join(dir, 'arr-123_7.out'), 'utf8')).toMatch(/task=7\n/);
    expect(parseArray('0-10:2')).toEqual({ indices: [0, 2, 4, 6, 8, 10] });
    expect(parseArray('0-15%4')).toMatchObject({ limit: 4 });
    expect(() => parseArray('3-1')).toThrow(/empty range/);
    expect(() => parseArray('x')).toThrow(/slurm.meridian.dev\/array: "x" in "x" is not N, N-M or N-M:S/);
  });
});
