// Elastic Slurm on the harness, with a real hub: a CLOUD node is powered up by the bridge's ResumeProgram
// when a job needs it (after the hub's `POST /api/v1/clusters/{id}/power` grants the capacity), runs the job,
// and is powered down by the SuspendProgram after SuspendTime; a node the hub drained is refused.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import { ADMIN_TOKEN, Api, FAST } from '../hub/helpers.ts';
import { PostgresEngine } from '../harness/postgres.ts';
import { SlurmCluster } from '../harness/slurm.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { SlurmDriver } from '@meridian/edge-agent/slurm/driver';
import { LocalTransport } from '@meridian/slurm-bridge/transports/local';
import type { PowerConfig } from '@meridian/slurm-bridge/power/power';
import { packageDir } from '../packages.ts';

const bridgeDir = packageDir('slurm-bridge');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type PowerEvent = { node: string; action: string; granted: boolean; reason: string; requestedBy: string };

let slurm: SlurmCluster;
let pg: PostgresEngine;
let temporal: TemporalEngine;
let hub: Hub;
let admin: Api;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meridian-power-'));
  chmodSync(dir, 0o755);
  // The programs run the prebuilt bundle; build it now so the first power-up does not pay for a rebuild.
  const build = spawnSync(process.execPath, [join(bridgeDir, 'scripts', 'build-commands.mjs')], { encoding: 'utf8' });
  expect(build.status, build.stderr).toBe(0);
  const cfgPath = join(dir, 'power.json');
  for (const action of ['resume', 'suspend']) {
    // slurmctld runs power programs with a bare environment (SLURM_CONF only, no PATH): absolute paths.
    const bin = join(bridgeDir, 'bin', `meridian-slurm-${action}`);
    writeFileSync(join(dir, `${action}.sh`), `#!/bin/sh\nMERIDIAN_POWER_CONFIG=${cfgPath} exec ${process.execPath} ${bin} "$@"\n`, { mode: 0o755 });
  }
  [pg, temporal, slurm] = await Promise.all([
    PostgresEngine.start(),
    TemporalEngine.start(),
    SlurmCluster.start({
      clusterName: 'elastic',
      nodes: [
        { name: 'static-0', cpus: 4, memoryMiB: 8000 },
        { name: 'cloud-0', cpus: 8, memoryMiB: 16000, gpus: 2, gpuType: 'a100', features: ['elastic'], cloud: true },
      ],
      extraConfig: [
        `ResumeProgram=${join(dir, 'resume.sh')}`,
        `SuspendProgram=${join(dir, 'suspend.sh')}`,
        'SuspendTime=8',
        'SuspendTimeout=10',
        'ResumeTimeout=120',
        'SuspendExcNodes=static-0',
        'PrivateData=cloud', // else powered-down CLOUD nodes are hidden from scontrol/sinfo/REST
      ],
      restd: false,
    }),
  ]);
  hub = await startHub({ databaseUrl: pg.url, temporalAddress: temporal.address, ...FAST, runScheduler: false });
  admin = new Api(hub.url, ADMIN_TOKEN);
  const created = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'elastic', region: 'on-prem', kind: 'slurm' });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  expect((await admin.req('PUT', '/api/v1/clusters/elastic/power/policy', { maxPoweredNodes: 1 })).status).toBe(200);
  const cfg: PowerConfig = {
    cluster: 'elastic',
    approval: 'hub',
    hubUrl: hub.url,
    token: created.body.credential,
    // `-b`: report a boot now; slurmctld only accepts a powered-up node that booted after the request.
    start: ['/usr/sbin/slurmd', '-b', '-N', '{node}', '-f', '{conf}'],
    stop: { pidFile: slurm.slurmdPidFile('{node}') },
    logFile: join(dir, 'power.log'),
  };
  writeFileSync(cfgPath, JSON.stringify(cfg));
});

