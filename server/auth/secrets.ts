import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A random secret with 256 bits of entropy, URL-safe. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * SHA-256 hex of a secret. The secrets are random 256-bit values, so a fast hash is enough; a slow
 * password hash buys nothing against brute force here and would cost every request.
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function secretMatches(secret: string, hash: string | null): boolean {
  if (!hash) return false;
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(hash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
