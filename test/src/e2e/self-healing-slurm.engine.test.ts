// GPU-fault self-healing on a Slurm member, everything real: Postgres, Temporal, the hub, the harness Slurm
// cluster with `edge-agent --kind slurm`, and one `edge-agent --kind collector` per Slurm node over the fake
// NVML. XID 79 on the node running a batch job → Slurm drains the node with a `meridian:` reason → the job's
// batch script gets its checkpoint signal (SIGUSR1, its trap writes a checkpoint) while it still runs → the job
// is requeued and completes on the other node, resuming from the checkpoint → the fake GPU heals → the node
// is resumed.
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAddonIfStale, buildFakeNvml } from '@meridian/native/fixtures';
import { parseScontrolJobs, parseScontrolNodes } from '@meridian/slurm-bridge/parsers/scontrol';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import { DEFAULT_REMEDIATION } from '@meridian/hub/telemetry/remediation-policy';
import { ADMIN_TOKEN, Api, FAST, waitFor } from '../hub/helpers.ts';
import { PostgresEngine } from '../harness/postgres.ts';
import { RunDir } from '../harness/rundir.ts';
import { SlurmCluster } from '../harness/slurm.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { CollectorProcess } from './collector-process.ts';
import { SlurmAgentProcess } from './slurm-agents.ts';

type Job = { id: string; state: string; attempt: number; reason: string | null };
type Event = { type: string; message: string; at: string; attempt: number | null };

