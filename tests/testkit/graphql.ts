import { expect } from 'vitest';

export interface GraphQLResponse<T = any> {
  data?: T;
  errors?: { message: string; extensions?: Record<string, unknown>; path?: unknown[] }[];
}

/** POST a GraphQL operation; returns the parsed body and HTTP status. */
export async function gql<T = any>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  bearer?: string | null,
): Promise<GraphQLResponse<T> & { status: number }> {
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
export async function ok<T = any>(url: string, query: string, variables: Record<string, unknown>, bearer: string | null): Promise<T> {
  return expectNoGraphQLErrors(await gql<T>(url, query, variables, bearer), { query, variables });
}
