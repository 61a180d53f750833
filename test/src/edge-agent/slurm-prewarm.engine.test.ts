// Prewarm on a real Slurm (harness) over the SSH transport: the copy runs as a batch job, its progress and
// outcome come up as prewarm.status events, a failing copy says why, and a resent command adopts the job.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentEvent } from '@meridian/protocol/agent-protocol';
import { SlurmCluster } from '../harness/slurm.ts';
import { SshdEngine } from '../harness/sshd.ts';
import { SshTransport } from '@meridian/slurm-bridge/transports/ssh';
import { SlurmDriver } from '@meridian/edge-agent/slurm/driver';
import { slurmCommandHandler } from '@meridian/edge-agent/slurm/link';

let slurm: SlurmCluster;
let sshd: SshdEngine;
let driver: SlurmDriver;
let workDir: string;
const events: AgentEvent[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Status = Extract<AgentEvent, { type: 'prewarm.status' }>;
const statuses = (dataset: string): Status[] => events.filter((e): e is Status => e.type === 'prewarm.status' && e.dataset === dataset);

async function finished(dataset: string, timeoutMs = 90_000): Promise<Status> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const last = statuses(dataset).at(-1);
    if (last && last.phase !== 'Running') return last;
    await sleep(200);
  }
  throw new Error(`prewarm ${dataset}: not finished in ${timeoutMs} ms; got ${JSON.stringify(statuses(dataset))}`);
}

beforeAll(async () => {
  [slurm, sshd] = await Promise.all([SlurmCluster.start({ clusterName: 'prewarm' }), SshdEngine.start()]);
  workDir = join(slurm.dir, 'work');
  mkdirSync(workDir, { recursive: true });
  chmodSync(workDir, 0o777);
  // 1 byte/s: a dataset of N bytes is expected to take N seconds
  process.env.MERIDIAN_PREWARM_BYTES_PER_SEC = '1';
  process.env.MERIDIAN_PREWARM_POLL_MS = '300';
  process.env.MERIDIAN_PREWARM_TIME_LIMIT_MIN = '5';
  const transport = new SshTransport({ host: sshd.host, port: sshd.port, username: sshd.username, privateKey: sshd.privateKey, env: { SLURM_CONF: slurm.confPath } });
  driver = new SlurmDriver({ transport, clusterName: 'prewarm', workDir, runtime: 'host' });
  driver.onEvent((e) => events.push(e));
});

afterAll(async () => {
  await driver?.stop();
  await driver?.transport.close();
  await Promise.all([slurm?.stop(), sshd?.stop()]);
});

describe('prewarm on Slurm', () => {
  it('runs the copy as a batch job, reports progress and success, and adopts the job when the command comes again', async () => {
    const handler = slurmCommandHandler(driver);
    const cmd = { kind: 'prewarm' as const, dataset: 'imagenet', sizeBytes: 8, source: 'far' };
    const first = await handler(cmd);
    expect(first).toMatchObject({ ok: true, detail: { adopted: false, expectedSeconds: 8 } });
    const id = (first.detail as { slurmJobId: string }).slurmJobId;
    const again = await handler(cmd);
    expect(again).toMatchObject({ ok: true, detail: { adopted: true, slurmJobId: id } });
    const jobs = await driver.transport.findJobsByComment('meridian-prewarm:imagenet');
    expect(jobs.map((j) => j.jobId)).toEqual([id]);
    expect(jobs[0]).toMatchObject({ name: 'meridian-prewarm-imagenet', timeLimitMin: 5 });
    // the hub's job poll does not mistake the copy job for a federation job
    expect((await driver.pollJobs()).length).toBe(0);
    const done = await finished('imagenet');
    expect(done).toEqual({ type: 'prewarm.status', dataset: 'imagenet', phase: 'Succeeded', percent: 100 });
    const running = statuses('imagenet').filter((s) => s.phase === 'Running');
    expect(running.some((s) => s.percent > 0 && s.percent <= 99)).toBe(true);
    expect(running.map((s) => s.percent)).toEqual([...running.map((s) => s.percent)].sort((a, b) => a - b));
    expect(readFileSync(join(workDir, `meridian-prewarm-imagenet-${id}.out`), 'utf8')).toContain('prewarm imagenet (8 bytes) from far');
    // done: a later command adopts the finished copy instead of copying again
    expect(await handler(cmd)).toMatchObject({ ok: true, detail: { adopted: true, slurmJobId: id } });
  });

  it('copies a source path on the cluster into the cache directory', async () => {
    const src = join(slurm.dir, 'src-coco');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'pixels\n');
    chmodSync(src, 0o755);
    expect(await slurmCommandHandler(driver)({ kind: 'prewarm', dataset: 'coco', sizeBytes: 1, source: src })).toMatchObject({ ok: true });
    expect(await finished('coco')).toMatchObject({ phase: 'Succeeded', percent: 100 });
    expect(readFileSync(join(workDir, '.meridian-cache', 'coco', 'a.txt'), 'utf8')).toBe('pixels\n');
    expect(existsSync(join(workDir, '.meridian-cache', 'coco.part'))).toBe(false);
  });

  it('reports a failing copy as Failed with Slurm state, exit code and the copy\'s own words', async () => {
    expect(await slurmCommandHandler(driver)({ kind: 'prewarm', dataset: 'gone', sizeBytes: 1, source: '/nonexistent/gone' })).toMatchObject({ ok: true });
    const ev = await finished('gone');
    expect(ev).toMatchObject({ phase: 'Failed', percent: 0 });
    expect(ev.reason).toMatch(/^copy job \d+ FAILED ExitCode=1:0/);
    expect(ev.reason).toMatch(/\/nonexistent\/gone.*No such file/);
  });

  it('refuses bad settings naming the variable', async () => {
    process.env.MERIDIAN_PREWARM_BYTES_PER_SEC = 'fast';
    try {
      expect(await slurmCommandHandler(driver)({ kind: 'prewarm', dataset: 'x', sizeBytes: 1 })).toEqual({
        ok: false,
        error: 'prewarm settings: MERIDIAN_PREWARM_BYTES_PER_SEC must be a number > 0, e.g. 1e9 for 1 GB/s (got "fast")',
      });
    } finally {
      process.env.MERIDIAN_PREWARM_BYTES_PER_SEC = '1';
    }
  });
});
