// GPU → Slurm job mapping against a real Slurm (harness: slurmctld + slurmd with gres gpu) running gres jobs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalRunner } from '@meridian/slurm-bridge/transports/runner';
import { SlurmCluster } from '../harness/slurm.ts';
import { StaticGpuSource, TelemetryCollector } from '@meridian/edge-agent/telemetry/collector';
import type { GpuReading, Scrape } from '@meridian/edge-agent/telemetry/collector';
import { SlurmAllocationSource } from '@meridian/edge-agent/telemetry/slurm-allocations';

let slurm: SlurmCluster;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function gpu(index: number): GpuReading {
  return { index, uuid: `GPU-slurm-${index}`, name: 'NVIDIA A100-SXM4-80GB', pciBusId: `00000000:2${index}:00.0`, health: 'ok', metrics: { gpu_util: 90 } };
}

function sbatch(args: string[]): string {
  const r = slurm.run('sbatch', ['--parsable', ...args, '--wrap', 'sleep 300']);
  if (r.code !== 0) throw new Error(`sbatch failed: ${r.stderr}`);
  return r.stdout.trim().split(';')[0]!;
}

async function waitRunning(ids: string[]): Promise<void> {
  for (let i = 0; i < 120; i++) {
    const out = slurm.run('squeue', ['--noheader', '--format=%A %T']).stdout;
    const running = new Set(out.split('\n').filter((l) => l.endsWith(' RUNNING')).map((l) => l.split(' ')[0]));
    if (ids.every((id) => running.has(id))) return;
    await sleep(500);
  }
  throw new Error(`jobs ${ids.join(', ')} not running: ${slurm.run('squeue', []).stdout}`);
}

function utilLabels(scrape: Scrape): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const s of scrape.series) {
    const l = Object.fromEntries(s.labels.map((x) => [x.name, x.value]));
    if (l.__name__ === 'DCGM_FI_DEV_GPU_UTIL') out[l.gpu!] = l;
  }
  return out;
}

beforeAll(async () => {
  slurm = await SlurmCluster.start({ clusterName: 'gpumap', restd: false, nodes: [{ name: 'gpu-0', cpus: 8, memoryMiB: 16000, gpus: 4, gpuType: 'a100' }] });
  await slurm.waitForNodes('idle', ['gpu-0']);
});

afterAll(async () => {
  await slurm?.stop();
});

describe('SlurmAllocationSource', () => {
  it('labels the GPUs a running gres job holds with slurm_job_id / hpc_job (and meridian_job_id), and drops them when it ends', async () => {
    const a = sbatch(['--gres=gpu:2', '--comment=meridian:job-5e1f:1']);
    const b = sbatch(['--gres=gpu:a100:1']);
    const plain = sbatch(['--ntasks=1']); // no GPU
    await waitRunning([a, b, plain]);

    const source = new SlurmAllocationSource({ nodeName: 'gpu-0', runner: new LocalRunner({ env: { SLURM_CONF: slurm.confPath } }), refreshMs: 0 });
    const c = new TelemetryCollector({ gpus: new StaticGpuSource([0, 1, 2, 3].map(gpu)), allocations: source, hostname: 'gpu-0', cluster: 'hpc' });
    const scrape = await c.collect();
    expect(scrape.errors).toEqual([]);
    const byGpu = utilLabels(scrape);
    // Slurm hands out the lowest free indices: a gets 0-1, b gets 2
    expect(byGpu['0']).toMatchObject({ slurm_job_id: a, hpc_job: a, meridian_job_id: 'job-5e1f' });
    expect(byGpu['1']).toMatchObject({ slurm_job_id: a, hpc_job: a });
    expect(byGpu['2']).toMatchObject({ slurm_job_id: b, hpc_job: b });
    expect(byGpu['2']).not.toHaveProperty('meridian_job_id');
    expect(byGpu['3']).not.toHaveProperty('slurm_job_id');
    // the indices really are Slurm's: compare with scontrol's own view of job a
    expect(slurm.run('scontrol', ['show', 'job', '-d', '-o', a]).stdout).toMatch(/GRES=gpu:a100:2\(IDX:0-1\)/);
    expect(await c.registry.metrics()).toMatch(new RegExp(`DCGM_FI_DEV_GPU_UTIL\\{[^}]*slurm_job_id="${b}"`));

    slurm.run('scancel', [a]);
    let after: Record<string, Record<string, string>> = {};
    for (let i = 0; i < 60; i++) {
      after = utilLabels(await c.collect());
      if (!after['0']?.slurm_job_id) break;
      await sleep(500);
    }
    expect(after['0']).not.toHaveProperty('slurm_job_id');
    expect(after['1']).not.toHaveProperty('slurm_job_id');
    expect(after['2']).toMatchObject({ slurm_job_id: b });
    slurm.run('scancel', [b, plain]);
  });

  it('reuses its answer for refreshMs instead of asking Slurm every scrape', async () => {
    let calls = 0;
    const runner = new LocalRunner({ env: { SLURM_CONF: slurm.confPath } });
    const counting = { kind: 'local' as const, exec: (argv: string[], o?: Parameters<LocalRunner['exec']>[1]) => (argv[0] === 'squeue' && calls++, runner.exec(argv, o)), close: async () => {} };
    const s = new SlurmAllocationSource({ nodeName: 'gpu-0', runner: counting, refreshMs: 60_000 });
    await Promise.all([s.allocations(), s.allocations(), s.allocations()]);
    await s.allocations();
    expect(calls).toBe(1); // one squeue for four scrapes
  });

  it('Slurm unreachable or not installed: a clear error in the scrape, GPUs still exported, no crash', async () => {
    const { lines, log } = (() => {
      const lines: string[] = [];
      return { lines, log: { info: (_o: object, m: string) => lines.push(m), warn: (_o: object, m: string) => lines.push(m) } };
    })();
    const wrongConf = new SlurmAllocationSource({ nodeName: 'gpu-0', runner: new LocalRunner({ env: { SLURM_CONF: '/nonexistent/slurm.conf' } }), refreshMs: 0, timeoutMs: 1500, log });
    const c = new TelemetryCollector({ gpus: new StaticGpuSource([gpu(0)]), allocations: wrongConf, hostname: 'gpu-0', cluster: 'hpc' });
    const scrape = await c.collect();
    expect(scrape.errors).toEqual([expect.stringMatching(/^allocations: Slurm GPU job mapping: squeue .* gave no answer within 1500 ms: .*cannot stat file \/nonexistent\/slurm\.conf/)]);
    expect(utilLabels(scrape)['0']).toBeDefined();
    await c.collect();
    expect(lines).toHaveLength(1); // logged once while the failure lasts

    const noSlurm = new SlurmAllocationSource({ nodeName: 'gpu-0', runner: new LocalRunner({ slurmBinDir: '/nonexistent' }), refreshMs: 0 });
    await expect(noSlurm.allocations()).rejects.toThrow(/Slurm GPU job mapping: cannot run squeue: .*ENOENT/);
    expect(() => new SlurmAllocationSource({ nodeName: '' })).toThrow(/nodeName is required/);
  });
});
