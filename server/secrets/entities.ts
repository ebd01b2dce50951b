import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { Organization } from '../orgs/entities.js';
import { DeploymentTarget } from '../targets/entities.js';

/**
 * A named secret of an organization (target null: the vendor's value) or of one target (the
 * customer's value, which overrides the organization's for deployments on that target). Its value
 * lives in append-only SecretValue rows, so a revision renders the value that was current when
 * the revision was made: changing a secret changes nothing running until a revision is appended.
 * Unique per (organization, name) among org secrets and per (target, name): partial unique
 * indexes in the migration.
 */
export const Secret = defineEntity({
  name: 'Secret',
  uniques: [
    { name: 'secret_org_name_unique', expression: 'create unique index "secret_org_name_unique" on "secret" ("organization_id", "name") where "target_id" is null' },
    { name: 'secret_target_name_unique', expression: 'create unique index "secret_target_name_unique" on "secret" ("target_id", "name") where "target_id" is not null' },
  ],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    target: () => p.manyToOne(DeploymentTarget).deleteRule('cascade').nullable().index(),
    name: p.string(),
    /** Append a revision to every affected deployment whenever the value changes. */
    redeployOnChange: p.boolean().default(false),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()),
    updatedBy: p.string(),
  },
});
export type Secret = InferEntity<typeof Secret>;

/** One value of a secret, AES-256-GCM encrypted (AAD: `secret-value:<id>`). Append-only. */
export const SecretValue = defineEntity({
  name: 'SecretValue',
  indexes: [{ properties: ['secret', 'createdAt'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    secret: () => p.manyToOne(Secret).deleteRule('cascade'),
    ciphertext: p.text(),
    createdAt: p.datetime(),
    createdBy: p.string(),
  },
});
export type SecretValue = InferEntity<typeof SecretValue>;

/**
 * Credentials for one registry host (images and OCI / repository charts), optionally limited to
 * some applications and/or targets (empty lists: all). The password is AES-256-GCM encrypted
 * (AAD: `registry-credential:<id>`) and never leaves the hub except to an agent that needs it.
 */
export const RegistryCredential = defineEntity({
  name: 'RegistryCredential',
  indexes: [{ properties: ['organization'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    /** Registry host as image references name it: `ghcr.io`, `registry.example.com:5000`. */
    host: p.string(),
    username: p.string(),
    passwordCiphertext: p.text(),
    applicationIds: p.array().default([]),
    targetIds: p.array().default([]),
    createdAt: p.datetime().onCreate(() => new Date()),
    createdBy: p.string(),
    updatedAt: p.datetime().onCreate(() => new Date()),
    updatedBy: p.string(),
  },
});
export type RegistryCredential = InferEntity<typeof RegistryCredential>;
