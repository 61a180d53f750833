// The CLI transport on this host (the agent runs on a login node, or the power-save programs on slurmctld's host).
import { CliTransport, type CliTransportOptions } from './cli.ts';
import { LocalRunner } from './runner.ts';

export class LocalTransport extends CliTransport {
  constructor(opts: CliTransportOptions & { env?: Record<string, string> } = {}) {
    super(new LocalRunner(opts.env ?? {}), opts);
  }
}
