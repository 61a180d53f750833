// Starts the real `edge-agent` process in Slurm mode (`--kind slurm`) for a harness Slurm cluster: used by
// the Slurm end-to-end test and the sandbox.
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AgentProcess, type AgentSpec } from './agent-process.ts';

export interface SlurmAgentSpec extends AgentSpec {
  /** slurm.conf of the cluster (the agent uses the local Slurm CLI with it). */
  slurmConf: string;
  /** Where jobs start when the dispatch names no directory (created world-writable: jobs run as any user). */
  workDir?: string;
  /** Extra environment, e.g. MERIDIAN_FAKE_NVML_SCRIPT for telemetry from the fake NVML. */
  env?: Record<string, string>;
}

export class SlurmAgentProcess extends AgentProcess<SlurmAgentSpec> {
  readonly workDir: string;

  constructor(spec: SlurmAgentSpec) {
    super(spec);
    this.workDir = spec.workDir ?? join(spec.runDir.path, `${spec.clusterId}-jobs`);
    mkdirSync(this.workDir, { recursive: true });
    chmodSync(this.workDir, 0o777);
  }

  protected kindArgs(): string[] {
    return ['--kind', 'slurm', '--slurm-transport', 'local', '--slurm-conf', this.spec.slurmConf, '--slurm-workdir', this.workDir];
  }

  protected env(): NodeJS.ProcessEnv {
    return { ...process.env, SLURM_CONF: this.spec.slurmConf, ...(this.spec.env ?? {}) };
  }
}
