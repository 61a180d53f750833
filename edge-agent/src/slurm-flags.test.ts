// The Slurm execution flags of `edge-agent --kind slurm`: what they parse to, and broken input refused with
// the flag and the fix named.
import { describe, expect, it } from 'vitest';
import { program } from './main.ts';
import { slurmTransport, type SlurmModeOptions } from './slurm-mode.ts';

function parse(args: string[]): Record<string, unknown> {
  const cmd = program().exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  cmd.parseOptions(args);
  return cmd.opts();
}

describe('slurm execution flags', () => {
  it('parse to the driver settings, with run-as agent and min uid 1000 by default', () => {
    expect(parse([])).toMatchObject({ slurmRunAs: 'agent', slurmMinUid: 1000 });
    expect(parse(['--slurm-run-as', 'submitter', '--slurm-user-map', 'alice=asmith, bob=bjones', '--slurm-min-uid', '500', '--slurm-shards-per-gpu', '10', '--slurm-jobid-lib', '/usr/local/lib/x.so'])).toMatchObject({
      slurmRunAs: 'submitter',
      slurmUserMap: { alice: 'asmith', bob: 'bjones' },
      slurmMinUid: 500,
      slurmShardsPerGpu: 10,
      slurmJobidLib: '/usr/local/lib/x.so',
    });
  });
  it('refuse broken input naming the flag and the expected form', () => {
    expect(() => parse(['--slurm-user-map', 'alice'])).toThrow(/--slurm-user-map <map>' argument 'alice' is invalid. "alice" is not meridianUser=unixAccount \(e\.g\. alice=asmith\)/);
    expect(() => parse(['--slurm-user-map', 'alice=bad name'])).toThrow(/"alice=bad name" is not meridianUser=unixAccount/);
    expect(() => parse(['--slurm-shards-per-gpu', 'ten'])).toThrow(/--slurm-shards-per-gpu <n>' argument 'ten' is invalid. expected a whole number >= 0/);
    expect(() => parse(['--slurm-min-uid', '-1'])).toThrow(/--slurm-min-uid <uid>' argument '-1' is invalid/);
    expect(() => parse(['--slurm-run-as', 'root'])).toThrow(/--slurm-run-as <who>' argument 'root' is invalid. Allowed choices are agent, submitter/);
  });
  it('a relative job-ID library path is refused at startup, naming the flag', () => {
    const o = { slurmTransport: 'local', slurmrestdUser: 'root', sshPort: 22, slurmWorkdir: '/tmp', slurmRuntime: 'host', slurmPollInterval: 2000, slurmJobidLib: 'lib.so' } as SlurmModeOptions;
    expect(() => slurmTransport(o)).toThrow(/^--slurm-jobid-lib \(MERIDIAN_SLURM_JOBID_LIB\): must be an absolute path without \. or \.\. parts/);
  });
});
