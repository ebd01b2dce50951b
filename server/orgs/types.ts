import { createContextCache } from '@pothos/core';
import { builder, vendorOf } from '../schema/builder.js';
import type { Context } from '../context.js';
import { MUTATION_ERRORS } from '../schema/errors.js';
import { ApiKey } from '../auth/entities.js';
import { ApiKeyService } from '../auth/api-keys.js';
import { Invitation, Membership, Organization, ROLES, User } from './entities.js';
import { acceptInvitation, InvitationService, type CreatedInvitation } from './invitations.js';
import { OrganizationService } from './service.js';

export const RoleEnum = builder.enumType('Role', { values: ROLES });

const UserRef = builder.objectRef<Pick<User, 'id' | 'email' | 'name'>>('User').implement({
  fields: (t) => ({ id: t.exposeID('id'), email: t.exposeString('email'), name: t.exposeString('name') }),
});

const MemberRef = builder.objectRef<Membership>('Member').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    user: t.field({ type: UserRef, resolve: (m) => m.user }),
    role: t.field({ type: RoleEnum, resolve: (m) => m.role }),
  }),
});

const OrganizationRef = builder.objectRef<Pick<Organization, 'id' | 'name'>>('Organization').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    members: t.field({
      type: [MemberRef],
      authScopes: { admin: true },
      resolve: (_org, _args, ctx) => new OrganizationService(ctx.em, vendorOf(ctx)).members(),
    }),
  }),
});

const ApiKeyRef = builder.objectRef<ApiKey>('ApiKey').implement({
  description: 'An API key. Its secret is shown only when created.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    roleCap: t.field({ type: RoleEnum, resolve: (k) => k.roleCap }),
    expiresAt: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.expiresAt ?? null }),
    lastUsedAt: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.lastUsedAt ?? null }),
    revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.revokedAt ?? null }),
    createdAt: t.field({ type: 'DateTime', resolve: (k) => k.createdAt }),
  }),
});

const CreatedApiKeyRef = builder.objectRef<{ key: ApiKey; secret: string }>('CreatedApiKey').implement({
  fields: (t) => ({
    apiKey: t.field({ type: ApiKeyRef, resolve: (c) => c.key }),
    secret: t.exposeString('secret', { description: 'Send as `Authorization: Bearer <secret>`. Shown once.' }),
  }),
});

const viewerRows = createContextCache((ctx: Context) => new OrganizationService(ctx.em, vendorOf(ctx)).viewer());

const ViewerRef = builder.objectRef<{ organizationId: string; userId: string; role: (typeof ROLES)[number] }>('Viewer').implement({
  description: 'Who the API key belongs to.',
  fields: (t) => ({
    role: t.field({ type: RoleEnum, resolve: (v) => v.role }),
    // Both from one statement per request, read only when either is selected.
    organization: t.field({ type: OrganizationRef, resolve: async (_v, _a, ctx) => (await viewerRows(ctx)).organization }),
    user: t.field({ type: UserRef, resolve: async (_v, _a, ctx) => (await viewerRows(ctx)).user }),
  }),
});

const InvitationRef = builder.objectRef<Invitation>('Invitation').implement({
  description: 'A pending (or revoked) invitation. Its token is shown only when created.',
  fields: (t) => ({
    id: t.exposeID('id'),
    email: t.exposeString('email'),
    role: t.field({ type: RoleEnum, resolve: (i) => i.role }),
    createdAt: t.field({ type: 'DateTime', resolve: (i) => i.createdAt }),
    expiresAt: t.field({ type: 'DateTime', resolve: (i) => i.expiresAt }),
    revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (i) => i.revokedAt ?? null }),
  }),
});

const CreatedInvitationRef = builder.objectRef<CreatedInvitation>('CreatedInvitation').implement({
  fields: (t) => ({
    invitation: t.field({ type: InvitationRef, resolve: (c) => c.invitation }),
    token: t.exposeString('token', { description: 'Give it to the invited person (acceptInvitation). Shown once.' }),
  }),
});

