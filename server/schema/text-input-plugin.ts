import SchemaBuilder, { BasePlugin, type PothosOutputFieldConfig, type SchemaTypes } from '@pothos/core';
import type { GraphQLFieldResolver } from 'graphql';
import { requireStorableText } from '../validation.js';

/**
 * Every string argument of every root field, at any depth of its input objects, is text that
 * PostgreSQL and YAML can hold (no NUL byte, no unpaired surrogate). Checked here, once, before
 * any resolver runs, so no field can forget it; the error is an InvalidInputError naming the field
 * (`input.` dropped, as the services name them), which the errors plugin turns into the typed
 * result member. Registered after the errors plugin, so it runs inside it.
 */
export class TextInputPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types['Context'], object>,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> {
    // A field that checks its text item by item (log batches: one bad line must not refuse the
    // batch) opts out with `extensions: { textCheckedByField: true }`.
    if (Object.keys(fieldConfig.args).length === 0 || fieldConfig.extensions?.textCheckedByField) return resolver;
    return (parent, args, context, info) => {
      checkText(args, '');
      return resolver(parent, args, context, info);
    };
  }
}

function checkText(value: unknown, path: string): void {
  if (typeof value === 'string') {
    requireStorableText(path.replace(/^input\./, ''), value);
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => checkText(item, `${path}[${i}]`));
  } else if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    for (const [key, inner] of Object.entries(value)) checkText(inner, path ? `${path}.${key}` : key);
  }
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      distrTextInput: TextInputPlugin<Types>;
    }
  }
}

SchemaBuilder.registerPlugin('distrTextInput', TextInputPlugin);
export const textInputPlugin = 'distrTextInput' as const;
