// The one behavioural suite every SlurmTransport must pass against a real Slurm (the test harness's
// cluster). Engine test files call `describeTransport` once per transport; they share one cluster.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SlurmError, TERMINAL_JOB_STATES, type SlurmJob, type SlurmTransport } from '@meridian/slurm-bridge/types';

export interface SuiteContext {
  transport: SlurmTransport;
  /** A directory jobs can write output into. */
  outDir: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitForJob(t: SlurmTransport, jobId: string, pred: (j: SlurmJob) => boolean, timeoutMs = 60_000): Promise<SlurmJob> {
  const deadline = Date.now() + timeoutMs;
  let last: SlurmJob | undefined;
  while (Date.now() < deadline) {
    last = await t.getJob(jobId);
    if (last && pred(last)) return last;
    await sleep(250);
  }
  throw new Error(`job ${jobId} did not reach the expected state in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

export const terminal = (j: SlurmJob) => TERMINAL_JOB_STATES.has(j.state);

export function describeTransport(name: string, ctx: () => SuiteContext): void {
  describe(`SlurmTransport over ${name}`, () => {
    const uniq = `${name}-${process.pid}`;

    it('pings slurmctld', async () => {
      await ctx().transport.ping();
    });

    it('lists nodes with CPUs, memory, GPU gres and partitions', async () => {
      const nodes = await ctx().transport.nodes();
      expect(nodes.map((n) => n.name).sort()).toEqual(['gpu-0', 'gpu-1']);
      for (const n of nodes) {
        expect(n.cpus).toBe(8);
        expect(n.memoryMiB).toBe(16000);
        expect(n.gres).toEqual([{ name: 'gpu', type: 'a100', count: 4 }]);
        expect(n.partitions).toEqual(['gpu']);
        expect(['idle', 'mixed', 'allocated']).toContain(n.baseState);
      }
    });

    it('lists partitions', async () => {
      const parts = await ctx().transport.partitions();
      expect(parts).toHaveLength(1);
      expect(parts[0]).toMatchObject({ name: 'gpu', isDefault: true, totalNodes: 2, totalCpus: 16, state: 'UP', nodes: 'gpu-[0-1]' });
      expect(parts[0]!.maxTimeMin).toBeUndefined();
    });

    it('submits a GPU batch script, finds it by comment, and sees it complete with its output', async () => {
      const { transport, outDir } = ctx();
      const out = join(outDir, `${uniq}-ok-%j.out`);
      const comment = `meridian:${uniq}-ok`;
      const { jobId } = await transport.submit({
        script: '#!/bin/bash\necho "gpus=$SLURM_JOB_GPUS name=$SLURM_JOB_NAME greeting=$GREETING"\n',
        name: `m-${uniq}-ok`,
        comment,
        gres: 'gpu:2',
        cpusPerTask: 2,
        memoryPerNodeMiB: 500,
        timeLimitMin: 5,
        stdout: out,
        workDir: outDir,
        env: { GREETING: 'hello world' },
      });
      expect(jobId).toMatch(/^\d+$/);
      const found = await transport.findJobsByComment(comment);
      expect(found.map((j) => j.jobId)).toEqual([jobId]);
      const done = await waitForJob(transport, jobId, terminal);
      expect(done).toMatchObject({ state: 'COMPLETED', exitCode: 0, signal: 0, name: `m-${uniq}-ok`, comment, partition: 'gpu', timeLimitMin: 5 });
      expect(done.nodeList).toMatch(/^gpu-[01]$/);
      expect(done.tresPerNode).toBe('gres:gpu:2');
      expect(done.startTime).toBeInstanceOf(Date);
      expect(done.endTime!.getTime()).toBeGreaterThanOrEqual(done.startTime!.getTime());
      expect(readFileSync(out.replace('%j', jobId), 'utf8')).toBe(`gpus=0,1 name=m-${uniq}-ok greeting=hello world\n`);
      expect(await transport.readTail(out.replace('%j', jobId), 5)).toBe(`gpus=0,1 name=m-${uniq}-ok greeting=hello world\n`);
      expect(await transport.readTail(join(outDir, 'does-not-exist'), 5)).toBeUndefined();
      // what a log follower asks: the size, then the bytes from an offset
      const line = `gpus=0,1 name=m-${uniq}-ok greeting=hello world\n`;
      expect(await transport.fileSize(out.replace('%j', jobId))).toBe(Buffer.byteLength(line));
      expect(await transport.readFrom(out.replace('%j', jobId), 9)).toBe(line.slice(9));
      expect(await transport.readFrom(out.replace('%j', jobId), 1000)).toBe('');
      expect(await transport.fileSize(join(outDir, 'does-not-exist'))).toBeUndefined();
      expect(await transport.readFrom(join(outDir, 'does-not-exist'), 0)).toBeUndefined();
    });

    it('reports a failing exit as FAILED with code:signal 3:0', async () => {
      const { transport, outDir } = ctx();
      const { jobId } = await transport.submit({ script: '#!/bin/bash\nexit 3\n', name: 'fail3', comment: `meridian:${uniq}-f3`, workDir: outDir, stdout: '/dev/null' });
      const done = await waitForJob(transport, jobId, terminal);
      expect(done).toMatchObject({ state: 'FAILED', exitCode: 3, signal: 0, reason: 'NonZeroExitCode' });
    });

    it('reports a job killed by a signal with its signal number', async () => {
      const { transport, outDir } = ctx();
      const { jobId } = await transport.submit({ script: '#!/bin/bash\nkill -9 $$\n', name: 'sig9', workDir: outDir, stdout: '/dev/null' });
      const done = await waitForJob(transport, jobId, terminal);
      expect(done).toMatchObject({ state: 'FAILED', exitCode: 0, signal: 9 });
    });

    it('holds, releases and cancels a job', async () => {
      const { transport, outDir } = ctx();
      const { jobId } = await transport.submit({ script: '#!/bin/bash\nsleep 300\n', name: 'held', hold: true, workDir: outDir, stdout: '/dev/null' });
      let j = await waitForJob(transport, jobId, (x) => x.state === 'PENDING');
      expect(j.reason).toBe('JobHeldUser');
      await transport.release(jobId);
      j = await waitForJob(transport, jobId, (x) => x.reason !== 'JobHeldUser');
      expect(['PENDING', 'RUNNING']).toContain(j.state);
      await transport.cancel(jobId);
      j = await waitForJob(transport, jobId, terminal);
      expect(j.state).toBe('CANCELLED');
      // cancelling again is harmless
      await transport.cancel(jobId);
    });

    it('holds a pending job it submitted unheld', async () => {
      const { transport, outDir } = ctx();
      const { jobId } = await transport.submit({ script: '#!/bin/bash\nsleep 300\n', name: 'later', begin: 'now+600', workDir: outDir, stdout: '/dev/null' });
      await transport.hold(jobId);
      // `scontrol uhold`: a user hold even though the agent runs as root (`scontrol hold` would be JobHeldAdmin)
      const j = await waitForJob(transport, jobId, (x) => /^JobHeld(User|Admin)$/.test(x.reason));
      expect(j.state).toBe('PENDING');
      expect(j.reason).toBe('JobHeldUser');
      await transport.release(jobId);
      expect((await transport.getJob(jobId))!.reason).not.toMatch(/JobHeld/);
      await transport.cancel(jobId);
    });

    it("signals a running job's batch script (its trap runs) and leaves the job running", async () => {
      const { transport, outDir } = ctx();
      const marker = join(outDir, `${uniq.replace(/[^\w.-]/g, '_')}-sig`); // unquoted in the script below
      const script = `#!/bin/bash\ntrap 'echo "got USR1" >> ${marker}.trap' USR1\necho ready > ${marker}.ready\nfor i in $(seq 1 240); do sleep 0.25; done\n`;
      const { jobId } = await transport.submit({ script, name: 'sig', workDir: outDir, stdout: '/dev/null' });
      await waitForJob(transport, jobId, (x) => x.state === 'RUNNING');
      const deadline = Date.now() + 30_000;
      while (!existsSync(`${marker}.ready`) && Date.now() < deadline) await sleep(100);
      await transport.signal(jobId, 'SIGUSR1');
      while (!existsSync(`${marker}.trap`) && Date.now() < deadline) await sleep(100);
      expect(readFileSync(`${marker}.trap`, 'utf8')).toBe('got USR1\n');
      expect((await transport.getJob(jobId))!.state).toBe('RUNNING');
      await transport.cancel(jobId);
      await waitForJob(transport, jobId, terminal);
      // a finished job: scancel says so (Slurm's own words come back); slurmrestd v0.0.38 counts "already
      // done" as success
      if (transport.kind === 'rest') await transport.signal(jobId, 'SIGUSR1');
      else await expect(transport.signal(jobId, 'SIGUSR1')).rejects.toThrow(/scancel --signal=USR1 --batch.*(already completing or completed|Invalid job id)/i);
    });

