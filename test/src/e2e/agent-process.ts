// The real `edge-agent` process (edge-agent/bin/edge-agent.js), supervised like every other engine.
// Each cluster kind adds its own flags; start/kill/stop and the credential and journal files are shared.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon } from '../harness/daemon.ts';
import { repoRoot } from '../harness/engines.ts';
import { httpGet } from '../harness/kube/probe.ts';
import { freePort } from '../harness/ports.ts';
import type { RunDir } from '../harness/rundir.ts';

export interface AgentSpec {
  hubUrl: string;
  clusterId: string;
  /** The credential POST /api/v1/clusters returned (written to a 0600 file the agent reads). */
  credential: string;
  runDir: RunDir;
  /** Extra flags, e.g. ['--apiserver-lost-after', '5000']. */
  args?: string[];
  logLevel?: string;
}

export abstract class AgentProcess<S extends AgentSpec> {
  private daemon: Daemon | null = null;
  readonly credentialFile: string;
  readonly journalFile: string;
  url = '';

  constructor(readonly spec: S) {
    this.credentialFile = join(spec.runDir.path, `${spec.clusterId}.credential`);
    this.journalFile = join(spec.runDir.path, `${spec.clusterId}.journal.json`);
    writeFileSync(this.credentialFile, `${spec.credential}\n`, { mode: 0o600 });
  }

  /** The cluster-kind flags (e.g. --kubeconfig, or --kind slurm --slurm-conf ...). */
  protected abstract kindArgs(): string[];
  protected abstract env(): NodeJS.ProcessEnv;

  get running(): boolean {
    return this.daemon?.running ?? false;
  }

  /** Starts the agent (again, after kill/stop: same journal, so it resumes) and waits for /healthz. */
  async start(): Promise<this> {
    const port = await freePort();
    const s = this.spec;
    this.daemon = new Daemon(
      {
        name: `edge-agent-${s.clusterId}`,
        command: process.execPath,
        args: [
          join(repoRoot, 'edge-agent/bin/edge-agent.js'),
          '--hub-url', s.hubUrl,
          '--cluster-id', s.clusterId,
          '--credential-file', this.credentialFile,
          ...this.kindArgs(),
          '--listen', `127.0.0.1:${port}`,
          '--journal', this.journalFile,
          '--log-level', s.logLevel ?? 'info',
          ...(s.args ?? []),
        ],
        cwd: repoRoot,
        env: this.env(),
      },
      s.runDir,
    ).start();
    this.url = `http://127.0.0.1:${port}`;
    await this.daemon.waitReady(async () => (await httpGet(`${this.url}/healthz`)).status === 200, 90_000, 250);
    return this;
  }

  /** A crash: SIGKILL, no goodbye to the hub. */
  async kill(): Promise<void> {
    await this.daemon?.kill();
  }

  async stop(): Promise<void> {
    await this.daemon?.stop();
  }

  logTail(lines = 40): string {
    return this.daemon?.logTail(lines) ?? '(not started)';
  }
}
