// @meridian/edge-agent public entry point: the Kubernetes driver and the Slurm driver behind `edge-agent --kind`.
export { KubernetesAgent, AGENT_VERSION } from './kubernetes/agent.ts';
export type { AgentOptions } from './kubernetes/agent.ts';
export { KubernetesDriver } from './kubernetes/driver.ts';
export type { DriverOptions } from './kubernetes/driver.ts';
export { buildJob, jobName, jobLabels, ensureJob } from './kubernetes/jobs.ts';
export { nodeInfo, podUsage, InventoryTracker } from './kubernetes/inventory.ts';
export { jobStatus, taskStatus, JobTracker } from './kubernetes/status.ts';
export { detectDrift, DriftMonitor } from './kubernetes/drift.ts';
export { NodeOps } from './kubernetes/node-ops.ts';
export { SlurmAgent, SLURM_AGENT_VERSION } from './slurm/agent.ts';
export { SlurmDriver } from './slurm/driver.ts';
export type { SlurmAgentOptions } from './slurm/agent.ts';
export type { SlurmDriverOptions } from './slurm/driver.ts';
