import { ConnectionException } from '@mikro-orm/core';
import { GraphQLError } from 'graphql';

/** Socket-level failures reaching PostgreSQL. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EPIPE', 'EAI_AGAIN']);

/**
 * Whether an error means "the database cannot be reached now" (down, restarting, refusing
 * connections) rather than "this statement failed": SQLSTATE class 08 (connection exception),
 * 57P01-57P03 (shutting down, crashed, starting up), socket errors, a pool that cannot connect.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; name?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e instanceof ConnectionException) return true;
    const code = typeof e.code === 'string' ? e.code : '';
    if (NETWORK_CODES.has(code) || code.startsWith('08') || /^57P0[123]$/.test(code)) return true;
    const message = typeof e.message === 'string' ? e.message : '';
    if (/Connection terminated|Timeout acquiring a connection|connection is insecure|the database system is (starting up|shutting down)/i.test(message)) return true;
    if (e.name === 'KnexTimeoutError') return true;
  }
  return false;
}

/** What a client sees while the database is unreachable: HTTP 503, a typed code, no address. */
export function databaseUnavailableError(): GraphQLError {
  return new GraphQLError('the database is unavailable; retry shortly', {
    extensions: { code: 'DATABASE_UNAVAILABLE', http: { status: 503, headers: { 'retry-after': '5' } } },
  });
}
