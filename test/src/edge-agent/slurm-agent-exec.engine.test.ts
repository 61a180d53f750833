// The Slurm agent runs only its own programs, with its own environment, against a real Slurm (local CLI and
// SSH): a job whose exported environment plants a hostile `sbatch` (and squeue, scontrol, ...) first on
// PATH, an LD_PRELOAD library and BASH_ENV/ENV scripts never gets any of them run by the agent, while the job
// itself runs and sees the user's variables (PATH and LD_PRELOAD included: the job is the user's own).
// Job secrets: the job reads them from a 0600 file that is gone once the job ends, and their values appear
// nowhere in what the agent sends to the hub, in its log, or in `scontrol show job`.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentEvent, DispatchCommand, JobStatusEvent } from '@meridian/protocol/agent-protocol';
import { SlurmCluster } from '../harness/slurm.ts';
import { SshdEngine } from '../harness/sshd.ts';
import { LocalTransport } from '@meridian/slurm-bridge/transports/local';
import { SshTransport } from '@meridian/slurm-bridge/transports/ssh';
import { SlurmDriver } from '@meridian/edge-agent/slurm/driver';
import { dispatchCommand } from './dispatch-command.ts';

let slurm: SlurmCluster;
let sshd: SshdEngine;
let outDir: string;
let trap: string;
const AGENT_COMMANDS = ['sbatch', 'squeue', 'scontrol', 'scancel', 'sacct', 'sinfo', 'tail', 'stat', 'env', 'sh', 'bash'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A driver per transport, each recording what it would send to the hub and what it logs. */
const drivers: Record<'local' | 'ssh', { driver: SlurmDriver; events: AgentEvent[]; logs: string[] }> = {} as never;

const dispatch = (jobId: string, over: Partial<DispatchCommand> = {}): DispatchCommand =>
  dispatchCommand(jobId, { project: 'physics', perTask: { cpuMilli: 1000, memoryMiB: 100, gpus: 0, rdma: 0 }, ...over });

async function until(via: 'local' | 'ssh', jobId: string, pred: (e: JobStatusEvent) => boolean, timeoutMs = 60_000): Promise<JobStatusEvent> {
  const { driver, events } = drivers[via];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await driver.pollJobs();
    const ev = events.filter((e): e is JobStatusEvent => e.type === 'job.status' && e.jobId === jobId).at(-1);
    if (ev && pred(ev)) return ev;
    await sleep(300);
  }
  throw new Error(`job ${jobId}: no matching status in ${timeoutMs} ms`);
}
const terminal = (e: JobStatusEvent) => ['Succeeded', 'Failed', 'Cancelled'].includes(e.phase);

beforeAll(async () => {
  [slurm, sshd] = await Promise.all([SlurmCluster.start({ clusterName: 'exec' }), SshdEngine.start()]);
  outDir = join(slurm.dir, 'out');
  trap = join(slurm.dir, 'trap');
  mkdirSync(outDir, { recursive: true });
  chmodSync(outDir, 0o777);
  mkdirSync(join(trap, 'bin'), { recursive: true });
  // A program of the user's own for every command the agent runs: it leaves a mark and fails.
  for (const name of AGENT_COMMANDS) {
    const p = join(trap, 'bin', name);
    writeFileSync(p, `#!/bin/sh\necho "hostile ${name} ran: $0 $*" >> ${join(trap, 'hostile-ran')}\nexit 1\n`);
    chmodSync(p, 0o755);
  }
  // A preload library whose constructor writes the executable that loaded it.
  writeFileSync(
    join(trap, 'mark.c'),
    `#include <stdio.h>\n#include <unistd.h>\n__attribute__((constructor)) static void mark(void) {\n  char exe[4096] = {0};\n  if (readlink("/proc/self/exe", exe, sizeof exe - 1) < 0) return;\n  FILE *f = fopen("${join(trap, 'preloaded')}", "a");\n  if (f) { fprintf(f, "%s\\n", exe); fclose(f); }\n}\n`,
  );
  execFileSync('gcc', ['-shared', '-fPIC', '-o', join(trap, 'mark.so'), join(trap, 'mark.c')]);
  writeFileSync(join(trap, 'bash_env.sh'), `echo "BASH_ENV sourced by $0" >> ${join(trap, 'bash-env-ran')}\n`);

  const log = (sink: string[]) => ({ info: (o: object, m?: string) => sink.push(`${m ?? ''} ${JSON.stringify(o)}`), warn: (o: object, m?: string) => sink.push(`${m ?? ''} ${JSON.stringify(o)}`) });
  const make = (via: 'local' | 'ssh') => {
    const logs: string[] = [];
    const events: AgentEvent[] = [];
    const transport =
      via === 'local'
        ? new LocalTransport({ env: { SLURM_CONF: slurm.confPath } })
        : new SshTransport({ host: sshd.host, port: sshd.port, username: sshd.username, privateKey: sshd.privateKey, env: { SLURM_CONF: slurm.confPath } });
    const driver = new SlurmDriver({ transport, clusterName: 'exec', workDir: join(outDir, via), runtime: 'host', log: log(logs) });
    mkdirSync(join(outDir, via), { recursive: true });
    driver.onEvent((e) => events.push(e));
    drivers[via] = { driver, events, logs };
  };
  make('local');
  make('ssh');
});

