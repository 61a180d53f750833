// The Slurm driver against a real Slurm (harness) over the SSH transport (the agent's login-node mode).
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentEvent, DispatchCommand, JobStatusEvent } from '@meridian/protocol/agent-protocol';
import { SlurmCluster } from '../harness/slurm.ts';
import { SshdEngine } from '../harness/sshd.ts';
import { SshTransport } from '@meridian/slurm-bridge/transports/ssh';
import { SlurmDriver } from '@meridian/edge-agent/slurm/driver';
import { dispatchCommand } from './dispatch-command.ts';
import { slurmCommandHandler } from '@meridian/edge-agent/slurm/link';

let slurm: SlurmCluster;
let sshd: SshdEngine;
let driver: SlurmDriver;
let outDir: string;
const events: AgentEvent[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dispatch = (jobId: string, over: Partial<DispatchCommand> = {}): DispatchCommand =>
  dispatchCommand(jobId, { project: 'physics', perTask: { cpuMilli: 1000, memoryMiB: 256, gpus: 1, rdma: 0 }, gpuModel: 'A100', ...over });

async function until(jobId: string, pred: (e: JobStatusEvent) => boolean, timeoutMs = 60_000): Promise<JobStatusEvent> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await driver.pollJobs();
    const ev = events.filter((e): e is JobStatusEvent => e.type === 'job.status' && e.jobId === jobId).at(-1);
    if (ev && pred(ev)) return ev;
    await sleep(300);
  }
  throw new Error(`job ${jobId}: no matching status in ${timeoutMs} ms; got ${JSON.stringify(events.filter((e) => e.type === 'job.status' && e.jobId === jobId))}`);
}

const terminal = (e: JobStatusEvent) => ['Succeeded', 'Failed', 'Cancelled'].includes(e.phase);

beforeAll(async () => {
  [slurm, sshd] = await Promise.all([SlurmCluster.start({ clusterName: 'driver' }), SshdEngine.start()]);
  outDir = join(slurm.dir, 'out');
  mkdirSync(outDir, { recursive: true });
  chmodSync(outDir, 0o777);
  const transport = new SshTransport({ host: sshd.host, port: sshd.port, username: sshd.username, privateKey: sshd.privateKey, env: { SLURM_CONF: slurm.confPath } });
  driver = new SlurmDriver({ transport, clusterName: 'driver', workDir: outDir, runtime: 'host' });
  driver.onEvent((e) => events.push(e));
});

afterAll(async () => {
  await driver?.stop();
  await driver?.transport.close();
  await Promise.all([slurm?.stop(), sshd?.stop()]);
});