describe('GPU-fault self-healing on Slurm (collectors + hub + edge-agent --kind slurm)', () => {
  let pgEngine: PostgresEngine;
  let temporal: TemporalEngine;
  let slurm: SlurmCluster;
  let hub: Hub;
  let admin: Api;
  let runDir: RunDir;
  let agent: SlurmAgentProcess;
  const collectors = new Map<string, CollectorProcess>();

  const get = async (id: string): Promise<Job> => (await admin.get<Job>(`/api/v1/jobs/${id}`)).body;
  const slurmNode = (name: string) => parseScontrolNodes(slurm.run('scontrol', ['show', 'node', name, '-o']).stdout)[0]!;
  const slurmJobs = (jobId: string) => parseScontrolJobs(slurm.run('scontrol', ['show', 'job', '-o']).stdout).filter((j) => j.comment.startsWith(`meridian:${jobId}:`));

  beforeAll(async () => {
    await buildAddonIfStale();
    await buildFakeNvml();
    [pgEngine, temporal, slurm] = await Promise.all([PostgresEngine.start(), TemporalEngine.start(), SlurmCluster.start({ clusterName: 'hpc', restd: false })]);
    hub = await startHub({ databaseUrl: pgEngine.url, temporalAddress: temporal.address, ...FAST, remediation: { ...DEFAULT_REMEDIATION, healthPollMs: 500, healthyPolls: 2 } });
    admin = new Api(hub.url, ADMIN_TOKEN);
    expect((await admin.post('/api/v1/projects', { name: 'hpc-users' })).status).toBe(201);
    const r = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'hpc', region: 'hpc', kind: 'slurm', prices: { a100: { onDemand: 1 } } });
    expect(r.status).toBe(201);
    runDir = RunDir.create('e2e-self-healing-slurm');
    agent = new SlurmAgentProcess({ hubUrl: hub.url, clusterId: 'hpc', credential: r.body.credential, slurmConf: slurm.confPath, runDir, args: ['--slurm-poll-interval', '500'] });
    for (const node of ['gpu-0', 'gpu-1']) collectors.set(node, new CollectorProcess({ hubUrl: hub.url, clusterId: 'hpc', credential: r.body.credential, node, runDir }));
    await Promise.all([agent.start(), ...[...collectors.values()].map((c) => c.start())]);
    await waitFor('Slurm inventory at the hub', async () => (await admin.get<{ items: unknown[] }>('/api/v1/nodes?cluster=hpc')).body.items.length === 2, 60_000, 250);
    await waitFor('GPU telemetry of both nodes', async () => {
      const gpus = (await admin.get<{ items: { hostname: string }[] }>('/api/v1/telemetry/gpus?cluster=hpc')).body.items;
      return ['gpu-0', 'gpu-1'].every((n) => gpus.some((g) => g.hostname === n));
    }, 60_000, 250);
  }, 300_000);

  afterAll(async () => {
    for (const c of collectors.values()) await c.stop();
    await agent?.stop();
    await hub?.stop();
    await slurm?.stop();
    await Promise.all([pgEngine?.stop(), temporal?.stop()]);
    runDir?.remove();
  });

  it('XID 79: the node is drained with a meridian: reason, the job checkpoints on SIGUSR1, completes on the other node, the node resumes once healthy', async () => {
    // the harness runs batch scripts for real: attempt 1 traps the checkpoint signal and writes a checkpoint;
    // an attempt that finds one resumes from it and finishes
    const dir = join(runDir.path, 'ckpt');
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777);
    const script = [
      '#!/bin/bash',
      `if [ -f ${dir}/ckpt ]; then echo "attempt $MERIDIAN_ATTEMPT resumed from $(cat ${dir}/ckpt)" > ${dir}/resumed; sleep 2; exit 0; fi`,
      `trap 'echo "attempt $MERIDIAN_ATTEMPT on $SLURMD_NODENAME" > ${dir}/ckpt' USR1`,
      'for i in $(seq 1 240); do sleep 0.25; done',
    ].join('\n');
    const r = await admin.post<Job>('/api/v1/jobs', {
      name: 'slurm-train',
      project: 'hpc-users',
      resources: { gpus: 1, cpu: 1, memory: '512Mi' },
      workload: { script: `${script}\n` },
      checkpoint: { signal: 'SIGUSR1', graceSeconds: 2 },
      placement: { clusters: ['hpc'] },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const id = r.body.id;
    const first = await waitFor('attempt 1 running in Slurm', async () => slurmJobs(id).find((j) => j.state === 'RUNNING' && j.comment === `meridian:${id}:1`), 90_000, 250);
    const x = first.nodeList;
    expect(['gpu-0', 'gpu-1']).toContain(x);
    await collectors.get(x)!.xid(0, 79, { lost: true });

    const drained = await waitFor(`${x} drained`, async () => {
      const n = slurmNode(x);
      return n.flags.includes('DRAIN') ? n : null;
    }, 30_000, 250);
    expect(drained.reason).toMatch(/^meridian: GPU fault: .*XID 79 \(GPU has fallen off the bus\)/);

    const moved = await waitFor('attempt 2 running on the other node', async () => slurmJobs(id).find((j) => j.comment === `meridian:${id}:2` && j.nodeList !== ''), 60_000, 250);
    expect(moved.nodeList).not.toBe(x);
    await waitFor(`job ${id} Succeeded`, async () => (await get(id)).state === 'Succeeded', 60_000, 250);
    expect((await get(id)).attempt).toBe(2);
    expect(slurmNode(x).flags).toContain('DRAIN'); // the GPU is still lost

    // the checkpoint was written by attempt 1 on the faulty node, before the hub stopped it and requeued the job
    expect(readFileSync(join(dir, 'ckpt'), 'utf8')).toBe(`attempt 1 on ${x}\n`);
    expect(readFileSync(join(dir, 'resumed'), 'utf8')).toBe(`attempt 2 resumed from attempt 1 on ${x}\n`);
    const events = (await admin.get<{ items: Event[] }>(`/api/v1/jobs/${id}/events?limit=1000`)).body.items;
    const ckpt = events.find((e) => e.type === 'checkpoint')!;
    expect(ckpt.message).toMatch(/^checkpoint signal SIGUSR1 delivered .*; 2 s to checkpoint before the attempt is stopped/);
    const requeued = events.find((e) => e.type === 'requeued')!;
    expect(statSync(join(dir, 'ckpt')).mtimeMs).toBeLessThan(new Date(requeued.at).getTime());
    expect(new Date(requeued.at).getTime() - new Date(ckpt.at).getTime()).toBeGreaterThanOrEqual(1900); // the grace
    expect(slurmJobs(id).find((j) => j.comment === `meridian:${id}:1`)?.state).toBe('CANCELLED');

    collectors.get(x)!.heal();
    await waitFor(`${x} resumed`, async () => !slurmNode(x).flags.includes('DRAIN'), 60_000, 250);
    const steps = await waitFor('return_to_service event', async () => {
      const e = (await admin.get<{ items: Event[] }>(`/api/v1/clusters/hpc/nodes/${x}/events`)).body.items.filter((v) => v.type.startsWith('remediation.')).map((v) => v.type);
      return e.includes('remediation.return_to_service') ? e : null;
    }, 15_000, 200);
    expect(steps).toEqual(['remediation.quarantine', 'remediation.checkpoint_jobs', 'remediation.requeue_jobs', 'remediation.reboot_node', 'remediation.wait_healthy', 'remediation.return_to_service']);
  }, 180_000);
});
