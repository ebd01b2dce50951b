/**
 * GraphQL over HTTP for the agent: one POST with node:http / node:https (the hub's login, and the
 * reports when no socket is open). Not `fetch`: Node loads undici for it on first use, several MB of
 * an agent's resident memory for a handful of requests; the GraphQL documents are text already
 * (protocol/generated, documentMode string), so nothing here needs the `graphql` package either.
 */
import http from 'node:http';
import https from 'node:https';
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';

/** A GraphQL error as the hub sends it. */
export interface HubGraphQLError {
  message: string;
  extensions?: Record<string, unknown>;
  path?: readonly (string | number)[];
}

/**
 * The hub answered, but not with data: GraphQL errors (`errors`), a non-2xx status, or a body that
 * is not a GraphQL response (`errors` undefined: not a distr hub, or a proxy's page).
 */
export class HubResponseError extends Error {
  constructor(
    readonly operation: string,
    readonly response: { status: number; errors?: HubGraphQLError[] },
  ) {
    const detail = response.errors?.length ? response.errors.map((e) => e.message).join('; ') : 'not a GraphQL response';
    super(`${operation}: ${detail} (HTTP ${response.status})`);
    this.name = 'HubResponseError';
  }
}

/** A typed document (protocol/generated): its text and its result and variable types. */
export type HubDocument<R, V> = DocumentTypeDecoration<R, V> & { toString(): string };

/** Longest wait for an answer before the request fails (the callers retry with backoff). */
const REQUEST_TIMEOUT_MS = 60_000;

/** The operation name of a document, for errors and logs. */
function operationName(query: string): string {
  return /\b(?:query|mutation|subscription)\s+(\w+)/.exec(query)?.[1] ?? 'operation';
}

type GraphQLResponse<R> = { data?: R | null; errors?: HubGraphQLError[] };

/** The body as a GraphQL response, or null when it is none (not JSON, or no `data`/`errors`). */
function parseResponse<R>(text: string): GraphQLResponse<R> | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object' || !('data' in value || 'errors' in value)) return null;
  const { errors } = value as { errors?: unknown };
  return errors === undefined || Array.isArray(errors) ? (value as GraphQLResponse<R>) : null;
}

/**
 * POST one operation to `url`; resolves with `data`, rejects with a HubResponseError (the hub
 * answered otherwise) or the network error (its `code`: ECONNREFUSED, ENOTFOUND, a TLS code …).
 */
export function postGraphQL<R, V>(url: URL, document: HubDocument<R, V>, variables: V, headers: Record<string, string> = {}): Promise<R> {
  const query = document.toString();
  const body = Buffer.from(JSON.stringify({ query, variables }));
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<R>((resolve, reject) => {
    const req = transport.request(
      url,
      {
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          'content-length': String(body.length),
        },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const parsed = parseResponse<R>(Buffer.concat(chunks).toString('utf8'));
          const name = operationName(query);
          if (!parsed) return reject(new HubResponseError(name, { status }));
          if (parsed.errors?.length || status < 200 || status > 299 || parsed.data == null) {
            return reject(new HubResponseError(name, { status, errors: parsed.errors ?? [] }));
          }
          resolve(parsed.data);
        });
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}