    it('submits an array with a concurrency limit and lists its tasks', async () => {
      const { transport, outDir } = ctx();
      const comment = `meridian:${uniq}-arr`;
      const { jobId } = await transport.submit({ script: '#!/bin/bash\nsleep 1\n', name: 'arr', comment, array: '0-3%2', workDir: outDir, stdout: '/dev/null' });
      const deadline = Date.now() + 60_000;
      let tasks: SlurmJob[] = [];
      while (Date.now() < deadline) {
        tasks = (await transport.findJobsByComment(comment)).filter((j) => j.arrayJobId === jobId && /^\d+$/.test(j.arrayTaskId ?? ''));
        if (tasks.length === 4 && tasks.every(terminal)) break;
        await sleep(300);
      }
      expect(tasks.map((t) => Number(t.arrayTaskId)).sort()).toEqual([0, 1, 2, 3]);
      expect(tasks.every((t) => t.state === 'COMPLETED')).toBe(true);
    });

    it('returns undefined for a job Slurm does not know', async () => {
      expect(await ctx().transport.getJob('999999')).toBeUndefined();
    });

    it('fails a submit Slurm refuses with Slurm\'s own reason', async () => {
      const err = await ctx().transport.submit({ script: '#!/bin/bash\ntrue\n', gres: 'gpu:9', workDir: ctx().outDir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SlurmError);
      expect((err as SlurmError).message).toMatch(/Requested node configuration is not available|Invalid generic resource/);
    });

    it('drains a node with a reason and resumes it', async () => {
      const { transport } = ctx();
      await transport.updateNode('gpu-1', { state: 'drain', reason: `meridian: ${uniq} test` });
      let n = (await transport.nodes()).find((x) => x.name === 'gpu-1')!;
      expect(n.flags).toContain('DRAIN');
      expect(n.reason).toBe(`meridian: ${uniq} test`);
      expect(n.reasonUser).toBe('root');
      await transport.updateNode('gpu-1', { state: 'resume' });
      n = (await transport.nodes()).find((x) => x.name === 'gpu-1')!;
      expect(n.flags).not.toContain('DRAIN');
      expect(n.reason).toBe('');
    });
  });
}
