// Sealing at rest: AES-256-GCM under the hub's secrets key (MERIDIAN_SECRETS_KEY). Each sealed value records the
// id of the key that sealed it, so the hub can hold the current key and older ones (MERIDIAN_SECRETS_OLD_KEYS)
// while `meridian admin reseal` moves every row to the current key. Pure: no I/O.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export class SecretsKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretsKeyError';
  }
}

export interface Sealed {
  keyId: string;
  /** version (1) ‖ 12-byte IV ‖ 16-byte GCM tag ‖ ciphertext */
  blob: Buffer;
}

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const GENERATE_KEY_HINT = 'generate one with `openssl rand -base64 32`';

/** A key's public name: a hash of the key, so the id says which key sealed a row and nothing about the key. */
export function keyIdOf(key: Buffer): string {
  return `k${createHash('sha256').update('meridian secrets key id\0').update(key).digest('hex').slice(0, 16)}`;
}

function decodeKey(text: string, what: string): Buffer {
  const t = text.trim();
  const key = /^[A-Za-z0-9+/]+={0,2}$/.test(t) ? Buffer.from(t, 'base64') : Buffer.alloc(0);
  if (key.length !== 32) throw new SecretsKeyError(`${what} must be 32 random bytes in base64 (44 characters); ${GENERATE_KEY_HINT}`);
  return key;
}

export class Keyring {
  readonly currentId: string;
  private readonly keys = new Map<string, Buffer>();

  /** `current`: base64 of 32 bytes; `previous`: older keys still accepted for opening (rotation). */
  constructor(current: string, previous: readonly string[] = []) {
    const cur = decodeKey(current, 'MERIDIAN_SECRETS_KEY');
    this.currentId = keyIdOf(cur);
    this.keys.set(this.currentId, cur);
    previous.forEach((p, i) => {
      const k = decodeKey(p, `MERIDIAN_SECRETS_OLD_KEYS entry ${i + 1}`);
      if (!this.keys.has(keyIdOf(k))) this.keys.set(keyIdOf(k), k);
    });
  }

  /** Key ids this keyring can open. */
  get ids(): string[] {
    return [...this.keys.keys()];
  }

  /** Seals under the current key; `context` (e.g. the job id) must be given again to open it, so a sealed value moved to another row does not open. */
  seal(plain: Buffer | string, context: string): Sealed {
    const key = this.keys.get(this.currentId)!;
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', key, iv);
    c.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([c.update(typeof plain === 'string' ? Buffer.from(plain, 'utf8') : plain), c.final()]);
    return { keyId: this.currentId, blob: Buffer.concat([Buffer.from([VERSION]), iv, c.getAuthTag(), ct]) };
  }

  open(s: Sealed, context: string): Buffer {
    const key = this.keys.get(s.keyId);
    if (!key) throw new SecretsKeyError(`a value sealed under key ${s.keyId} cannot be opened: the hub holds keys ${this.ids.join(', ')}; add the key that sealed it to MERIDIAN_SECRETS_OLD_KEYS`);
    if (s.blob.length < 1 + IV_BYTES + TAG_BYTES || s.blob[0] !== VERSION) throw new SecretsKeyError('sealed value is malformed (unknown version or truncated)');
    const iv = s.blob.subarray(1, 1 + IV_BYTES);
    const tag = s.blob.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAAD(Buffer.from(context, 'utf8'));
    d.setAuthTag(tag);
    try {
      return Buffer.concat([d.update(s.blob.subarray(1 + IV_BYTES + TAG_BYTES)), d.final()]);
    } catch {
      throw new SecretsKeyError(`sealed value under key ${s.keyId} failed authentication (tampered, or sealed for another ${context.split(':')[0] ?? 'row'})`);
    }
  }
}

/** A fresh random key in the form MERIDIAN_SECRETS_KEY takes (tests, first installs). */
export function generateSecretsKey(): string {
  return randomBytes(32).toString('base64');
}