describe('Slurm driver (edge agent, Slurm mode)', () => {
  it('starts a job that will hit its time limit (checked at the end)', async () => {
    const r = await driver.dispatch(dispatch('t-timeout', { script: '#!/bin/bash\nsleep 600\n', maxRuntimeSec: 60, perTask: { cpuMilli: 1000, memoryMiB: 100, gpus: 0, rdma: 0 } }));
    expect(r.existing).toBe(false);
  });

  it('reports inventory: nodes, CPUs, memory, GPU gres type and count, partitions, state', async () => {
    await driver.syncInventory();
    const snap = events.find((e) => e.type === 'inventory.snapshot');
    expect(snap?.type).toBe('inventory.snapshot');
    const nodes = snap!.type === 'inventory.snapshot' ? snap!.nodes : [];
    expect(nodes.map((n) => n.name).sort()).toEqual(['gpu-0', 'gpu-1']);
    const n = nodes.find((x) => x.name === 'gpu-1')!;
    expect(n).toMatchObject({ gpuModel: 'a100', capacity: { cpuMilli: 8000, memoryMiB: 16000, gpus: 4 }, unschedulable: false, ready: true, labels: { 'slurm.meridian.dev/partitions': 'gpu' } });
    expect(n.gpus).toHaveLength(4);
    expect(['idle', 'mix']).toContain(n.state);
  });

  it('submits a batch script once, however often the dispatch is resent', async () => {
    // Runs a few seconds so the first poll (after several SSH round trips on a loaded machine) sees it unfinished.
    const cmd = dispatch('j-ok', { script: '#!/bin/bash\nsleep 4\necho "fed=$MERIDIAN_JOB_ID gpus=$SLURM_JOB_GPUS"\n', slurm: { output: join(outDir, 'ok-%j.out') } });
    const handler = slurmCommandHandler(driver);
    const a = await driver.dispatch(cmd);
    const b = await driver.dispatch(cmd);
    expect(b.existing).toBe(true);
    const c = await handler(cmd);
    const ids = new Set([a.clusterJobId, b.clusterJobId, (c.detail as { clusterJobId: string }).clusterJobId]);
    const jobs = await driver.jobsOf('j-ok', 1);
    expect(jobs).toHaveLength(1);
    expect(ids).toEqual(new Set([jobs[0]!.jobId]));
    expect(jobs[0]).toMatchObject({ comment: 'meridian:j-ok:1', name: 'meridian-j-ok', tresPerNode: 'gres:gpu:a100:1' });
    const done = await until('j-ok', terminal);
    expect(done).toMatchObject({ phase: 'Succeeded', exitCode: 0, clusterJobId: jobs[0]!.jobId });
    expect(done.tasks[0]).toMatchObject({ phase: 'Succeeded', exitCode: 0 });
    expect(done.tasks[0]!.node).toMatch(/^gpu-[01]$/);
    expect(readFileSync(join(outDir, `ok-${jobs[0]!.jobId}.out`), 'utf8')).toBe('fed=j-ok gpus=0\n');
    // the hub's logs command reads the output file's tail on the cluster
    expect(await handler({ kind: 'logs', jobId: 'j-ok', task: 0, tailLines: 10 })).toMatchObject({ ok: true, detail: { text: 'fed=j-ok gpus=0\n' } });
    expect((await handler({ kind: 'logs', jobId: 'nope', task: 0, tailLines: 10 })).ok).toBe(false);
    // it was seen running before it finished
    expect(events.some((e) => e.type === 'job.status' && e.jobId === 'j-ok' && (e.phase === 'Running' || e.phase === 'Pending'))).toBe(true);
  });

  it('keys idempotency by job id and attempt', async () => {
    const cmd = dispatch('j-twice', { script: '#!/bin/bash\ntrue\n' });
    const all = await Promise.all([driver.dispatch(cmd), driver.dispatch(cmd), driver.dispatch(cmd)]);
    expect(all.filter((r) => !r.existing)).toHaveLength(1);
    expect(await driver.jobsOf('j-twice', 1)).toHaveLength(1);
    // a new attempt is a new Slurm job
    await driver.dispatch({ ...cmd, attempt: 2 });
    expect(await driver.jobsOf('j-twice', 2)).toHaveLength(1);
  });

  it('reports a failing exit with code:signal', async () => {
    await driver.dispatch(dispatch('j-fail', { script: '#!/bin/bash\nexit 3\n' }));
    const ev = await until('j-fail', terminal);
    expect(ev).toMatchObject({ phase: 'Failed', exitCode: 3, reason: 'NonZeroExitCode' });
    expect(ev.message).toMatch(/FAILED ExitCode=3:0/);
  });

  it('reports death by signal', async () => {
    await driver.dispatch(dispatch('j-sig', { script: '#!/bin/bash\nkill -KILL $$\n' }));
    const ev = await until('j-sig', terminal);
    expect(ev).toMatchObject({ phase: 'Failed', reason: 'Signal 9' });
    expect(ev.tasks[0]).toMatchObject({ signal: 9 });
  });

  it('translates a container job into a batch script (runtime "host" on the harness)', async () => {
    await driver.dispatch(
      dispatch('j-ctr', { image: 'busybox:1.36', command: ['/bin/sh', '-c'], args: ['echo "hi $WHO" > "$OUT"'], env: { WHO: 'container', OUT: join(outDir, 'ctr.txt') }, perTask: { cpuMilli: 2000, memoryMiB: 512, gpus: 0, rdma: 0 } }),
    );
    const ev = await until('j-ctr', terminal);
    expect(ev.phase).toBe('Succeeded');
    expect(readFileSync(join(outDir, 'ctr.txt'), 'utf8')).toBe('hi container\n');
  });

  it('chains a dependency given in federation ids', async () => {
    await driver.dispatch(dispatch('j-first', { script: '#!/bin/bash\nsleep 15\n' }));
    await driver.dispatch(dispatch('j-second', { script: '#!/bin/bash\ntrue\n', slurm: { dependency: 'afterok:j-first' } }));
    const first = (await driver.jobsOf('j-first', 1))[0]!;
    let second = (await driver.jobsOf('j-second', 1))[0]!;
    for (let i = 0; i < 40 && second.reason !== 'Dependency'; i++) {
      await sleep(250); // the scheduler sets the reason on its next pass
      second = (await driver.jobsOf('j-second', 1))[0]!;
    }
    expect(second).toMatchObject({ state: 'PENDING', reason: 'Dependency' });
    const dep = slurm.run('scontrol', ['show', 'job', second.jobId]).stdout;
    expect(dep).toContain(`Dependency=afterok:${first.jobId}`);
    const ev = await until('j-second', terminal);
    expect(ev.phase).toBe('Succeeded');
    await expect(driver.dispatch(dispatch('j-orphan', { script: '#!/bin/bash\ntrue\n', slurm: { dependency: 'afterok:nope' } }))).rejects.toThrow(/no Slurm job on this cluster/);
  });

  it('runs an array with a limit and aggregates its tasks', async () => {
    await driver.dispatch(dispatch('j-arr', { script: '#!/bin/bash\nsleep 1\n', slurm: { array: '0-3%2' } }));
    const ev = await until('j-arr', terminal);
    expect(ev.phase).toBe('Succeeded');
    expect(ev.tasks.map((t) => t.index).sort()).toEqual([0, 1, 2, 3]);
  });

  it('holds and releases a pending job; a running one answers Slurm\'s "no longer pending"', async () => {
    const handler = slurmCommandHandler(driver);
    await driver.dispatch(dispatch('j-hold', { script: '#!/bin/bash\ntrue\n', slurm: { begin: 'now+600' } }));
    expect(await handler({ kind: 'hold', jobId: 'j-hold', attempt: 1 })).toMatchObject({ ok: true });
    const held = (await driver.jobsOf('j-hold', 1))[0]!;
    expect(held.state).toBe('PENDING');
    // `scontrol uhold`: the user's hold, though the agent runs as root (`scontrol hold` would be JobHeldAdmin)
    expect(held.reason).toBe('JobHeldUser');
    // a pending job has nothing to checkpoint
    expect(await handler({ kind: 'signal', jobId: 'j-hold', attempt: 1, signal: 'SIGUSR1', reason: 'test' })).toEqual({
      ok: false,
      error: 'signal: Slurm has no running job for j-hold attempt 1 (it is PENDING)',
    });
    expect(await handler({ kind: 'release', jobId: 'j-hold', attempt: 1 })).toMatchObject({ ok: true });
    expect((await driver.jobsOf('j-hold', 1))[0]!.reason).not.toMatch(/JobHeld/);
    expect(await handler({ kind: 'hold', jobId: 'nope', attempt: 1 })).toMatchObject({ ok: false, error: expect.stringMatching(/no job for nope/) });
    const marker = join(outDir, 'j-run.usr1');
    const script = `#!/bin/bash\ntrap 'echo checkpointed > ${marker}' USR1\necho ready > ${marker}.ready\nfor i in $(seq 1 2400); do sleep 0.25; done\n`;
    await driver.dispatch(dispatch('j-run', { script, perTask: { cpuMilli: 1000, memoryMiB: 100, gpus: 0, rdma: 0 } }));
    await until('j-run', (e) => e.phase === 'Running');
    expect(await handler({ kind: 'hold', jobId: 'j-run', attempt: 1 })).toEqual({ ok: false, error: 'Job is no longer pending execution' });
    // the checkpoint signal reaches the batch script's trap and the job keeps running
    for (let i = 0; i < 100 && !existsSync(`${marker}.ready`); i++) await sleep(100);
    expect(await handler({ kind: 'signal', jobId: 'j-run', attempt: 1, signal: 'SIGUSR1', reason: 'GPU fault' })).toMatchObject({ ok: true, detail: { delivery: 'process', signal: 'SIGUSR1' } });
    for (let i = 0; i < 100 && !existsSync(marker); i++) await sleep(100);
    expect(readFileSync(marker, 'utf8')).toBe('checkpointed\n');
    expect((await driver.jobsOf('j-run', 1))[0]!.state).toBe('RUNNING');
    await handler({ kind: 'cancel', jobId: 'j-run', graceSeconds: 0, reason: 'done' });
    await handler({ kind: 'cancel', jobId: 'j-hold', graceSeconds: 0, reason: 'done' });
  });

  it('cancels', async () => {
    await driver.dispatch(dispatch('j-cancel', { script: '#!/bin/bash\nsleep 600\n' }));
    await until('j-cancel', (e) => e.phase === 'Running');
    const r = await slurmCommandHandler(driver)({ kind: 'cancel', jobId: 'j-cancel', graceSeconds: 0, reason: 'user asked' });
    expect(r.ok).toBe(true);
    const ev = await until('j-cancel', terminal);
    expect(ev.phase).toBe('Cancelled');
  });

  it('drains and resumes its own nodes with a meridian: reason, never an admin\'s', async () => {
    const handler = slurmCommandHandler(driver);
    // hub drain → visible in sinfo with the meridian: reason
    expect(await handler({ kind: 'node', node: 'gpu-0', op: 'drain', reason: 'GPU XID 79', timeoutSeconds: 120 })).toMatchObject({ ok: true });
    expect(slurm.run('sinfo', ['-h', '-n', 'gpu-0', '-o', '%E']).stdout.trim()).toBe('meridian: GPU XID 79');
    // admin drain → visible at the hub (inventory), unschedulable, with the admin's reason
    expect(slurm.run('scontrol', ['update', 'NodeName=gpu-1', 'State=DRAIN', 'Reason=bad fan']).code).toBe(0);
    const inv = await driver.inventory();
    expect(inv.find((n) => n.name === 'gpu-1')).toMatchObject({ unschedulable: true, reason: 'bad fan' });
    expect(inv.find((n) => n.name === 'gpu-0')).toMatchObject({ unschedulable: true, reason: 'meridian: GPU XID 79' });
    // the hub cannot resume the admin's drain, and its own drain does not overwrite the admin's reason
    const refused = await handler({ kind: 'node', node: 'gpu-1', op: 'uncordon', reason: '', timeoutSeconds: 120 });
    expect(refused.ok).toBe(false);
    expect(refused.error).toMatch(/drained by root .*bad fan/);
    expect(await handler({ kind: 'node', node: 'gpu-1', op: 'drain', reason: 'x', timeoutSeconds: 120 })).toMatchObject({ ok: true, detail: { alreadyDrainedBy: 'root' } });
    expect(slurm.run('sinfo', ['-h', '-n', 'gpu-1', '-o', '%E']).stdout.trim()).toBe('bad fan');
    // an admin who takes over a Meridian drain (new reason) owns it from then on
    expect(slurm.run('scontrol', ['update', 'NodeName=gpu-0', 'State=DRAIN', 'Reason=admin: keep out']).code).toBe(0);
    expect((await handler({ kind: 'node', node: 'gpu-0', op: 'uncordon', reason: '', timeoutSeconds: 120 })).ok).toBe(false);
    // the hub's own drain is resumed
    slurm.run('scontrol', ['update', 'NodeName=gpu-0', 'State=RESUME']);
    await handler({ kind: 'node', node: 'gpu-0', op: 'cordon', reason: 'maintenance', timeoutSeconds: 120 });
    expect(await handler({ kind: 'node', node: 'gpu-0', op: 'uncordon', reason: '', timeoutSeconds: 120 })).toMatchObject({ ok: true, detail: { resumed: true } });
    expect(slurm.run('sinfo', ['-h', '-n', 'gpu-0', '-o', '%t']).stdout.trim()).toMatch(/^(idle|mix|alloc)\*?$/);
    // inventory deltas carry the changes
    await driver.syncInventory();
    expect(events.some((e) => e.type === 'inventory.delta' && e.upserts.some((n) => n.name === 'gpu-1' && n.unschedulable))).toBe(true);
    slurm.run('scontrol', ['update', 'NodeName=gpu-1', 'State=RESUME']);
    expect((await handler({ kind: 'node', node: 'gpu-1', op: 'taint', reason: '', timeoutSeconds: 120 })).ok).toBe(false);
  });

  it('reports TIMEOUT for the job that ran past its limit', async () => {
    const ev = await until('t-timeout', terminal, 150_000);
    expect(ev).toMatchObject({ phase: 'Failed', reason: 'TIMEOUT' });
    // Slurm 22.05 on the harness records the batch shell's own status (143:0, SIGTERM'd bash), not 0:15
    expect(ev.message).toMatch(/TIMEOUT ExitCode=\d+:\d+/);
  });
});
