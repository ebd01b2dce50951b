/** GraphQL over HTTP to the hub, with a keep-alive connection pool. */
import http from 'node:http';
import { LOGIN_CONCURRENCY, STATUS_CONCURRENCY } from './args.js';

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: Math.max(STATUS_CONCURRENCY, LOGIN_CONCURRENCY) + 4 });

export function post(port: number, body: string, bearer: string | null): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/graphql',
        method: 'POST',
        agent: httpAgent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(60_000, () => req.destroy(new Error('HTTP request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

export async function gqlOk(port: number, bearer: string | null, query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const res = await post(port, JSON.stringify({ query, variables }), bearer);
  if (res.body.errors?.length) throw new Error(`GraphQL errors (HTTP ${res.status}): ${JSON.stringify(res.body.errors)}`);
  return res.body.data;
}
