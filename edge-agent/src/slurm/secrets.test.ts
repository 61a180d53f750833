// The Slurm secrets file's form and the container script that reads it (the engine suite checks modes and removal).
import { describe, expect, it } from 'vitest';
import type { DispatchCommand } from '@meridian/protocol/agent-protocol';
import { attemptKey, secretsFileBody } from './secrets.ts';
import { containerScript, submitRequestFor } from './translate.ts';

const cmd: DispatchCommand = {
  kind: 'dispatch', jobId: 'j1', attempt: 2, project: 'p', name: 'n', tasks: 1, perTask: { cpuMilli: 1000, memoryMiB: 100, gpus: 0, rdma: 0 },
  nodes: [], env: { FOO: 'bar' }, maxRuntimeSec: 60, annotations: {}, image: 'img:1', command: ['run'], secrets: { API_KEY: "it's secret" },
};

describe('Slurm job secrets', () => {
  it('writes export lines a shell sources, quoting every value', () => {
    expect(secretsFileBody({ A: 'x y', B: "it's" })).toBe(`export A='x y'\nexport B='it'\\''s'\n`);
    expect(() => secretsFileBody({ 'not-a-name': 'x' })).toThrow(/secrets: "not-a-name" is not a variable name/);
    expect(() => secretsFileBody({ A: 'a\0b' })).toThrow(/secrets: A contains a NUL byte/);
  });

  it('names an attempt directory by job id and attempt, hashing ids that are not file-name safe', () => {
    expect(attemptKey('j-1', 3)).toBe('j-1.3');
    expect(attemptKey('../../etc', 1)).toMatch(/^h[0-9a-f]{32}\.1$/);
  });

  it('gives the job the file path, never the values, and container scripts source it', () => {
    const req = submitRequestFor(cmd, { runtime: 'docker', defaultWorkDir: '/w', secretsFile: '/w/.meridian-secrets/j1.2/secrets.env' });
    expect(req.env).toMatchObject({ FOO: 'bar', MERIDIAN_SECRETS_FILE: '/w/.meridian-secrets/j1.2/secrets.env' });
    expect(JSON.stringify(req)).not.toContain("it's secret");
    const script = containerScript(cmd, 'docker');
    expect(script).toContain('set -a; . "$MERIDIAN_SECRETS_FILE"; set +a');
    expect(script).toContain('-e FOO -e API_KEY');
    expect(script).not.toContain('secret\'');
  });
});
