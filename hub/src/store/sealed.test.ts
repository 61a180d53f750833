import { describe, expect, it } from 'vitest';
import { generateSecretsKey, Keyring, keyIdOf, SecretsKeyError } from './sealed.ts';

describe('Keyring', () => {
  const k1 = generateSecretsKey();
  const k2 = generateSecretsKey();

  it('seals with AES-256-GCM: no plaintext in the blob, opens only in the same context', () => {
    const ring = new Keyring(k1);
    const s = ring.seal('{"API":"planted-value-123"}', 'job-env:7');
    expect(s.keyId).toBe(keyIdOf(Buffer.from(k1, 'base64')));
    expect(s.blob.toString('latin1')).not.toContain('planted-value-123');
    expect(s.blob.length).toBe(1 + 12 + 16 + 27);
    expect(ring.open(s, 'job-env:7').toString()).toBe('{"API":"planted-value-123"}');
    expect(() => ring.open(s, 'job-env:8')).toThrow(SecretsKeyError);
    // a fresh IV per seal
    expect(ring.seal('x', 'c').blob.equals(ring.seal('x', 'c').blob)).toBe(false);
  });

  it('detects tampering', () => {
    const ring = new Keyring(k1);
    const s = ring.seal('hello', 'c');
    const bad = Buffer.from(s.blob);
    bad[bad.length - 1]! ^= 1;
    expect(() => ring.open({ ...s, blob: bad }, 'c')).toThrow(/failed authentication/);
    expect(() => ring.open({ ...s, blob: s.blob.subarray(0, 10) }, 'c')).toThrow(/malformed/);
  });

  it('rotation: the new key seals, old keys still open, unknown keys are named', () => {
    const old = new Keyring(k1);
    const sealedOld = old.seal('v', 'c');
    const rotated = new Keyring(k2, [k1]);
    expect(rotated.currentId).not.toBe(old.currentId);
    expect(rotated.ids).toEqual([rotated.currentId, old.currentId]);
    expect(rotated.open(sealedOld, 'c').toString()).toBe('v');
    expect(rotated.seal('v', 'c').keyId).toBe(rotated.currentId);
    expect(() => new Keyring(k2).open(sealedOld, 'c')).toThrow(new RegExp(`key ${old.currentId} cannot be opened.*MERIDIAN_SECRETS_OLD_KEYS`));
  });

  it('refuses keys that are not 32 bytes of base64, naming the setting and the fix', () => {
    expect(() => new Keyring('')).toThrow(/MERIDIAN_SECRETS_KEY must be 32 random bytes.*openssl rand -base64 32/);
    expect(() => new Keyring('c2hvcnQ=')).toThrow(/MERIDIAN_SECRETS_KEY/);
    expect(() => new Keyring('not base64 at all!')).toThrow(/MERIDIAN_SECRETS_KEY/);
    expect(() => new Keyring(k1, ['c2hvcnQ='])).toThrow(/MERIDIAN_SECRETS_OLD_KEYS entry 1/);
  });
});
