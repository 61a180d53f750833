// Both transports, one suite, one real Slurm cluster (+ a real sshd for the login-node transport).
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { SlurmCluster } from '../harness/slurm.ts';
import { SshdEngine } from '../harness/sshd.ts';
import { LocalTransport } from '@meridian/slurm-bridge/transports/local';
import { RestTransport } from '@meridian/slurm-bridge/transports/rest';
import { SshTransport } from '@meridian/slurm-bridge/transports/ssh';
import { describeTransport } from './transport-suite.ts';

let slurm: SlurmCluster;
let sshd: SshdEngine;
let rest: RestTransport;
let ssh: SshTransport;
let outDir: string;

beforeAll(async () => {
  [slurm, sshd] = await Promise.all([SlurmCluster.start({ clusterName: 'transports' }), SshdEngine.start()]);
  outDir = join(slurm.dir, 'out');
  mkdirSync(outDir, { recursive: true });
  chmodSync(outDir, 0o777);
  rest = new RestTransport({
    url: slurm.restUrl,
    userName: 'root',
    token: slurm.token('root', 7200),
    fallback: new LocalTransport({ env: { SLURM_CONF: slurm.confPath } }),
  });
  ssh = new SshTransport({ host: sshd.host, port: sshd.port, username: sshd.username, privateKey: sshd.privateKey, env: { SLURM_CONF: slurm.confPath } });
});

afterAll(async () => {
  await rest?.close();
  await ssh?.close();
  await Promise.all([slurm?.stop(), sshd?.stop()]);
});

describeTransport('slurmrestd v0.0.38', () => ({ transport: rest, outDir }));
describeTransport('ssh', () => ({ transport: ssh, outDir }));
