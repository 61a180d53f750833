// Which login-node variables are credentials: they never leave the login node, whatever --export names.
// The site sets the list in MERIDIAN_SECRET_ENV_PATTERNS (comma- or space-separated globs, case-insensitive);
// MERIDIAN_TOKEN is always on it, since it is the submitting user's own hub credential.

export const SECRET_PATTERNS_VAR = 'MERIDIAN_SECRET_ENV_PATTERNS';

export const DEFAULT_SECRET_ENV_PATTERNS: readonly string[] = ['*TOKEN*', '*SECRET*', '*PASSWORD*', '*PASSWD*', '*_KEY', '*CREDENTIAL*', 'AWS_*', 'MERIDIAN_TOKEN'];

/** The site's patterns (MERIDIAN_SECRET_ENV_PATTERNS replaces the defaults), always with MERIDIAN_TOKEN. */
export function secretEnvPatterns(env: Record<string, string | undefined>): string[] {
  const set = env[SECRET_PATTERNS_VAR];
  const list = set === undefined ? [...DEFAULT_SECRET_ENV_PATTERNS] : set.split(/[\s,]+/).filter(Boolean);
  return list.some((p) => p.toUpperCase() === 'MERIDIAN_TOKEN') ? list : [...list, 'MERIDIAN_TOKEN'];
}

/** `*` any run of characters, `?` one character, everything else literal; the whole name must match. */
function globRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

export type SecretTest = (name: string) => boolean;

export function secretMatcher(patterns: readonly string[]): SecretTest {
  const res = patterns.map(globRegExp);
  return (name) => res.some((r) => r.test(name));
}
