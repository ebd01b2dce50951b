import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';

export const ROLES = ['read_only', 'read_write', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Role order: a role grants everything the ones before it grant. */
export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

export const Organization = defineEntity({
  name: 'Organization',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    name: p.string(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type Organization = InferEntity<typeof Organization>;

export const User = defineEntity({
  name: 'User',
  tableName: 'app_user',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    email: p.string().unique(),
    name: p.string(),
    /** scrypt (server/auth/passwords.ts); null: the user cannot sign in with a password (API keys only). */
    passwordHash: p.text().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type User = InferEntity<typeof User>;

export const Membership = defineEntity({
  name: 'Membership',
  uniques: [{ properties: ['organization', 'user'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    user: () => p.manyToOne(User).deleteRule('cascade'),
    role: p.enum([...ROLES]).nativeEnumName('membership_role'),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type Membership = InferEntity<typeof Membership>;

/** Hub-wide settings kept in the database so every replica shares them (e.g. the token key). */
export const Setting = defineEntity({
  name: 'Setting',
  properties: {
    key: p.string().primary(),
    value: p.text(),
  },
});
export type Setting = InferEntity<typeof Setting>;

/**
 * An invitation to join an organization with a role, for an e-mail address. Accepted once, by
 * whoever holds its token (sent to that address): only a SHA-256 of the token is stored, and the
 * token is shown once, to the admin who created it. Membership across organizations needs one.
 */
export const Invitation = defineEntity({
  name: 'Invitation',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    email: p.string(),
    role: p.enum([...ROLES]).nativeEnumName('membership_role'),
    /** The name for a new account, when the address has none yet. */
    suggestedName: p.string().nullable(),
    tokenHash: p.string().length(64).unique(),
    invitedBy: () => p.manyToOne(User).deleteRule('set null').nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    expiresAt: p.datetime(),
    acceptedAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
  },
});
export type Invitation = InferEntity<typeof Invitation>;
