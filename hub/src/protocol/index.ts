// Contracts shared across packages: the user job spec and the agent protocol.
export * from './job-spec.ts';
export * from './agent-protocol.ts';
