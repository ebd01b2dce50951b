import { builder, vendorOf } from '../schema/builder.js';
import { DeletedRef, MUTATION_ERRORS } from '../schema/errors.js';
import { DeploymentTargetRef } from '../targets/types.js';
import { DeploymentRef } from '../deployments/types.js';
import type { RegistryCredential, Secret } from './entities.js';
import { RegistryCredentialService, SecretService, type SecretChange } from './service.js';
import { secretReference } from './templates.js';

const SecretRef = builder.objectRef<Secret>('Secret').implement({
  description: 'A named secret. Its value is write-only: no query returns it.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    reference: t.string({ description: 'How templates reference it, e.g. ${{ secrets.DB_PASSWORD }}.', resolve: (s) => secretReference(s.name) }),
    target: t.field({
      type: DeploymentTargetRef,
      nullable: true,
      description: "Set for a target's own value (overrides the organization's); null for the organization's.",
      resolve: (s) => s.target?.id ?? null,
    }),
    redeployOnChange: t.exposeBoolean('redeployOnChange'),
    usedBy: t.field({
      type: [DeploymentRef],
      description: 'Deployments whose current revision renders this secret (from this scope).',
      resolve: (s, _args, ctx) => new SecretService(ctx.em, vendorOf(ctx), ctx.hub).usage(s.id),
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (s) => s.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (s) => s.updatedAt }),
    updatedBy: t.exposeString('updatedBy'),
  }),
});

const SecretChangeRef = builder.objectRef<SecretChange>('SecretChange').implement({
  fields: (t) => ({
    secret: t.field({ type: SecretRef, resolve: (c) => c.secret }),
    affectedDeployments: t.field({ type: [DeploymentRef], description: 'Deployments that render this secret.', resolve: (c) => c.affected.map((d) => d.id) }),
    redeployedDeployments: t.field({
      type: [DeploymentRef],
      description: 'Those that got a new revision now (redeploy requested, or the secret redeploys on change).',
      resolve: (c) => c.redeployed.map((d) => d.id),
    }),
  }),
});

const RegistryCredentialRef = builder.objectRef<RegistryCredential>('RegistryCredential').implement({
  description: 'Credentials for a registry host. The password is write-only.',
  fields: (t) => ({
    id: t.exposeID('id'),
    host: t.exposeString('host'),
    username: t.exposeString('username'),
    applicationIds: t.field({ type: ['ID'], description: 'Limited to these applications; empty: all.', resolve: (c) => c.applicationIds ?? [] }),
    targetIds: t.field({ type: ['ID'], description: 'Limited to these targets; empty: all.', resolve: (c) => c.targetIds ?? [] }),
    createdAt: t.field({ type: 'DateTime', resolve: (c) => c.createdAt }),
    createdBy: t.exposeString('createdBy'),
    updatedAt: t.field({ type: 'DateTime', resolve: (c) => c.updatedAt }),
    updatedBy: t.exposeString('updatedBy'),
  }),
});

builder.queryFields((t) => ({
  secrets: t.field({
    type: [SecretRef],
    authScopes: { vendor: true },
    description: "The organization's secrets, or with targetId that target's own values. Names only, never values.",
    args: { targetId: t.arg.id() },
    resolve: (_root, args, ctx) => new SecretService(ctx.em, vendorOf(ctx), ctx.hub).listSecrets(args.targetId ? String(args.targetId) : null),
  }),
  registryCredentials: t.field({
    type: [RegistryCredentialRef],
    authScopes: { vendor: true },
    resolve: (_root, _args, ctx) => new RegistryCredentialService(ctx.em, vendorOf(ctx), ctx.hub).list(),
  }),
}));

const SetSecretInput = builder.inputType('SetSecretInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'Letters, digits and _; referenced as ${{ secrets.NAME }}.' }),
    value: t.string({ required: true }),
    targetId: t.id({ description: "A target's own value (overrides the organization's for that target)." }),
    redeployOnChange: t.boolean({ description: 'Remember: every change of this secret appends a revision to each affected deployment.' }),
    redeploy: t.boolean({ description: "Append a revision to each affected deployment now (default: the secret's redeployOnChange)." }),
  }),
});

const RegistryCredentialInput = builder.inputType('RegistryCredentialInput', {
  fields: (t) => ({
    host: t.string({ description: 'Registry host, e.g. ghcr.io or registry.example.com:5000 (required on create).' }),
    username: t.string(),
    password: t.string({ description: 'Password or token (write-only).' }),
    applicationIds: t.idList({ description: 'Only for deployments of these applications (empty: all).' }),
    targetIds: t.idList({ description: 'Only for deployments on these targets (empty: all).' }),
  }),
});

builder.mutationFields((t) => ({
  setSecret: t.field({
    type: SecretChangeRef,
    description: 'Create or change a secret. Running deployments keep the old value until they get a new revision (redeploy).',
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: SetSecretInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      new SecretService(ctx.em, vendorOf(ctx), ctx.hub).setSecret({ ...input, targetId: input.targetId ? String(input.targetId) : null }),
  }),
  deleteSecret: t.field({
    type: DeletedRef,
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => new SecretService(ctx.em, vendorOf(ctx), ctx.hub).deleteSecret(String(args.id)).then((id) => ({ id })),
  }),
  createRegistryCredential: t.field({
    type: RegistryCredentialRef,
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: RegistryCredentialInput, required: true }) },
    resolve: (_root, { input }, ctx) => new RegistryCredentialService(ctx.em, vendorOf(ctx), ctx.hub).create(ids(input)),
  }),
  updateRegistryCredential: t.field({
    type: RegistryCredentialRef,
    description: 'Rotate the password or change the limits. Agents receive it at once; nothing redeploys.',
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: RegistryCredentialInput, required: true }) },
    resolve: (_root, args, ctx) => new RegistryCredentialService(ctx.em, vendorOf(ctx), ctx.hub).update(String(args.id), ids(args.input)),
  }),
  deleteRegistryCredential: t.field({
    type: DeletedRef,
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => new RegistryCredentialService(ctx.em, vendorOf(ctx), ctx.hub).delete(String(args.id)).then((id) => ({ id })),
  }),
}));

function ids<T extends { applicationIds?: (string | number)[] | null; targetIds?: (string | number)[] | null }>(input: T) {
  return { ...input, applicationIds: input.applicationIds?.map(String) ?? null, targetIds: input.targetIds?.map(String) ?? null };
}
