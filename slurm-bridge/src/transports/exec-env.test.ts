// The agent's own command environment and command paths: nothing of a job's (or the agent process's own
// credentials) reaches a child, and a command never comes from a PATH lookup.
import { describe, expect, it } from 'vitest';
import { agentEnv, exportFileBody, isHostileEnvKey, jobIdEnv, resolveArgv, resolveCommands, resolveJobIdLib, SYSTEM_PATH } from './exec-env.ts';
import { fixedEnvCommandLine, LocalRunner } from './runner.ts';
import { sbatchArgs } from './cli.ts';

const hostileOwn = {
  PATH: '/home/user/evil:/usr/bin',
  LD_PRELOAD: '/tmp/evil.so',
  LD_LIBRARY_PATH: '/tmp',
  BASH_ENV: '/tmp/evil.sh',
  ENV: '/tmp/evil.sh',
  SLURM_CONF: '/tmp/evil.conf',
  http_proxy: 'http://evil:3128',
  HTTPS_PROXY: 'http://evil:3128',
  MERIDIAN_CLUSTER_CREDENTIAL: 'mrc_secret',
  HOME: '/home/agent',
  LANG: 'C.UTF-8',
  TZ: 'UTC',
};

describe('agentEnv: the fixed environment of every agent command', () => {
  it('keeps only a system PATH, HOME/LANG/LC_ALL/TZ of the agent itself and the configured keys', () => {
    expect(agentEnv({ SLURM_CONF: '/etc/slurm/slurm.conf' }, hostileOwn)).toEqual({
      PATH: SYSTEM_PATH,
      HOME: '/home/agent',
      LANG: 'C.UTF-8',
      TZ: 'UTC',
      SLURM_CONF: '/etc/slurm/slurm.conf',
    });
  });

  it('drops every hostile key of the environment it starts from', () => {
    const env = agentEnv({}, hostileOwn);
    for (const k of ['LD_PRELOAD', 'LD_LIBRARY_PATH', 'BASH_ENV', 'ENV', 'SLURM_CONF', 'http_proxy', 'HTTPS_PROXY', 'MERIDIAN_CLUSTER_CREDENTIAL']) expect(env).not.toHaveProperty(k);
    expect(env.PATH).toBe(SYSTEM_PATH);
    expect(agentEnv({}, { HOME: 'relative' })).not.toHaveProperty('HOME');
  });

  it('refuses a configured key that would change what runs, naming it', () => {
    for (const k of ['PATH', 'LD_PRELOAD', 'LD_AUDIT', 'BASH_ENV', 'ENV', 'https_proxy', 'NO_PROXY', 'BASH_FUNC_x%%', 'NODE_OPTIONS', 'PYTHONPATH']) {
      expect(() => agentEnv({ [k]: 'x' }, {})).toThrow(new RegExp(`agent command environment: .*${k.replace(/[%]/g, '.')}`));
    }
    expect(() => agentEnv({ PATH: '/evil' }, {})).toThrow(/PATH cannot be set; the agent runs its commands with PATH=.* and configured absolute paths/);
    expect(() => agentEnv({ 'A-B': 'x' }, {})).toThrow(/"A-B" is not a variable name/);
    for (const k of ['SLURM_CONF', 'SLURM_TIME_FORMAT', 'LANG']) expect(isHostileEnvKey(k)).toBe(false);
  });

  it('is the whole environment a LocalRunner child gets', async () => {
    const runner = new LocalRunner({ env: { SLURM_CONF: '/etc/slurm/slurm.conf' }, systemBinDir: '/usr/bin' });
    process.env.LD_PRELOAD_TEST_MARKER = 'x';
    try {
      const r = await runner.exec(['env', '-0']);
      const seen = Object.fromEntries(r.stdout.split('\0').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      expect(Object.keys(seen).sort()).toEqual(Object.keys(runner.env).sort());
      expect(seen.PATH).toBe(SYSTEM_PATH);
      expect(seen).not.toHaveProperty('LD_PRELOAD_TEST_MARKER');
    } finally {
      delete process.env.LD_PRELOAD_TEST_MARKER;
    }
  });
});

describe('resolveCommands: every command from a configured absolute path', () => {
  it('defaults to /usr/bin and takes a directory or a per-command path', () => {
    expect(resolveCommands()).toMatchObject({ sbatch: '/usr/bin/sbatch', scontrol: '/usr/bin/scontrol', tail: '/usr/bin/tail', env: '/usr/bin/env' });
    const c = resolveCommands({ slurmBinDir: '/opt/slurm/bin/', commands: { sacct: '/opt/acct/sacct' } });
    expect(c).toMatchObject({ sbatch: '/opt/slurm/bin/sbatch', squeue: '/opt/slurm/bin/squeue', sacct: '/opt/acct/sacct', tail: '/usr/bin/tail' });
  });

  it('refuses a relative or odd path with the setting and the fix', () => {
    expect(() => resolveCommands({ slurmBinDir: 'bin' })).toThrow(/^slurmBinDir must be an absolute path without \. or \.\. parts, e\.g\. \/usr\/bin \(got "bin"\)$/);
    expect(() => resolveCommands({ slurmBinDir: '/opt/../tmp' })).toThrow(/slurmBinDir must be an absolute path/);
    expect(() => resolveCommands({ systemBinDir: './usr/bin' })).toThrow(/systemBinDir must be an absolute path/);
    expect(() => resolveCommands({ commands: { sbatch: 'sbatch' } })).toThrow(/commands\.sbatch must be an absolute path .* e\.g\. \/opt\/slurm\/bin\/sbatch \(got "sbatch"\)/);
    expect(() => resolveCommands({ commands: { bash: '/bin/bash' } as never })).toThrow(/commands\.bash: not a command the agent runs/);
    expect(() => new LocalRunner({ slurmBinDir: 'relative/bin' })).toThrow(/slurmBinDir must be an absolute path/);
  });

  it('runs only known command names, by absolute path', async () => {
    const c = resolveCommands({ slurmBinDir: '/opt/slurm/bin' });
    expect(resolveArgv(['scontrol', 'ping'], c)).toEqual(['/opt/slurm/bin/scontrol', 'ping']);
    expect(() => resolveArgv(['/tmp/evil/sbatch'], c)).toThrow(/"\/tmp\/evil\/sbatch" is not a command the agent runs/);
    expect(() => resolveArgv(['toString'], c)).toThrow(/not a command the agent runs/);
    await expect(new LocalRunner().exec(['bash', '-c', 'true'])).rejects.toThrow(/"bash" is not a command the agent runs/);
  });

  it('over SSH: env -i with exactly the fixed environment, then the absolute command', () => {
    expect(fixedEnvCommandLine('/usr/bin/env', { PATH: SYSTEM_PATH, SLURM_CONF: '/etc/slurm.conf' }, ['/usr/bin/scontrol', 'show', 'job', '-o'])).toBe(
      `/usr/bin/env -i PATH=${SYSTEM_PATH} SLURM_CONF=/etc/slurm.conf /usr/bin/scontrol show job -o`,
    );
  });
});

describe("the job's environment goes to Slurm in an export file", () => {
  it('NUL-separated NAME=value entries (values may hold newlines), names checked', () => {
    expect(exportFileBody({ FOO: 'bar', MULTI: 'a\nb', PATH: '/evil:/usr/bin' }).toString()).toBe('FOO=bar\0MULTI=a\nb\0PATH=/evil:/usr/bin\0');
    expect(() => exportFileBody({ 'BAD NAME': 'x' })).toThrow(/job environment: "BAD NAME" is not a variable name/);
    expect(() => exportFileBody({ X: 'a\0b' })).toThrow(/job environment: X contains a NUL byte/);
  });

  it('sbatch gets --export=ALL and --export-file', () => {
    expect(sbatchArgs({ script: '#!/bin/sh\n' }, '/tmp/meridian-x/export.env').slice(-2)).toEqual(['--export=ALL', '--export-file=/tmp/meridian-x/export.env']);
  });
});

describe('jobIdEnv: the job-ID library for one sbatch call', () => {
  const env = { PATH: SYSTEM_PATH };
  const lib = '/usr/local/lib/meridian/libmeridian-sbatch-jobid.so';
  it('adds the configured library and the ID for sbatch only; nothing without an ID', () => {
    expect(jobIdEnv(env, ['sbatch', '--parsable'], '42', lib)).toEqual({ PATH: SYSTEM_PATH, LD_PRELOAD: lib, MERIDIAN_SLURM_JOB_ID: '42' });
    expect(jobIdEnv(env, ['scontrol', 'ping'], undefined, lib)).toEqual(env);
    expect(() => jobIdEnv(env, ['scancel', '1'], '42', lib)).toThrow('a requested job ID is for sbatch only, not scancel');
  });
  it('refuses a missing library and IDs Slurm cannot hold, naming the fix', () => {
    expect(() => jobIdEnv(env, ['sbatch'], '42', undefined)).toThrow('sbatch: a requested job ID needs the job-ID library (sbatchJobIdLib, --slurm-jobid-lib)');
    for (const bad of ['0', '67108864', '12a', '-1', ' 42']) expect(() => jobIdEnv(env, ['sbatch'], bad, lib)).toThrow(/is not a number from 1 to 67108863/);
  });
  it('the library path is absolute like the command paths', () => {
    expect(resolveJobIdLib({})).toBeUndefined();
    expect(resolveJobIdLib({ sbatchJobIdLib: lib })).toBe(lib);
    expect(() => resolveJobIdLib({ sbatchJobIdLib: 'lib.so' })).toThrow(/^sbatchJobIdLib must be an absolute path/);
  });
  it('sbatch runs the job as another account with --uid/--gid', () => {
    expect(sbatchArgs({ script: '', uid: 1001, gid: 1002 })).toEqual(expect.arrayContaining(['--uid=1001', '--gid=1002']));
  });
});
