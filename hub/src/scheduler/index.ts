// Public API of the federation scheduler. The hub's scheduler loop calls runCycle(input) once per cycle.
export { runCycle } from './cycle.ts';
export { SchedulerInputError, validateJob, validateStructure } from './validate.ts';
export type { Issue } from './validate.ts';
export { parseGpuModels, taskMilli, TIERS, TIER_RANK, POLICIES, NODE_STRATEGIES } from './model.ts';
export type * from './model.ts';
export { Engine } from './engine.ts';
export type { Outcome } from './engine.ts';
export { nodeFragmentation } from './fgd.ts';
export { clusterFragmentation } from './fit.ts';
export type { TaskShape, WorkloadType } from './workload.ts';
export { buildWorkload } from './workload.ts';
