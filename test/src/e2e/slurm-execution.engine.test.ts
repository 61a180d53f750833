// How the Slurm agent runs a dispatch on a real Slurm 22.05: under the Meridian job ID (the job-ID library in
// sbatch), as the submitting user's Unix account (sbatch --uid/--gid), pinned to the hub's nodes (--nodelist)
// with Slurm's pending reason reported up, GPU shares as gres/shard, refused dispatches reported at once, and
// a cancel of an attempt Slurm never had answered at once.
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentEvent, DispatchCommand, JobStatusEvent } from '@meridian/protocol/agent-protocol';
import { SlurmDriver, type SlurmDriverOptions } from '@meridian/edge-agent/slurm/driver';
import { parseScontrolJobs } from '@meridian/slurm-bridge/parsers/scontrol';
import { LocalTransport } from '@meridian/slurm-bridge/transports/local';
import { dispatchCommand } from '../edge-agent/dispatch-command.ts';
import { buildJobIdLib } from '../harness/sbatch-jobid.ts';
import { SlurmCluster } from '../harness/slurm.ts';
import { ensureUnixUser } from '../harness/users.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let slurm: SlurmCluster;
let out: string;
let jobIdLib: string;
const drivers: SlurmDriver[] = [];
let alice: { uid: number };

function driver(over: Partial<SlurmDriverOptions> = {}): { d: SlurmDriver; events: AgentEvent[] } {
  const transport = new LocalTransport({ env: { SLURM_CONF: slurm.confPath }, sbatchJobIdLib: jobIdLib });
  const d = new SlurmDriver({ transport, clusterName: 'hpc', workDir: out, pollIntervalMs: 300, ...over });
  const events: AgentEvent[] = [];
  d.onEvent((e) => events.push(e));
  drivers.push(d);
  return { d, events };
}

/** A job whose script records what it sees, then sleeps. */
function job(id: string, over: Partial<DispatchCommand> = {}, sleepSec = 0): DispatchCommand {
  const script = `#!/bin/bash\necho "$SLURM_JOB_ID $(id -un) \${SLURM_SHARDS_ON_NODE-} \${CUDA_VISIBLE_DEVICES-}" > ${out}/${id}.seen\nenv > ${out}/${id}.env\nsleep ${sleepSec}\n`;
  return dispatchCommand(id, { script, ...over });
}

function slurmJobs(filter: (j: ReturnType<typeof parseScontrolJobs>[number]) => boolean) {
  return parseScontrolJobs(slurm.run('scontrol', ['show', 'job', '-o']).stdout).filter(filter);
}

