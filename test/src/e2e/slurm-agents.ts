// Starts the real `edge-agent` process in Slurm mode (`--kind slurm`) for a harness Slurm cluster, supervised
// like every other engine: used by the Slurm end-to-end test and the sandbox.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon } from '../harness/daemon.ts';
import { repoRoot } from '../harness/engines.ts';
import { httpGet } from '../harness/kube/probe.ts';
import { freePort } from '../harness/ports.ts';
import type { RunDir } from '../harness/rundir.ts';

export interface SlurmAgentSpec {
  hubUrl: string;
  clusterId: string;
  /** The credential POST /api/v1/clusters returned (written to a 0600 file the agent reads). */
  credential: string;
  /** slurm.conf of the cluster (the agent uses the local Slurm CLI with it). */
  slurmConf: string;
  runDir: RunDir;
  /** Where jobs start when the dispatch names no directory (created world-writable: jobs run as any user). */
  workDir?: string;
  /** Extra flags, e.g. ['--slurm-poll-interval', '500']. */
  args?: string[];
  logLevel?: string;
  /** Extra environment, e.g. MERIDIAN_FAKE_NVML_SCRIPT for telemetry from the fake NVML. */
  env?: Record<string, string>;
}

export class SlurmAgentProcess {
  private daemon: Daemon | null = null;
  readonly credentialFile: string;
  readonly journalFile: string;
  readonly workDir: string;
  url = '';

  constructor(readonly spec: SlurmAgentSpec) {
    this.credentialFile = join(spec.runDir.path, `${spec.clusterId}.credential`);
    this.journalFile = join(spec.runDir.path, `${spec.clusterId}.journal.json`);
    this.workDir = spec.workDir ?? join(spec.runDir.path, `${spec.clusterId}-jobs`);
    mkdirSync(this.workDir, { recursive: true });
    chmodSync(this.workDir, 0o777);
    writeFileSync(this.credentialFile, `${spec.credential}\n`, { mode: 0o600 });
  }

  get running(): boolean {
    return this.daemon?.running ?? false;
  }

  /** Starts the agent (again after kill/stop: same journal, so it resumes) and waits for /healthz. */
  async start(): Promise<this> {
    const port = await freePort();
    const s = this.spec;
    this.daemon = new Daemon(
      {
        name: `edge-agent-${s.clusterId}`,
        command: process.execPath,
        args: [
          join(repoRoot, 'edge-agent/bin/edge-agent.js'),
          '--kind', 'slurm',
          '--hub-url', s.hubUrl,
          '--cluster-id', s.clusterId,
          '--credential-file', this.credentialFile,
          '--slurm-transport', 'local',
          '--slurm-conf', s.slurmConf,
          '--slurm-workdir', this.workDir,
          '--listen', `127.0.0.1:${port}`,
          '--journal', this.journalFile,
          '--log-level', s.logLevel ?? 'info',
          ...(s.args ?? []),
        ],
        cwd: repoRoot,
        env: { ...process.env, SLURM_CONF: s.slurmConf, ...(s.env ?? {}) },
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
