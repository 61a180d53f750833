// End to end with everything real for a Slurm member: Postgres, Temporal, the hub, the harness Slurm cluster
// and one `edge-agent --kind slurm` process. A batch script submitted to the hub runs as a real Slurm job;
// the hub reports Succeeded, and a script that exits 3 is Failed with exit code 3. GPUs held by Slurm jobs the hub
// never saw count as used at the hub, so a Meridian job waits queued instead of being dispatched into them.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import { ADMIN_TOKEN, Api, FAST, waitFor } from '../hub/helpers.ts';
import { parseScontrolJobs } from '@meridian/slurm-bridge/parsers/scontrol';
import { PostgresEngine } from '../harness/postgres.ts';
import { RunDir } from '../harness/rundir.ts';
import { SlurmCluster } from '../harness/slurm.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { SlurmAgentProcess } from './slurm-agents.ts';

type Job = { id: string; state: string; cluster: string | null; exitCode: number | null; reason: string | null; clusterJobId?: string | null; startedAt: string | null; finishedAt: string | null };
type NodeRow = { clusterId: string; name: string; info: { requested: { gpus: number }; gpus: { milliUsed: number }[] } };

function scriptJob(name: string, script: string): Record<string, unknown> {
  return {
    name,
    project: 'hpc-users',
    tasks: 1,
    resources: { gpus: 1, cpu: 1, memory: '512Mi' },
    workload: { script },
    placement: { clusters: ['hpc'] },
  };
}

