/**
 * The web console's files (console/dist, built by scripts/build-console.ts before `npm start`),
 * served at `/` by the hub itself: same process, same port, same origin as /graphql (so the
 * session cookie and the websocket need no CORS). Unknown paths get index.html (client routes).
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { PACKAGE_ROOT } from './paths.js';

const DIST = path.join(PACKAGE_ROOT, 'console', 'dist');
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  // Everything the console loads comes from the hub itself.
  'content-security-policy': "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
};

export async function serveConsole(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const pathname = decodeURIComponent((req.url ?? '/').split('?')[0]!);
  const file = path.normalize(path.join(DIST, pathname));
  const isAsset = file.startsWith(path.join(DIST, 'assets') + path.sep);
  const target = file.startsWith(DIST + path.sep) && path.extname(file) ? file : path.join(DIST, 'index.html');
  try {
    const body = await readFile(target);
    res.writeHead(200, {
      'content-type': TYPES[path.extname(target)] ?? 'application/octet-stream',
      // Vite names assets by content hash: cache them for good; index.html never.
      'cache-control': isAsset ? 'public, max-age=31536000, immutable' : 'no-cache',
      ...SECURITY_HEADERS,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch {
    if (target.endsWith('index.html')) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('The web console is not built. `npm start` builds it; or run `npm run console:build`. GraphiQL is at /graphql.\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('not found\n');
    }
  }
}
