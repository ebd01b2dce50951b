import type { CORSOptions } from 'graphql-yoga';

/**
 * Cross-origin access: only the configured origins (DISTR_CORS_ORIGINS), each answered with
 * itself and credentials allowed; any other origin gets no CORS headers at all, so browsers keep
 * its pages from reading responses. Same-origin pages (the console the hub serves) need none.
 */
export function corsFor(allowed: readonly string[]): (request: Request) => CORSOptions {
  return (request) => {
    const origin = request.headers.get('origin');
    if (!origin || !allowed.includes(origin)) return false;
    return { origin: [origin], credentials: true, methods: ['GET', 'POST', 'OPTIONS'], allowedHeaders: ['content-type', 'authorization', 'idempotency-key'], maxAge: 600 };
  };
}

/** A websocket upgrade is allowed without an Origin (not a browser), from the hub's own origin, or from a configured one. */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (!origin) return true;
  if (allowed.includes(origin)) return true;
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}
