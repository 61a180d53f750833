// Secrets (API tokens, agent credentials) are stored only as SHA-256 hashes.
import { createHash, randomBytes } from 'node:crypto';

export function sha256(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** A new random secret with a recognisable prefix (`mrd_` user tokens, `mrc_` cluster credentials). */
export function newSecret(prefix: 'mrd' | 'mrc'): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}
