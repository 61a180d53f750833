// `meridian`: the command-line client of the hub. Reads MERIDIAN_URL / MERIDIAN_TOKEN (or `meridian login`).
import { Command } from 'commander';
import { adminCommands } from './admin.ts';
import { CliError } from './client.ts';
import { jobCommands } from './jobs.ts';
import { nodeCommands } from './node.ts';
import { secretsCommands } from './secrets.ts';

export function buildProgram(): Command {
  const program = new Command('meridian').description('one queue for every GPU: the Meridian hub CLI').version('0.1.0');
  jobCommands(program);
  nodeCommands(program);
  adminCommands(program);
  secretsCommands(program);
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`${err instanceof CliError ? err.message : `meridian: ${(err as Error).message}`}\n`);
  process.exitCode = err instanceof CliError ? err.exitCode : 1;
}
