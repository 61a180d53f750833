import { describe, expect, it } from 'vitest';
import { exportAnnotation, exportPlan, jobSpecFor } from './jobspec.ts';
import { resolveOptions, wrapScript } from './sbatch-options.ts';
import { DEFAULT_SECRET_ENV_PATTERNS, secretEnvPatterns, secretMatcher } from './secret-env.ts';

const TOKEN = 'mrt_planted_token_value';
const LOGIN_ENV = {
  HOME: '/home/alice',
  PATH: '/usr/bin',
  DATA_DIR: '/scratch/alice',
  MERIDIAN_URL: 'http://hub',
  MERIDIAN_TOKEN: TOKEN,
  GITHUB_TOKEN: 'ghp_x',
  DB_PASSWORD: 'pw',
  MY_SECRET_THING: 's',
  SSH_AUTH_SOCK: '/tmp/agent',
  AWS_REGION: 'eu-west-1',
  AWS_SECRET_ACCESS_KEY: 'aws',
  API_KEY: 'k',
  KEYBOARD: 'us',
  GOOGLE_APPLICATION_CREDENTIALS: '/home/alice/sa.json',
  LDAP_PASSWD: 'p',
};
const isSecret = secretMatcher(DEFAULT_SECRET_ENV_PATTERNS);

/** What sbatch would send for this command line and login environment. */
function submitted(argv: string[], env: Record<string, string> = LOGIN_ENV): { env: Record<string, string>; annotation: string | undefined; dropped: string[]; json: string } {
  const script = wrapScript('true');
  const o = resolveOptions([...argv, '--wrap=true'], script, env);
  const dropped: string[] = [];
  const spec = jobSpecFor(o, script, { cwd: '/home/alice', env, user: 'alice', host: 'login1', onDropped: (n) => dropped.push(...n) });
  return { env: spec.workload.env ?? {}, annotation: spec.annotations?.['slurm.meridian.dev/export'], dropped, json: JSON.stringify(spec) };
}

describe('secret patterns', () => {
  it('match the defaults case-insensitively, whole names only', () => {
    for (const n of ['MERIDIAN_TOKEN', 'github_token', 'DB_PASSWORD', 'ldap_passwd', 'MY_SECRET_THING', 'API_KEY', 'AWS_REGION', 'GOOGLE_APPLICATION_CREDENTIALS']) expect(isSecret(n), n).toBe(true);
    for (const n of ['HOME', 'PATH', 'KEYBOARD', 'DATA_DIR', 'KEY_ID', 'AWSOME']) expect(isSecret(n), n).toBe(false);
  });
  it('the site list replaces the defaults and always keeps MERIDIAN_TOKEN', () => {
    expect(secretEnvPatterns({})).toEqual([...DEFAULT_SECRET_ENV_PATTERNS]);
    expect(secretEnvPatterns({ MERIDIAN_SECRET_ENV_PATTERNS: 'VAULT_*, *_PAT' })).toEqual(['VAULT_*', '*_PAT', 'MERIDIAN_TOKEN']);
    const site = secretMatcher(secretEnvPatterns({ MERIDIAN_SECRET_ENV_PATTERNS: 'VAULT_? site_*' }));
    expect([site('VAULT_A'), site('VAULT_AB'), site('SITE_X'), site('MERIDIAN_TOKEN'), site('GITHUB_TOKEN')]).toEqual([true, false, true, true, false]);
  });
  it('glob metacharacters other than * and ? are literal', () => {
    expect(secretMatcher(['A.B'])('AXB')).toBe(false);
    expect(secretMatcher(['(X)'])('(X)')).toBe(true);
  });
});

