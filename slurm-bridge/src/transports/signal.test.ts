// The command lines behind the checkpoint signal and the user hold (the engine suite runs them for real).
import { describe, expect, it } from 'vitest';
import { holdArgv, scancelSignalArgv, slurmSignalName } from './cli.ts';
import { restSignalPath } from './rest.ts';
import { commandLine } from './runner.ts';

describe('Slurm signal and hold command lines', () => {
  it('signals only the batch script: scancel --signal=<name without SIG> --batch <id>', () => {
    expect(scancelSignalArgv('4242', 'SIGUSR1')).toEqual(['scancel', '--signal=USR1', '--batch', '4242']);
    expect(scancelSignalArgv('4242', 'USR2')).toEqual(['scancel', '--signal=USR2', '--batch', '4242']);
    // over SSH the same argv becomes one shell line
    expect(commandLine(scancelSignalArgv('17_3', 'SIGTERM'))).toBe('scancel --signal=TERM --batch 17_3');
  });

  it('holds with uhold, so a root agent records a user hold', () => {
    expect(holdArgv('99')).toEqual(['scontrol', 'uhold', '99']);
  });

  it('sends slurmrestd v0.0.38 the signal as a DELETE query', () => {
    expect(restSignalPath('4242', 'SIGUSR1')).toBe('/job/4242?signal=USR1');
  });

  it('refuses what is not a signal name or job id, naming the field', () => {
    expect(() => slurmSignalName('USR1; rm -rf /')).toThrow(/signal: "USR1; rm -rf \/" is not a signal name; use a name such as SIGUSR1/);
    expect(() => scancelSignalArgv('1', 'sigusr1')).toThrow(/signal: "sigusr1"/);
    expect(() => restSignalPath('1;2', 'SIGUSR1')).toThrow(/not a Slurm job id: "1;2"/);
  });
});
