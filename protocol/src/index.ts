// @meridian/protocol: the contracts every other package speaks. The job spec, the REST job view and the agent
// protocol are re-exported here; the Slurm tables and the telemetry codec are imported by subpath
// (`@meridian/protocol/slurm/patterns`, `@meridian/protocol/telemetry/remote-write`) so a package that only
// needs the job spec does not load protobufjs.
export * from './job-spec.ts';
export * from './agent-protocol.ts';
export type * from './job-view.ts';
