import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from './daemon.ts';
import { SlurmCluster } from './slurm.ts';

describe('Slurm engine', () => {
  let slurm: SlurmCluster;
  beforeAll(async () => {
    slurm = await SlurmCluster.start({ clusterName: 'harness' });
  });
  afterAll(async () => {
    await slurm?.stop();
  });

  it('shows its GPU nodes idle in sinfo', () => {
    const r = slurm.run('sinfo', ['-h', '-N', '-o', '%N %t %G']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('gpu-0 idle gpu:a100:4');
    expect(r.stdout).toContain('gpu-1 idle gpu:a100:4');
  });

  it('runs an sbatch job with --gres=gpu:1 to completion', async () => {
    const out = join(slurm.dir, 'gres-%j.out');
    const r = slurm.run('sbatch', ['--parsable', '--gres=gpu:1', `--output=${out}`, '--wrap', 'echo gpus=$SLURM_JOB_GPUS; echo node=$SLURMD_NODENAME']);
    expect(r.stderr).toBe('');
    const jobId = r.stdout.trim();
    expect(jobId).toMatch(/^\d+$/);
    let state = '';
    for (let i = 0; i < 120 && !/COMPLETED|FAILED|CANCELLED|TIMEOUT/.test(state); i++) {
      await sleep(250);
      state = slurm.run('scontrol', ['show', 'job', jobId]).stdout;
    }
    expect(state).toMatch(/JobState=COMPLETED/);
    expect(state).toMatch(/ExitCode=0:0/);
    const text = readFileSync(out.replace('%j', jobId), 'utf8');
    expect(text).toMatch(/^gpus=0\n/);
    expect(text).toMatch(/node=gpu-[01]/);
  });

  it('rejects a job asking for more GPUs than any node has', () => {
    const r = slurm.run('sbatch', ['--gres=gpu:9', '--wrap', 'true']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/sbatch: error: Batch job submission failed/);
  });

  it('serves slurmrestd v0.0.38 with JWT auth', async () => {
    const token = slurm.token();
    const ok = await fetch(`${slurm.restUrl}/slurm/v0.0.38/nodes`, { headers: { 'X-SLURM-USER-NAME': 'root', 'X-SLURM-USER-TOKEN': token } });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { nodes: { name: string; gres: string }[] };
    expect(body.nodes.map((n) => n.name).sort()).toEqual(['gpu-0', 'gpu-1']);
    const anon = await fetch(`${slurm.restUrl}/slurm/v0.0.38/nodes`);
    expect(anon.status).toBe(401);
  });
});
