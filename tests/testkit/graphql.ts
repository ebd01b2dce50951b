import { expect } from 'vitest';
import { print } from 'graphql';
import type { DocumentTypeDecoration, TypedDocumentNode } from '@graphql-typed-document-node/core';

/**
 * An operation as text, or as a typed document generated from a .graphql file (preferred: checked
 * by tsc): a document node, or a typed string (protocol/generated's TypedDocumentString).
 */
export type Operation<T = any, V = Record<string, unknown>> = string | TypedDocumentNode<T, V> | (String & DocumentTypeDecoration<T, V>);

const printed = new WeakMap<object, string>();
export function operationText(op: Operation<any, any>): string {
  if (typeof op === 'string') return op;
  if (op instanceof String) return op.toString();
  let text = printed.get(op);
  if (!text) printed.set(op, (text = print(op)));
  return text;
}

export interface GraphQLResponse<T = any> {
  data?: T;
  errors?: { message: string; extensions?: Record<string, unknown>; path?: unknown[] }[];
}

/** POST a GraphQL operation; returns the parsed body and HTTP status. */
export async function gql<T = any, V extends Record<string, unknown> = Record<string, unknown>>(
  url: string,
  operation: Operation<T, V>,
  variables: V = {} as V,
  bearer?: string | null,
): Promise<GraphQLResponse<T> & { status: number }> {
  const query = operationText(operation);
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as GraphQLResponse<T>;
  return { ...body, status: res.status };
}

/** Fails with the whole request and response when the operation returned errors. */
export function expectNoGraphQLErrors<T>(result: GraphQLResponse<T>, request?: { query: string; variables?: unknown }): T {
  if (result.errors?.length) {
    expect.fail(`GraphQL errors: ${JSON.stringify(result.errors, null, 2)}\nrequest: ${JSON.stringify(request, null, 2)}`);
  }
  return result.data as T;
}

/** Run an operation that must succeed and return its data. */
export async function ok<T = any, V extends Record<string, unknown> = Record<string, unknown>>(url: string, operation: Operation<T, V>, variables: V, bearer: string | null): Promise<T> {
  return expectNoGraphQLErrors(await gql<T, V>(url, operation, variables, bearer), { query: operationText(operation), variables });
}
