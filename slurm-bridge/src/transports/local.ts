// The CLI transport on this host (the agent runs on a login node, or the power-save programs on slurmctld's host).
import { CliTransport, type CliTransportOptions } from './cli.ts';
import { LocalRunner, type RunnerOptions } from './runner.ts';

export class LocalTransport extends CliTransport {
  /** `env`: the agent's configured keys (SLURM_CONF); `slurmBinDir` / `commands`: where the commands are. */
  constructor(opts: CliTransportOptions & RunnerOptions = {}) {
    super(new LocalRunner(opts), opts);
  }
}
