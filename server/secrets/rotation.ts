/**
 * Key rotation: at start the hub re-encrypts, with the current key, every value still encrypted
 * with an earlier one (DISTR_ENCRYPTION_PREVIOUS_KEYS), row by row in one transaction. Replicas
 * starting together do the same work; the last writer wins with the same plaintext.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Keyring } from './encryption.js';
import { registryCredentialAad, secretValueAad } from './resolve.js';

export async function reencryptStaleValues(em: EntityManager, keyring: Keyring): Promise<number> {
  const prefix = `v1.${keyring.current.id}.%`;
  return em.transactional(async (tx) => {
    let count = 0;
    const values = await tx.execute<{ id: string; ciphertext: string }[]>(`select id, ciphertext from secret_value where ciphertext not like ?`, [prefix]);
    for (const row of values) {
      const aad = secretValueAad(row.id);
      await tx.execute(`update secret_value set ciphertext = ? where id = ?`, [keyring.encrypt(keyring.decrypt(row.ciphertext, aad), aad), row.id]);
      count++;
    }
    const credentials = await tx.execute<{ id: string; password_ciphertext: string }[]>(
      `select id, password_ciphertext from registry_credential where password_ciphertext not like ?`,
      [prefix],
    );
    for (const row of credentials) {
      const aad = registryCredentialAad(row.id);
      await tx.execute(`update registry_credential set password_ciphertext = ? where id = ?`, [keyring.encrypt(keyring.decrypt(row.password_ciphertext, aad), aad), row.id]);
      count++;
    }
    return count;
  });
}
