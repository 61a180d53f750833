// OpenSSH server from Debian on a loopback port, with a throwaway host key and client key, so the
// Slurm login-node transport (ssh2) is tested against a real sshd.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { Daemon } from './daemon.ts';
import { debian } from './engines.ts';
import { freePort } from './ports.ts';
import { RunDir } from './rundir.ts';
import { connect } from 'node:net';

export class SshdEngine {
  private constructor(
    private readonly runDir: RunDir,
    private readonly daemon: Daemon,
    readonly port: number,
    readonly clientKeyPath: string,
    readonly username: string,
  ) {}

  readonly host = '127.0.0.1';

  get privateKey(): Buffer {
    return readFileSync(this.clientKeyPath);
  }

  static async start(): Promise<SshdEngine> {
    const runDir = RunDir.create('sshd');
    const port = await freePort();
    const hostKey = join(runDir.path, 'ssh_host_ed25519_key');
    const clientKey = join(runDir.path, 'client_ed25519');
    for (const key of [hostKey, clientKey]) {
      execFileSync(debian.sshKeygen, ['-q', '-t', 'ed25519', '-N', '', '-C', 'meridian-harness', '-f', key]);
    }
    const authorized = join(runDir.path, 'authorized_keys');
    writeFileSync(authorized, readFileSync(`${clientKey}.pub`), { mode: 0o600 });
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege-separation dir sshd insists on
    const config = join(runDir.path, 'sshd_config');
    writeFileSync(
      config,
      [
        `ListenAddress 127.0.0.1:${port}`,
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${authorized}`,
        `PidFile ${join(runDir.path, 'sshd.pid')}`,
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PubkeyAuthentication yes',
        'PermitRootLogin prohibit-password',
        'StrictModes no', // the temp dir is not in a home directory with the usual modes
        'UsePAM no',
        'PrintMotd no',
        'AcceptEnv LANG LC_* SLURM_* MERIDIAN_*',
        'Subsystem sftp internal-sftp',
        '',
      ].join('\n'),
    );
    const daemon = new Daemon({ name: 'sshd', command: debian.sshd, args: ['-D', '-e', '-f', config] }, runDir).start();
    await daemon.waitReady(
      () =>
        new Promise<boolean>((resolve) => {
          const s = connect(port, '127.0.0.1');
          s.once('data', (d) => {
            s.destroy();
            resolve(d.toString().startsWith('SSH-2.0'));
          });
          s.once('error', () => resolve(false));
        }),
      20_000,
    );
    return new SshdEngine(runDir, daemon, port, clientKey, userInfo().username);
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
    this.runDir.remove();
  }
}
