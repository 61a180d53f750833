// @meridian/edge-agent public entry point.
export { KubernetesAgent, AGENT_VERSION } from './kubernetes/agent.ts';
export type { AgentOptions } from './kubernetes/agent.ts';
export { KubernetesDriver } from './kubernetes/driver.ts';
export type { DriverOptions } from './kubernetes/driver.ts';
export { buildJob, jobName, jobLabels, ensureJob } from './kubernetes/jobs.ts';
export { nodeInfo, podUsage, InventoryTracker } from './kubernetes/inventory.ts';
export { jobStatus, taskStatus, JobTracker } from './kubernetes/status.ts';
export { detectDrift, DriftMonitor } from './kubernetes/drift.ts';
export { NodeOps } from './kubernetes/node-ops.ts';
