// The Temporal dev server (`temporal server start-dev --headless`), built from the Go module proxy.
// The harness waits for it itself: the SDK's own connect wait is too short on 2-core machines.
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { Daemon } from './daemon.ts';
import { goBinary } from './engines.ts';
import { freePort } from './ports.ts';
import { RunDir } from './rundir.ts';

export class TemporalEngine {
  private constructor(
    private readonly runDir: RunDir,
    private daemon: Daemon,
    readonly port: number,
    readonly httpPort: number,
  ) {}

  readonly namespace = 'default';

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(): Promise<TemporalEngine> {
    const runDir = RunDir.create('temporal');
    const port = await freePort();
    const httpPort = await freePort();
    const metricsPort = await freePort();
    const daemon = new Daemon(
      {
        name: 'temporal',
        command: goBinary('temporal', 'temporal'),
        // A file-backed database so a server restart (crash tests) keeps workflows.
        args: ['server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port), '--http-port', String(httpPort),
          '--metrics-port', String(metricsPort), '--db-filename', join(runDir.path, 'temporal.db'), '--log-level', 'warn',
          '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true'],
      },
      runDir,
    ).start();
    const engine = new TemporalEngine(runDir, daemon, port, httpPort);
    await engine.waitReady();
    return engine;
  }

  private async waitReady(): Promise<void> {
    await this.daemon.waitReady(async () => {
      const conn = await Connection.connect({ address: this.address, connectTimeout: 1000 });
      try {
        // The frontend answers before the default namespace exists; wait for the namespace too.
        await conn.workflowService.describeNamespace({ namespace: this.namespace });
        return true;
      } finally {
        await conn.close();
      }
    }, 90_000, 250);
  }

  async restart(hard = false): Promise<void> {
    this.daemon = await this.daemon.restart(hard);
    await this.waitReady();
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
    this.runDir.remove();
  }
}
