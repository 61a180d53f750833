// Which Unix account a job runs as when the agent runs jobs as their submitter (--slurm-run-as submitter): the
// account named like the Meridian user who submitted it, or as the user map says, looked up on the host sbatch
// runs on. Root and system accounts (uid below the minimum) never; errors say what to fix.
import type { DispatchCommand } from '@meridian/protocol/agent-protocol';
import type { SlurmTransport, UnixAccount } from '@meridian/slurm-bridge/types';

const TTL_MS = 60_000;

export class JobAccounts {
  private readonly cache = new Map<string, { at: number; account: UnixAccount | undefined }>();

  constructor(
    private readonly transport: SlurmTransport,
    private readonly userMap: Record<string, string>,
    private readonly minUid: number,
  ) {}

  /** The uid/gid a job of `cmd.user` runs as (lookups cached a minute). */
  async of(cmd: Pick<DispatchCommand, 'jobId' | 'user'>): Promise<{ uid: number; gid: number }> {
    if (!cmd.user) throw new Error(`job ${cmd.jobId} has no submitting user; this cluster runs jobs only as their submitter`);
    const name = this.userMap[cmd.user] ?? cmd.user;
    if (!this.transport.account) throw new Error(`the ${this.transport.kind} transport cannot look up Unix accounts; run jobs as their submitter through the local or ssh transport`);
    let hit = this.cache.get(name);
    if (!hit || Date.now() - hit.at > TTL_MS) {
      hit = { at: Date.now(), account: await this.transport.account(name) };
      this.cache.set(name, hit);
    }
    if (!hit.account) throw new Error(`Meridian user ${cmd.user} has no Unix account ${JSON.stringify(name)} on this cluster (add the account, or map the user with --slurm-user-map)`);
    if (hit.account.uid < this.minUid) throw new Error(`Unix account ${name} has uid ${hit.account.uid}; jobs run only as accounts with uid >= ${this.minUid}`);
    return { uid: hit.account.uid, gid: hit.account.gid };
  }
}
