/**
 * Encryption at rest for secrets and registry passwords: AES-256-GCM (node:crypto), a random
 * 96-bit IV per value, and additional authenticated data binding each ciphertext to its row, so
 * a value copied into another row does not decrypt. The key never touches the database: it comes
 * from DISTR_ENCRYPTION_KEY, DISTR_ENCRYPTION_KEY_FILE, or a key file generated once in the data
 * folder. Ciphertexts name the key they were made with (`v1.<keyId>.<iv>.<tag>.<data>`), so
 * earlier keys (DISTR_ENCRYPTION_PREVIOUS_KEYS) still decrypt while the hub re-encrypts at start.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

const ALGORITHM = 'aes-256-gcm';
const VERSION = 'v1';

export class EncryptionKeyError extends Error {}

export interface Key {
  id: string;
  bytes: Buffer;
}

/** A key given as 64 hex digits or base64 of 32 bytes. */
export function parseKey(text: string, source: string): Key {
  const trimmed = text.trim();
  let bytes: Buffer;
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) bytes = Buffer.from(trimmed, 'hex');
  else bytes = Buffer.from(trimmed, 'base64');
  if (bytes.length !== 32) throw new EncryptionKeyError(`${source}: an encryption key must be 32 bytes, as 64 hex digits or base64 (got ${bytes.length} bytes)`);
  return { id: createHash('sha256').update('distr-encryption-key').update(bytes).digest('hex').slice(0, 8), bytes };
}

export function generateKeyText(): string {
  return randomBytes(32).toString('base64');
}

/** The current key (encrypts) and earlier ones (decrypt only, until re-encryption is done). */
export class Keyring {
  private readonly byId = new Map<string, Key>();

  constructor(
    readonly current: Key,
    previous: Key[] = [],
    /** Where the current key came from, for the start-up log (never the key itself). */
    readonly source = 'setting',
  ) {
    for (const key of [current, ...previous]) this.byId.set(key.id, key);
  }

  encrypt(plaintext: string, aad: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv(ALGORITHM, this.current.bytes, iv);
    cipher.setAAD(Buffer.from(aad));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, this.current.id, iv.toString('base64url'), tag.toString('base64url'), data.toString('base64url')].join('.');
  }

  decrypt(ciphertext: string, aad: string): string {
    const [version, keyId, iv, tag, data] = ciphertext.split('.');
    if (version !== VERSION || !keyId || iv === undefined || tag === undefined || data === undefined) throw new EncryptionKeyError('not a distr ciphertext');
    const key = this.byId.get(keyId);
    if (!key) {
      throw new EncryptionKeyError(`a value is encrypted with key ${keyId}, which is neither DISTR_ENCRYPTION_KEY nor in DISTR_ENCRYPTION_PREVIOUS_KEYS`);
    }
    const decipher = createDecipheriv(ALGORITHM, key.bytes, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
  }

  /** Whether a ciphertext was made with an earlier key and should be re-encrypted. */
  isStale(ciphertext: string): boolean {
    return ciphertext.split('.')[1] !== this.current.id;
  }
}

export interface EncryptionSettings {
  DISTR_ENCRYPTION_KEY?: string;
  DISTR_ENCRYPTION_KEY_FILE?: string;
  DISTR_ENCRYPTION_PREVIOUS_KEYS?: string;
  dataDir: string;
}

/**
 * The keyring from the settings: DISTR_ENCRYPTION_KEY, else DISTR_ENCRYPTION_KEY_FILE, else
 * `<data folder>/encryption.key` (created with a new random key on first use, mode 0600).
 */
export async function loadKeyring(settings: EncryptionSettings): Promise<Keyring> {
  const previous = (settings.DISTR_ENCRYPTION_PREVIOUS_KEYS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((text, i) => parseKey(text, `DISTR_ENCRYPTION_PREVIOUS_KEYS entry ${i + 1}`));
  if (settings.DISTR_ENCRYPTION_KEY) return new Keyring(parseKey(settings.DISTR_ENCRYPTION_KEY, 'DISTR_ENCRYPTION_KEY'), previous, 'DISTR_ENCRYPTION_KEY');
  const file = settings.DISTR_ENCRYPTION_KEY_FILE ?? path.join(settings.dataDir, 'encryption.key');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || settings.DISTR_ENCRYPTION_KEY_FILE) {
      throw new EncryptionKeyError(`cannot read the encryption key file ${file}: ${(error as Error).message}`);
    }
    await mkdir(path.dirname(file), { recursive: true });
    try {
      // 'wx': of two hubs starting at once, one writes and the other reads what it wrote.
      await writeFile(file, `${generateKeyText()}\n`, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    text = await readFile(file, 'utf8');
  }
  return new Keyring(parseKey(text, file), previous, file);
}