describe('a Slurm cluster end to end (hub + edge-agent --kind slurm + Slurm)', () => {
  let pgEngine: PostgresEngine;
  let temporal: TemporalEngine;
  let slurm: SlurmCluster;
  let hub: Hub;
  let admin: Api;
  let runDir: RunDir;
  let agent: SlurmAgentProcess;

  const submit = (spec: Record<string, unknown>): Promise<string> => admin.submitJob(spec);
  const until = (id: string, state: string, ms = 90_000): Promise<Job> => admin.untilJobState<Job>(id, state, { ms, context: () => `agent log:\n${agent.logTail()}` });
  /** Slurm's own view of the jobs carrying this federation job (the driver puts the id in the comment). */
  const slurmJobs = (jobId: string) =>
    parseScontrolJobs(slurm.run('scontrol', ['show', 'job', '-o']).stdout).filter((j) => j.comment.startsWith(`meridian:${jobId}:`));

  beforeAll(async () => {
    [pgEngine, temporal, slurm] = await Promise.all([PostgresEngine.start(), TemporalEngine.start(), SlurmCluster.start({ clusterName: 'hpc', restd: false })]);
    hub = await startHub({ databaseUrl: pgEngine.url, temporalAddress: temporal.address, ...FAST });
    admin = new Api(hub.url, ADMIN_TOKEN);
    expect((await admin.post('/api/v1/projects', { name: 'hpc-users' })).status).toBe(201);
    const r = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'hpc', region: 'on-prem', kind: 'slurm', prices: { a100: { onDemand: 1.1 } } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    runDir = RunDir.create('e2e-slurm-agent');
    // the agent's default poll interval: the native-usage test measures what a real deployment gets
    agent = await new SlurmAgentProcess({ hubUrl: hub.url, clusterId: 'hpc', credential: r.body.credential, slurmConf: slurm.confPath, runDir }).start();
    await waitFor('Slurm inventory at the hub', async () => (await admin.get<{ items: NodeRow[] }>('/api/v1/nodes?cluster=hpc')).body.items.length === 2, 60_000, 250);
  });
  afterAll(async () => {
    await agent?.stop();
    await hub?.stop();
    await Promise.all([slurm?.stop(), pgEngine?.stop(), temporal?.stop()]);
    runDir?.remove();
  });

  it('the agent serves /healthz and /metrics in Slurm mode', async () => {
    const h = (await (await fetch(`${agent.url}/healthz`)).json()) as { ok: boolean; slurm: string; hub: string; version: string };
    expect(h).toMatchObject({ ok: true, slurm: 'up', hub: 'ready' });
    expect(h.version).toMatch(/slurm/);
    const m = await (await fetch(`${agent.url}/metrics`)).text();
    expect(m).toMatch(/^meridian_agent_hub_connected 1$/m);
    expect(m).toMatch(/^meridian_agent_slurm_up 1$/m);
    expect(m).toMatch(/^meridian_agent_nodes 2$/m);
  });

  it('a batch script runs as a real Slurm job and the hub reports Succeeded', async () => {
    const id = await submit(scriptJob('hello-slurm', '#!/bin/bash\necho "hello from $MERIDIAN_JOB_ID on $SLURMD_NODENAME" > "hello-$MERIDIAN_JOB_ID.txt"\nsleep 1\n'));
    const j = await until(id, 'Succeeded');
    expect(j.cluster).toBe('hpc');
    expect(j.exitCode).toBe(0);
    expect(j.startedAt).toBeTruthy();
    const sj = slurmJobs(id);
    expect(sj, slurm.run('scontrol', ['show', 'job', '-o']).stdout).toHaveLength(1);
    expect(sj[0]!.state).toBe('COMPLETED');
    expect(sj[0]!.exitCode).toBe(0);
    const out = join(agent.workDir, `hello-${id}.txt`);
    expect(existsSync(out), `${out} (agent log:\n${agent.logTail()})`).toBe(true);
    expect(readFileSync(out, 'utf8')).toMatch(new RegExp(`^hello from ${id} on gpu-[01]\\n$`));
  });

  it('a script that exits 3 is Failed with exit code 3 at the hub', async () => {
    const id = await submit(scriptJob('doomed-slurm', '#!/bin/bash\necho failing\nexit 3\n'));
    const j = await until(id, 'Failed');
    expect(j.exitCode).toBe(3);
    const sj = slurmJobs(id);
    expect(sj).toHaveLength(1);
    expect(sj[0]!.state).toBe('FAILED');
    expect(sj[0]!.exitCode).toBe(3);
  });

  it('native Slurm jobs that fill the GPUs show as used at the hub within 10 s; a Meridian job then waits queued with a reason', async () => {
    const hubGpus = async () => {
      const items = (await admin.get<{ items: NodeRow[] }>('/api/v1/nodes?cluster=hpc')).body.items;
      return { requested: items.reduce((s, n) => s + n.info.requested.gpus, 0), marked: items.reduce((s, n) => s + n.info.gpus.filter((g) => g.milliUsed > 0).length, 0) };
    };
    expect(await hubGpus()).toEqual({ requested: 0, marked: 0 });
    // straight to slurmctld, as a user of the cluster would: the hub never hears of these jobs
    const native = [0, 1].map(() => {
      const r = slurm.run('sbatch', ['--parsable', '--gres=gpu:4', '-N1', `--chdir=${agent.workDir}`, '-o', '/dev/null', '--wrap', 'sleep 600']);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.trim().split(';')[0]!;
    });
    const t0 = Date.now();
    try {
      await waitFor('native GPU use at the hub', async () => {
        const g = await hubGpus();
        return g.requested === 8 && g.marked === 8;
      }, 10_000, 100);
      const seenMs = Date.now() - t0;
      expect(seenMs, `hub showed native use after ${seenMs} ms`).toBeLessThan(10_000);
      console.log(`native Slurm GPU use at the hub ${seenMs} ms after sbatch`);

      const id = await submit({ ...scriptJob('waits-for-gpus', '#!/bin/bash\ntrue\n'), resources: { gpus: 2, cpu: 1, memory: '512Mi' } });
      // several scheduler cycles (500 ms each) and agent polls go by: still Queued, with the reason shown
      await new Promise((r) => setTimeout(r, 5000));
      const j = (await admin.get<Job>(`/api/v1/jobs/${id}`)).body;
      expect(j.state, JSON.stringify(j)).toBe('Queued');
      expect(j.reason, JSON.stringify(j)).toBeTruthy();
      expect(slurmJobs(id)).toHaveLength(0);

      // the native jobs end: the GPUs are free again and the Meridian job runs
      expect(slurm.run('scancel', native).code).toBe(0);
      const done = await until(id, 'Succeeded');
      expect(done.cluster).toBe('hpc');
    } finally {
      slurm.run('scancel', native);
    }
  });
});