afterAll(async () => {
  await slurm?.stop();
  await hub?.stop();
  await Promise.all([pg?.stop(), temporal?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function nodeState(name: string): string {
  return slurm.run('scontrol', ['show', 'node', name, '-o']).stdout.match(/State=(\S+)/)?.[1] ?? '?';
}

const powerLog = (): string => (existsSync(join(dir, 'power.log')) ? readFileSync(join(dir, 'power.log'), 'utf8') : '');
const powerEvents = async (): Promise<PowerEvent[]> => (await admin.get<{ items: PowerEvent[] }>('/api/v1/clusters/elastic/power/events?node=cloud-0')).body.items;

async function waitFor(what: string, pred: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await sleep(500);
  }
  let slurmd = '(no slurmd log)';
  try {
    slurmd = readFileSync(join(slurm.dir, 'log', 'slurmd-cloud-0.log'), 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    // never started
  }
  throw new Error(`${what} not reached in ${timeoutMs} ms; cloud-0 State=${nodeState('cloud-0')}\npower log:\n${powerLog() || '(empty)'}\nslurmd-cloud-0:\n${slurmd}\nslurmctld:\n${slurm.logTail('slurmctld', 30)}`);
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('elastic Slurm (State=CLOUD, power saving through the bridge and the hub)', () => {
  it('starts with the cloud node powered down', async () => {
    await waitFor('cloud-0 powered down', () => /POWERED_DOWN/.test(nodeState('cloud-0')), 30_000);
    expect(nodeState('cloud-0')).toMatch(/CLOUD/);
  });

  it('powers the node up for a pending job, runs it, and powers it down after SuspendTime', { timeout: 300_000 }, async () => {
    const driver = new SlurmDriver({ transport: new LocalTransport({ env: { SLURM_CONF: slurm.confPath } }), workDir: dir, clusterName: 'elastic' });
    const inv = await driver.inventory();
    expect(inv.find((n) => n.name === 'cloud-0')).toMatchObject({ state: 'idle~', ready: false, unschedulable: false, labels: { 'slurm.meridian.dev/power': 'off', 'slurm.meridian.dev/cloud': 'true' } });

    const out = join(dir, 'elastic-%j.out');
    const sub = slurm.run('sbatch', ['--parsable', '--constraint=elastic', '--gres=gpu:1', `--output=${out}`, '--wrap', 'echo ran on $SLURMD_NODENAME']);
    expect(sub.stderr).toBe('');
    const jobId = sub.stdout.trim();
    const t0 = Date.now();
    await waitFor('job completed', () => /JobState=COMPLETED/.test(slurm.run('scontrol', ['show', 'job', jobId]).stdout), 150_000);
    const ranAfter = Date.now() - t0;
    expect(readFileSync(out.replace('%j', jobId), 'utf8')).toBe('ran on cloud-0\n');
    const pid = Number(readFileSync(slurm.slurmdPidFile('cloud-0'), 'utf8'));
    expect(alive(pid)).toBe(true);

    await waitFor('cloud-0 powered down again', async () => /POWERED_DOWN/.test(nodeState('cloud-0')) && (await powerEvents()).some((e) => e.action === 'suspend'), 90_000);
    const downAfter = Date.now() - t0;
    // the hub granted the power-up to the cluster's own credential, and was told of the power-down
    expect((await powerEvents()).map((e) => [e.action, e.granted, e.requestedBy])).toEqual([['resume', true, 'cluster:elastic'], ['suspend', true, 'cluster:elastic']]);
    expect((await admin.get<{ powered: string[] }>('/api/v1/clusters/elastic/power')).body.powered).toEqual([]);
    expect(powerLog()).toMatch(/resume cloud-0: started[\s\S]*suspend cloud-0: stopped/);
    await waitFor('slurmd gone', () => !alive(pid), 20_000);
    console.log(`elastic cycle: job done ${ranAfter} ms after submit, node powered down ${downAfter} ms after submit`);
  });

  it('does not power up a node the hub drained: the resume program is refused and starts nothing', async () => {
    expect((await admin.post('/api/v1/clusters/elastic/nodes/cloud-0/drain', { reason: 'meridian: maintenance' })).status).toBe(202);
    const sub = slurm.run('sbatch', ['--parsable', '--constraint=elastic', `--output=${join(dir, 'refused-%j.out')}`, '--wrap', 'true']);
    expect(sub.stderr).toBe('');
    await waitFor('the refusal in the power log', () => /resume cloud-0: hub refused \(the hub has drained cloud-0 \(meridian: maintenance\)/.test(powerLog()), 60_000);
    const events = await powerEvents();
    expect(events[events.length - 1]).toMatchObject({ action: 'resume', granted: false, reason: expect.stringMatching(/uncordon/) });
    expect(powerLog().split('hub refused')[1]).not.toMatch(/resume cloud-0: started/);
    slurm.run('scancel', [sub.stdout.trim()]);
  });
});