const AcceptedInvitationRef = builder.objectRef<Awaited<ReturnType<typeof acceptInvitation>>>('AcceptedInvitation').implement({
  fields: (t) => ({
    member: t.field({ type: MemberRef, resolve: (a) => a.membership }),
    apiKey: t.field({ type: CreatedApiKeyRef, resolve: (a) => a.apiKey }),
  }),
});

builder.queryFields((t) => ({
  invitations: t.field({
    type: [InvitationRef],
    description: 'Pending invitations of your organization.',
    authScopes: { admin: true },
    resolve: (_r, _a, ctx) => new InvitationService(ctx.em, vendorOf(ctx)).list(),
  }),
  viewer: t.field({ type: ViewerRef, authScopes: { vendor: true }, resolve: (_r, _a, ctx) => vendorOf(ctx) }),
  apiKeys: t.field({
    type: [ApiKeyRef],
    authScopes: { admin: true },
    resolve: (_r, _a, ctx) => new ApiKeyService(ctx.em, vendorOf(ctx), ctx.hub.bus).list(),
  }),
}));

builder.mutationFields((t) => ({
  createApiKey: t.field({
    type: CreatedApiKeyRef,
    description: "A key for yourself, with a role cap no higher than your role and an optional expiry.",
    authScopes: { vendor: true },
    errors: { types: MUTATION_ERRORS },
    args: { name: t.arg.string({ required: true }), roleCap: t.arg({ type: RoleEnum }), expiresAt: t.arg({ type: 'DateTime' }) },
    resolve: (_r, args, ctx) => new ApiKeyService(ctx.em, vendorOf(ctx), ctx.hub.bus).create(args),
  }),
  revokeApiKey: t.field({
    type: ApiKeyRef,
    authScopes: { admin: true },
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, args, ctx) => new ApiKeyService(ctx.em, vendorOf(ctx), ctx.hub.bus).revoke(String(args.id)),
  }),
  inviteMember: t.field({
    type: CreatedInvitationRef,
    description: 'Invite an e-mail address to this organization with a role. The token is shown once; send it to that address. Answers the same whether the address has an account or not.',
    authScopes: { admin: true },
    errors: { types: MUTATION_ERRORS },
    args: { email: t.arg.string({ required: true }), role: t.arg({ type: RoleEnum, required: true }), name: t.arg.string({ description: 'Name for a new account.' }) },
    resolve: (_r, args, ctx) => new InvitationService(ctx.em, vendorOf(ctx)).invite(args),
  }),
  addMember: t.field({
    type: CreatedInvitationRef,
    description: 'Same as inviteMember: nobody joins an organization without accepting (acceptInvitation).',
    deprecationReason: 'Use inviteMember.',
    authScopes: { admin: true },
    errors: { types: MUTATION_ERRORS },
    args: { email: t.arg.string({ required: true }), name: t.arg.string({ required: true }), role: t.arg({ type: RoleEnum, required: true }) },
    resolve: (_r, args, ctx) => new InvitationService(ctx.em, vendorOf(ctx)).invite(args),
  }),
  revokeInvitation: t.field({
    type: InvitationRef,
    authScopes: { admin: true },
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, args, ctx) => new InvitationService(ctx.em, vendorOf(ctx)).revoke(String(args.id)),
  }),
  acceptInvitation: t.field({
    type: AcceptedInvitationRef,
    description: "Join an organization with an invitation's token (no other credential needed). Returns the membership and an API key for it, shown once.",
    errors: { types: MUTATION_ERRORS },
    args: { token: t.arg.string({ required: true }), name: t.arg.string({ description: 'Your name, for a new account.' }) },
    resolve: (_r, args, ctx) => acceptInvitation(ctx.em, args),
  }),
  setMemberRole: t.field({
    type: MemberRef,
    authScopes: { admin: true },
    errors: { types: MUTATION_ERRORS },
    args: { memberId: t.arg.id({ required: true }), role: t.arg({ type: RoleEnum, required: true }) },
    resolve: (_r, args, ctx) => new OrganizationService(ctx.em, vendorOf(ctx)).setMemberRole(String(args.memberId), args.role),
  }),
}));
