// Elastic Slurm on the harness: a CLOUD node is powered up by the bridge's ResumeProgram when a job needs
// it (after the approval endpoint says yes), runs the job, and is powered down by the SuspendProgram after
// SuspendTime. The approval endpoint is a small HTTP server in this test, standing in for the hub's
// `POST /api/v1/clusters/{cluster}/power` (not in the hub yet; see docs/slurm.md).
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlurmCluster } from '../../../test/src/harness/slurm.ts';
import type { PowerConfig } from './power.ts';

const binDir = resolve(fileURLToPath(new URL('../../bin/', import.meta.url)));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let slurm: SlurmCluster;
let dir: string;
let server: Server;
let hubUrl: string;
const requests: { action: string; nodes: string[]; auth?: string }[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meridian-power-'));
  chmodSync(dir, 0o755);
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const m = /^\/api\/v1\/clusters\/([^/]+)\/power$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !m) {
        res.writeHead(404).end();
        return;
      }
      const b = JSON.parse(body) as { action: string; nodes: string[] };
      requests.push({ ...b, auth: req.headers.authorization });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ approved: b.nodes }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  hubUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const cfgPath = join(dir, 'power.json');
  for (const action of ['resume', 'suspend']) {
    const wrapper = join(dir, `${action}.sh`);
    // slurmctld runs power programs with a bare environment (SLURM_CONF only, no PATH): absolute paths.
    writeFileSync(wrapper, `#!/bin/sh\nMERIDIAN_POWER_CONFIG=${cfgPath} exec ${process.execPath} ${join(binDir, `meridian-slurm-${action}`)} "$@"\n`, { mode: 0o755 });
  }
  slurm = await SlurmCluster.start({
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
  });
  const cfg: PowerConfig = {
    cluster: 'elastic',
    approval: 'hub',
    hubUrl,
    token: 'cluster-secret',
    // A simulated node on a running host: slurmd in a fresh time namespace, so it reports a boot after the power-up.
    start: ['/usr/bin/unshare', '--fork', '--time', '--boottime', '{bootOffset}', '/usr/sbin/slurmd', '-N', '{node}', '-f', '{conf}'],
    stop: { pidFile: slurm.slurmdPidFile('{node}') },
    logFile: join(dir, 'power.log'),
  };
  writeFileSync(cfgPath, JSON.stringify(cfg));
});

afterAll(async () => {
  await slurm?.stop();
  server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function nodeState(name: string): string {
  return slurm.run('scontrol', ['show', 'node', name, '-o']).stdout.match(/State=(\S+)/)?.[1] ?? '?';
}

async function waitFor(what: string, pred: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await sleep(500);
  }
  const log = existsSync(join(dir, 'power.log')) ? readFileSync(join(dir, 'power.log'), 'utf8') : '(no power log)';
  let slurmd = '(no slurmd log)';
  try {
    slurmd = readFileSync(join(slurm.dir, 'log', 'slurmd-cloud-0.log'), 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    // never started
  }
  throw new Error(`${what} not reached in ${timeoutMs} ms; cloud-0 State=${nodeState('cloud-0')}\npower log:\n${log}\nslurmd-cloud-0:\n${slurmd}\nslurmctld:\n${slurm.logTail('slurmctld', 30)}`);
}

describe('elastic Slurm (State=CLOUD, power saving through the bridge)', () => {
  it('starts with the cloud node powered down', async () => {
    await waitFor('cloud-0 powered down', () => /POWERED_DOWN/.test(nodeState('cloud-0')), 30_000);
    expect(nodeState('cloud-0')).toMatch(/CLOUD/);
  });

});
