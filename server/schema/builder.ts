import SchemaBuilder from '@pothos/core';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLError } from 'graphql';
import { DateTimeResolver, JSONResolver } from 'graphql-scalars';
import type { AgentPrincipal, Context, VendorPrincipal } from '../context.js';
import { roleAtLeast } from '../orgs/entities.js';
import { textInputPlugin } from './text-input-plugin.js';

export interface AuthScopes {
  /** Any vendor API key of an organization: read its objects. */
  vendor: boolean;
  /** A vendor key with role read_write or admin: create and change objects. */
  writer: boolean;
  /** A vendor key with role admin: manage members and API keys. */
  admin: boolean;
  /** An agent token: read its own target's desired state, report status. */
  agent: boolean;
}

/** The one Pothos builder of the hub. Plugin order matters: scope-auth first, text checks inside errors. */
export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: AuthScopes;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
}>({
  plugins: [ScopeAuthPlugin, ErrorsPlugin, textInputPlugin, RelayPlugin, DataloaderPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: (ctx) => {
      const vendor = ctx.principal?.kind === 'vendor' ? ctx.principal : null;
      return {
        vendor: vendor !== null,
        writer: vendor !== null && roleAtLeast(vendor.role, 'read_write'),
        admin: vendor !== null && roleAtLeast(vendor.role, 'admin'),
        agent: ctx.principal?.kind === 'agent',
      };
    },
    // The auth rule (docs/architecture.md, "Authentication errors"): no credential → 401
    // UNAUTHENTICATED; a valid credential without the right → 403 FORBIDDEN.
    unauthorizedError: (_parent, ctx) =>
      ctx.principal
        ? new GraphQLError('this credential may not perform this operation', { extensions: { code: 'FORBIDDEN', http: { status: 403 } } })
        : new GraphQLError('authentication required: send an API key as `Authorization: Bearer <key>`', { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } }),
    // Subscriptions check scopes once when they start.
    authorizeOnSubscribe: true,
  },
  errors: { directResult: true },
  relay: { clientMutationId: 'omit', cursorType: 'String', nodesOnConnection: true },
});

builder.addScalarType('DateTime', DateTimeResolver);
builder.addScalarType('JSON', JSONResolver);

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

/** The agent principal of a request already admitted by an `agent` scope. */
export function agentOf(ctx: Context): AgentPrincipal {
  if (ctx.principal?.kind !== 'agent') throw new GraphQLError('agent token required', { extensions: { code: 'FORBIDDEN' } });
  return ctx.principal;
}

/** The vendor principal of a request already admitted by a `vendor` scope. */
export function vendorOf(ctx: Context): VendorPrincipal {
  if (ctx.principal?.kind !== 'vendor') throw new GraphQLError('authentication required', { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
  return ctx.principal;
}
