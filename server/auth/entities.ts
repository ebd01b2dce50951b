import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { Organization, ROLES, User } from '../orgs/entities.js';

/** A vendor API key. Only a SHA-256 of the secret is stored; the key is shown once. */
export const ApiKey = defineEntity({
  name: 'ApiKey',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    user: () => p.manyToOne(User).deleteRule('cascade'),
    name: p.string(),
    secretHash: p.string().length(64),
    /** The most this key may do; the user's own role still applies. */
    roleCap: p.enum([...ROLES]).nativeEnumName('membership_role'),
    expiresAt: p.datetime().nullable(),
    lastUsedAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type ApiKey = InferEntity<typeof ApiKey>;