describe('no credential leaves the login node, whatever --export says', () => {
  const forms: [string, string[], Record<string, string>?][] = [
    ['default (ALL)', []],
    ['--export=ALL', ['--export=ALL']],
    ['--export=ALL,MERIDIAN_TOKEN', ['--export=ALL,MERIDIAN_TOKEN']],
    ['--export=MERIDIAN_TOKEN', ['--export=MERIDIAN_TOKEN']],
    ['--export=NONE,MERIDIAN_TOKEN', ['--export=NONE,MERIDIAN_TOKEN']],
    ['--export=NIL,MERIDIAN_TOKEN', ['--export=NIL,MERIDIAN_TOKEN']],
    ['--export=ALL,MERIDIAN_TOKEN=<value>', [`--export=ALL,MERIDIAN_TOKEN=${TOKEN}`]],
    ['--export=DATA_DIR,MERIDIAN_TOKEN', ['--export=DATA_DIR,MERIDIAN_TOKEN']],
    ['--export MERIDIAN_TOKEN (separate argument)', ['--export', 'MERIDIAN_TOKEN']],
    ['SBATCH_EXPORT=ALL,MERIDIAN_TOKEN', [], { ...LOGIN_ENV, SBATCH_EXPORT: 'ALL,MERIDIAN_TOKEN' }],
    ['SBATCH_EXPORT=MERIDIAN_TOKEN', [], { ...LOGIN_ENV, SBATCH_EXPORT: 'MERIDIAN_TOKEN' }],
    ['SBATCH_EXPORT=NONE,MERIDIAN_TOKEN', [], { ...LOGIN_ENV, SBATCH_EXPORT: 'NONE,MERIDIAN_TOKEN' }],
    ['SBATCH_EXPORT=ALL,MERIDIAN_TOKEN=<value>', [], { ...LOGIN_ENV, SBATCH_EXPORT: `ALL,MERIDIAN_TOKEN=${TOKEN}` }],
    ['--export=ALL,COPY (COPY holds the token)', ['--export=ALL,COPY'], { ...LOGIN_ENV, COPY: `Bearer ${TOKEN}` }],
    ['default with a copy of the token under another name', [], { ...LOGIN_ENV, COPY: TOKEN }],
  ];
  it.each(forms)('%s', (_label, argv, env) => {
    const s = submitted(argv, env);
    expect(s.json).not.toContain(TOKEN);
    expect(s.json).not.toContain('MERIDIAN_TOKEN');
    expect(s.json).not.toContain('ghp_x');
    for (const k of Object.keys(s.env)) expect(isSecret(k), k).toBe(false);
  });

  it('the default exports the rest of the environment and drops credentials silently', () => {
    const s = submitted([]);
    expect(s.env).toEqual({ HOME: '/home/alice', PATH: '/usr/bin', DATA_DIR: '/scratch/alice', MERIDIAN_URL: 'http://hub', KEYBOARD: 'us' });
    expect(s.dropped).toEqual([]);
    expect(s.annotation).toBeUndefined();
  });

  it('a named credential is dropped and reported by name', () => {
    expect(submitted(['--export=ALL,MERIDIAN_TOKEN,GITHUB_TOKEN=abc,DATA_DIR']).dropped).toEqual(['MERIDIAN_TOKEN', 'GITHUB_TOKEN']);
    expect(submitted([], { ...LOGIN_ENV, SBATCH_EXPORT: 'MERIDIAN_TOKEN' }).dropped).toEqual(['MERIDIAN_TOKEN']);
  });

  it('only-these lists keep the named ordinary variables and their values', () => {
    expect(submitted(['--export=DATA_DIR,MERIDIAN_TOKEN,X=1']).env).toEqual({ DATA_DIR: '/scratch/alice', X: '1' });
    expect(submitted(['--export=NONE,MERIDIAN_TOKEN']).env).toEqual({});
    expect(submitted(['--export=NONE']).env).toEqual({});
  });

  it('the export annotation keeps names only, without credentials', () => {
    expect(submitted([`--export=ALL,MERIDIAN_TOKEN=${TOKEN},X=1`]).annotation).toBe('ALL,X');
    expect(submitted(['--export=MERIDIAN_TOKEN']).annotation).toBe('NONE');
    expect(exportAnnotation('NONE,DATA_DIR')).toBe('NONE,DATA_DIR');
  });

  it('the site patterns decide (e.g. a site that also keeps VAULT_* home)', () => {
    const env = { ...LOGIN_ENV, VAULT_ADDR: 'https://vault', MERIDIAN_SECRET_ENV_PATTERNS: 'VAULT_*' };
    const s = submitted(['--export=ALL,VAULT_ADDR'], env);
    expect(s.env.VAULT_ADDR).toBeUndefined();
    expect(s.env.GITHUB_TOKEN).toBe('ghp_x'); // the site's list replaced the defaults
    expect(s.env.MERIDIAN_TOKEN).toBeUndefined(); // but never the hub token
    expect(s.dropped).toEqual(['VAULT_ADDR']);
  });

  it('exportPlan with a custom test', () => {
    expect(exportPlan('A,B=2,C', { A: '1', C: '3' }, (n) => n === 'C')).toEqual({ env: { A: '1', B: '2' }, dropped: ['C'] });
  });
});