async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined && v !== false && !(Array.isArray(v) && !v.length)) return v;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}; squeue:\n${slurm.run('squeue', ['-a', '-o', '%i %u %T %r %N']).stdout}`);
}

const statusOf = (events: AgentEvent[], jobId: string) => events.filter((e): e is JobStatusEvent => e.type === 'job.status' && e.jobId === jobId);

beforeAll(async () => {
  jobIdLib = buildJobIdLib();
  alice = ensureUnixUser('alice');
  slurm = await SlurmCluster.start({
    clusterName: 'hpc',
    restd: false,
    nodes: [
      { name: 'gpu-0', cpus: 8, memoryMiB: 16000, gpus: 1, gpuType: 'a100', shards: 10 },
      { name: 'gpu-1', cpus: 8, memoryMiB: 16000, gpus: 4, gpuType: 'a100' },
    ],
    // Slurm's own IDs start above the ones Meridian hands out (docs/slurm.md, "One job ID")
    extraConfig: ['FirstJobId=1000000'],
  });
  out = join(slurm.dir, 'jobs');
  mkdirSync(out, { recursive: true });
  chmodSync(out, 0o777);
}, 120_000);

afterAll(async () => {
  for (const d of drivers) await d.stop();
  await slurm?.stop();
});

describe('one job ID', () => {
  it('the Slurm job has the Meridian ID: squeue, SLURM_JOB_ID and slurm-%j.out all say it; the library stays out of the job', async () => {
    const { d } = driver();
    const r = await d.dispatch(job('4242'));
    expect(r).toEqual({ clusterJobId: '4242', existing: false });
    await until('4242 to finish', () => slurmJobs((j) => j.jobId === '4242' && j.state === 'COMPLETED').length > 0);
    expect(readFileSync(join(out, '4242.seen'), 'utf8').split(' ')[0]).toBe('4242');
    expect(existsSync(join(out, 'slurm-4242.out'))).toBe(true);
    const env = readFileSync(join(out, '4242.env'), 'utf8');
    expect(env).not.toMatch(/^LD_PRELOAD=/m);
    expect(env).not.toMatch(/^MERIDIAN_SLURM_JOB_ID=/m);
    // a resent dispatch finds the job by its comment and submits nothing
    expect(await d.dispatch(job('4242'))).toEqual({ clusterJobId: '4242', existing: true });
  });

  it('a later attempt while Slurm still remembers the ID runs under an ID of its own', async () => {
    const { d } = driver();
    const r = await d.dispatch(job('4242', { attempt: 2 }));
    expect(Number(r.clusterJobId)).toBeGreaterThanOrEqual(1_000_000);
  });

  it('without the library the agent does not ask for an ID (Slurm picks one above FirstJobId)', async () => {
    const d = new SlurmDriver({ transport: new LocalTransport({ env: { SLURM_CONF: slurm.confPath } }), workDir: out });
    drivers.push(d);
    expect(Number((await d.dispatch(job('4243'))).clusterJobId)).toBeGreaterThanOrEqual(1_000_000);
  });
});

describe('identity', () => {
  it('a job of Meridian user alice runs as Unix account alice, squeue shows alice, and only alice reads its secrets', async () => {
    const { d } = driver({ runAs: 'submitter' });
    const withSecret = job('4300', { user: 'alice', secrets: { TOKEN: 's3cr3t' } }, 5);
    withSecret.script = withSecret.script!.replace('sleep', '. "$MERIDIAN_SECRETS_FILE"; echo "$TOKEN" > ' + out + '/4300.secret; sleep');
    await d.dispatch(withSecret);
    const [sj] = await until('4300 in Slurm', () => slurmJobs((j) => j.jobId === '4300'));
    expect(sj!.user).toBe('alice');
    expect(slurm.run('squeue', ['-h', '-j', '4300', '-o', '%u']).stdout.trim()).toBe('alice');
    const seen = await until('4300 to write', () => (existsSync(join(out, '4300.seen')) ? readFileSync(join(out, '4300.seen'), 'utf8') : undefined));
    expect(seen.split(' ').slice(0, 2)).toEqual(['4300', 'alice']);
    expect(await until('4300 to read its secret', () => (existsSync(join(out, '4300.secret')) ? readFileSync(join(out, '4300.secret'), 'utf8') : undefined))).toBe('s3cr3t\n');
    const secretFile = join(out, '.meridian-secrets', '4300.1', 'secrets.env');
    expect(statSync(secretFile)).toMatchObject({ uid: alice.uid, mode: 0o100600 });
    expect(statSync(join(out, '.meridian-secrets')).mode & 0o777).toBe(0o711);
  });

  it('a user with no Unix account, root, or no user at all is refused at once with the reason', async () => {
    const { d, events } = driver({ runAs: 'submitter', userMap: { admin: 'root' } });
    await expect(d.dispatch(job('4301', { user: 'nosuchuser' }))).rejects.toThrow(/Meridian user nosuchuser has no Unix account "nosuchuser"/);
    await expect(d.dispatch(job('4302', { user: 'admin' }))).rejects.toThrow(/Unix account root has uid 0; jobs run only as accounts with uid >= 1000/);
    await expect(d.dispatch(job('4303'))).rejects.toThrow(/has no submitting user/);
    expect(statusOf(events, '4301')[0]).toMatchObject({ phase: 'Failed', reason: expect.stringMatching(/^DispatchFailed: Meridian user nosuchuser/) });
    expect(slurmJobs((j) => ['4301', '4302', '4303'].includes(j.jobId))).toEqual([]);
    expect(alice.uid).toBeGreaterThanOrEqual(1000);
  });
});

describe('placement', () => {
  it('the job runs on the node the hub chose; when that node is busy, Slurm’s reason goes up', async () => {
    const { d, events } = driver();
    await d.dispatch(job('4400', { nodes: ['gpu-1'] }, 1));
    const [sj] = await until('4400 on gpu-1', () => slurmJobs((j) => j.jobId === '4400' && j.nodeList === 'gpu-1'));
    expect(slurm.run('scontrol', ['show', 'job', '4400']).stdout).toMatch(/ReqNodeList=gpu-1 /);
    expect(sj!.nodeList).toBe('gpu-1');
    // a native job holds every CPU of gpu-0; the next job pinned there waits, and the agent says why
    const native = slurm.run('sbatch', ['--parsable', '-w', 'gpu-0', '-c', '8', `--chdir=${out}`, '--wrap', 'sleep 60']);
    expect(native.code, native.stderr).toBe(0);
    await until('native job running', () => slurmJobs((j) => j.jobId === native.stdout.trim() && j.state === 'RUNNING').length > 0);
    d.start();
    await d.dispatch(job('4401', { nodes: ['gpu-0'] }));
    const pending = await until('4401 pending with a reason', () => statusOf(events, '4401').find((e) => e.phase === 'Pending' && e.reason));
    expect(pending.reason).toMatch(/^(Resources|Priority)$/);
    expect(pending.message).toBe(`Slurm job 4401 pending: ${pending.reason}`);
    expect(pending.pendingReason).toBe(pending.reason);
    slurm.run('scancel', [native.stdout.trim(), '4401']);
  });
});

describe('GPU shares as gres/shard', () => {
  const share = (id: string, milliGpu: number) => job(id, { perTask: { cpuMilli: 1000, memoryMiB: 512, gpus: 0, rdma: 0, milliGpu }, nodes: ['gpu-0'] }, 30);

  it('two 500-milli jobs share the one GPU of gpu-0; two 600-milli jobs do not', async () => {
    const { d } = driver({ shardsPerGpu: 10 });
    const nodes = await d.inventory();
    expect(nodes.find((n) => n.name === 'gpu-0')!.labels['meridian.dev/gpu-share']).toBe('shard');
    expect(nodes.find((n) => n.name === 'gpu-1')!.labels['meridian.dev/gpu-share']).toBeUndefined();
    await d.dispatch(share('4500', 500));
    await d.dispatch(share('4501', 500));
    await until('both halves running', () => slurmJobs((j) => ['4500', '4501'].includes(j.jobId) && j.state === 'RUNNING').length === 2);
    expect(slurm.run('scontrol', ['show', 'job', '4500']).stdout).toMatch(/TresPerNode=gres:shard:5/);
    for (const id of ['4500', '4501']) expect(slurm.run('scontrol', ['show', 'job', '-d', id]).stdout).toMatch(/Nodes=gpu-0 .*GRES=shard:5\(IDX:0\)/);
    for (const id of ['4500', '4501']) {
      const seen = await until(`${id} to write`, () => (existsSync(join(out, `${id}.seen`)) ? readFileSync(join(out, `${id}.seen`), 'utf8').trim() : undefined));
      expect(seen.split(' ')[2]).toBe('5'); // SLURM_SHARDS_ON_NODE
    }
    slurm.run('scancel', ['4500', '4501']);
    await until('halves gone', () => slurmJobs((j) => ['4500', '4501'].includes(j.jobId) && j.state === 'RUNNING').length === 0);

    await d.dispatch(share('4502', 600));
    await d.dispatch(share('4503', 600));
    await until('one 600 running', () => slurmJobs((j) => j.jobId === '4502' && j.state === 'RUNNING').length > 0);
    await sleep(2000);
    const [second] = slurmJobs((j) => j.jobId === '4503');
    expect(second).toMatchObject({ state: 'PENDING', reason: 'Resources' });
    slurm.run('scancel', ['4502', '4503']);
  });

  it('an agent not set up for shares refuses a share at once, saying why, and offers no node for shares', async () => {
    const { d, events } = driver();
    expect((await d.inventory()).find((n) => n.name === 'gpu-0')!.labels['meridian.dev/gpu-share']).toBeUndefined();
    await expect(d.dispatch(share('4504', 500))).rejects.toThrow(/offers no GPU shares \(gres\/shard\)/);
    expect(statusOf(events, '4504')[0]).toMatchObject({ phase: 'Failed', reason: expect.stringMatching(/^DispatchFailed: job 4504 asks for 500 milli-GPU/) });
  });
});

describe('dispatch failures and cancels', () => {
  it('sbatch’s refusal is the attempt’s Failed reason, reported at once', async () => {
    const { d, events } = driver();
    const t0 = Date.now();
    await expect(d.dispatch(job('4600', { slurm: { partition: 'nope' } }))).rejects.toThrow(/Invalid partition name specified/);
    const ev = statusOf(events, '4600')[0]!;
    expect(ev).toMatchObject({ phase: 'Failed', attempt: 1 });
    expect(ev.reason).toBe('DispatchFailed: sbatch failed (exit 1): sbatch: error: invalid partition specified: nope sbatch: error: Batch job submission failed: Invalid partition name specified');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('a cancel of an attempt Slurm never had is Cancelled at once, and a late dispatch of it submits nothing', async () => {
    const { d, events } = driver();
    expect(await d.cancel({ jobId: '4601', attempt: 1 })).toEqual({ cancelled: [] });
    expect(statusOf(events, '4601')).toEqual([expect.objectContaining({ phase: 'Cancelled', attempt: 1, message: 'cancelled before Slurm had a job for it' })]);
    await expect(d.dispatch(job('4601'))).rejects.toThrow(/was cancelled before Slurm had it/);
    expect(slurmJobs((j) => j.jobId === '4601')).toEqual([]);
    // the refused resend is not reported as a failure on top of the cancel
    expect(statusOf(events, '4601').map((e) => e.phase)).toEqual(['Cancelled']);
  });

  it('a cancel racing its dispatch waits for it and cancels the job it made', async () => {
    const { d } = driver();
    const dispatched = d.dispatch(job('4602', {}, 60));
    await sleep(50); // the dispatch is under way (looking Slurm up, or in sbatch)
    const cancelled = await d.cancel({ jobId: '4602', attempt: 1 });
    expect((await dispatched).clusterJobId).toBe('4602');
    expect(cancelled.cancelled).toEqual(['4602']);
    await until('4602 cancelled', () => slurmJobs((j) => j.jobId === '4602' && j.state === 'CANCELLED').length > 0);
  });
});