afterAll(async () => {
  for (const d of Object.values(drivers)) {
    await d.driver.stop();
    await d.driver.transport.close();
  }
  await Promise.all([slurm?.stop(), sshd?.stop()]);
});

describe.each(['local', 'ssh'] as const)('Slurm agent over %s: only its own programs', (via) => {
  it("never runs a program, library or startup file from the job's environment; the job still sees that environment", async () => {
    const hostileEnv = {
      PATH: `${join(trap, 'bin')}:/usr/bin:/bin`,
      LD_PRELOAD: join(trap, 'mark.so'),
      BASH_ENV: join(trap, 'bash_env.sh'),
      ENV: join(trap, 'bash_env.sh'),
      SLURM_CONF: '/nonexistent/slurm.conf',
      http_proxy: 'http://127.0.0.1:9',
      FOO: 'bar',
      MULTI: 'line one\nline two',
    };
    const out = join(outDir, `${via}-hostile.out`);
    // /bin/sh (dash) reads neither BASH_ENV nor ENV when it runs a script, so a mark from those is the agent's
    const script = '#!/bin/sh\necho "FOO=$FOO"\necho "PATH=$PATH"\necho "LD_PRELOAD=$LD_PRELOAD"\necho "MULTI=$MULTI"\necho "JOB=$MERIDIAN_JOB_ID"\necho "NAME=$SLURM_JOB_NAME"\n';
    const r = await drivers[via].driver.dispatch(dispatch(`hostile-${via}`, { script, env: hostileEnv, slurm: { output: out } }));
    expect(r.existing).toBe(false);
    const done = await until(via, `hostile-${via}`, terminal);
    expect(done.phase).toBe('Succeeded');
    // the agent went on using its own sbatch/scontrol: status, cancel and node reads all answered
    await drivers[via].driver.syncInventory();
    await drivers[via].driver.cancel({ jobId: `hostile-${via}` });

    expect(existsSync(join(trap, 'hostile-ran')) ? readFileSync(join(trap, 'hostile-ran'), 'utf8') : '').toBe('');
    expect(existsSync(join(trap, 'bash-env-ran')) ? readFileSync(join(trap, 'bash-env-ran'), 'utf8') : '').toBe('');
    // the job is the user's: it got their PATH, LD_PRELOAD and other variables unchanged
    const text = readFileSync(out, 'utf8');
    expect(text).toContain('FOO=bar\n');
    expect(text).toContain(`PATH=${hostileEnv.PATH}\n`);
    expect(text).toContain(`LD_PRELOAD=${hostileEnv.LD_PRELOAD}\n`);
    expect(text).toContain('MULTI=line one\nline two\n');
    expect(text).toContain(`JOB=hostile-${via}\n`);
    expect(text).toContain(`NAME=meridian-hostile-${via}\n`);
    // the library was loaded, by the job's own processes only: never by an agent command
    const loadedBy = readFileSync(join(trap, 'preloaded'), 'utf8').trim().split('\n');
    expect(loadedBy.length).toBeGreaterThan(0);
    for (const exe of loadedBy) expect(AGENT_COMMANDS).not.toContain(exe.split('/').at(-1));
  });

  it('gives the job its secrets in a 0600 file it alone reads, removed when the job ends; the values go nowhere else', async () => {
    const value = `s3cr3t-${randomBytes(8).toString('hex')}`;
    const jobId = `secret-${via}`;
    const out = join(outDir, `${via}-secret.out`);
    const script = '#!/bin/sh\n. "$MERIDIAN_SECRETS_FILE"\necho "key=$API_KEY file=$MERIDIAN_SECRETS_FILE"\nsleep 3\n';
    await drivers[via].driver.dispatch(dispatch(jobId, { script, env: { FOO: 'bar' }, secrets: { API_KEY: value }, slurm: { output: out } }));
    await until(via, jobId, (e) => e.phase === 'Running' || terminal(e));
    const file = join(outDir, via, '.meridian-secrets', `${jobId}.1`, 'secrets.env');
    // while it exists: only its owner reads it, in a directory only its owner enters
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(outDir, via, '.meridian-secrets', `${jobId}.1`)).mode & 0o777).toBe(0o700);
    expect(statSync(join(outDir, via, '.meridian-secrets')).mode & 0o777).toBe(0o700);
    const [slurmJob] = await drivers[via].driver.jobsOf(jobId, 1);
    const shown = slurm.run('scontrol', ['show', 'job', '-dd', slurmJob!.jobId]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).not.toContain(value);

    const done = await until(via, jobId, terminal);
    expect(done.phase).toBe('Succeeded');
    expect(readFileSync(out, 'utf8')).toBe(`key=${value} file=${file}\n`);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(join(outDir, via, '.meridian-secrets', `${jobId}.1`))).toBe(false);
    expect(JSON.stringify(drivers[via].events)).not.toContain(value);
    expect(drivers[via].logs.join('\n')).not.toContain(value);
  });

  it('removes a cancelled job\'s secrets file', async () => {
    const jobId = `secret-cancel-${via}`;
    await drivers[via].driver.dispatch(dispatch(jobId, { script: '#!/bin/sh\nsleep 300\n', secrets: { TOKEN_X: 'x' } }));
    const dir = join(outDir, via, '.meridian-secrets', `${jobId}.1`);
    expect(existsSync(join(dir, 'secrets.env'))).toBe(true);
    await drivers[via].driver.cancel({ jobId });
    expect(existsSync(dir)).toBe(false);
  });
});
