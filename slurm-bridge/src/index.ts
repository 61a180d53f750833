// @meridian/slurm-bridge public entry point.
export * from './types.ts';
export { RestTransport, type RestOptions } from './transports/rest.ts';
export { SshTransport, SshRunner, type SshOptions, type SshTransportOptions } from './transports/ssh.ts';
export { CliTransport, type CliTransportOptions } from './transports/cli.ts';
export { LocalTransport } from './transports/local.ts';
export { LocalRunner, type CommandRunner, type RunnerOptions } from './transports/runner.ts';
export { agentEnv, resolveCommands, type CommandPaths } from './transports/exec-env.ts';
