/**
 * A token server for the test registry's `auth: token` mode — the flow Docker Hub, ghcr.io and
 * most hosted registries use: the registry answers 401 with `WWW-Authenticate: Bearer
 * realm=…,service=…,scope=…`, the client asks the realm for a token (with basic auth when it has
 * a credential, anonymously otherwise) and sends it as `Authorization: Bearer`. Tokens are ES256
 * JWTs whose `x5c` header carries a self-signed certificate that the registry trusts through its
 * `rootcertbundle`. Both ways of asking are served: GET with basic auth (docker, the hub) and the
 * OAuth2 form POST with a password or a refresh token from the login (helm). A known user gets the
 * actions it asks for; an anonymous caller a token without access; a wrong password 401.
 */
import { createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  rootCertBundle: string;
  close(): Promise<void>;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');
const SERVICE = 'distr-test-registry';

export async function startTokenServer(dir: string, users: { username: string; password: string }[]): Promise<TokenServer> {
  const keyPath = path.join(dir, 'token.key');
  const certPath = path.join(dir, 'token.crt');
  await execa('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=distr-test-token']);
  const key = createPrivateKey(await readFile(keyPath));
  const certDer = new X509Certificate(await readFile(certPath)).raw.toString('base64');
  const service = SERVICE;
  const issuer = 'distr-test-token-issuer';
  const accepted = new Map(users.map((u) => [u.username, u.password]));

  /** Refresh tokens handed out at login (`offline_token=true`), for the OAuth2 form that helm uses. */
  const refreshTokens = new Map<string, string>();

  const issue = (subject: string, service: string | null, scopes: string[]) => {
    // scope=repository:<name>:<actions>; anonymous callers get no access.
    const access = subject
      ? scopes.flatMap((scope) => {
          const parts = scope.split(':');
          if (parts.length < 3) return [];
          return [{ type: parts[0]!, name: parts.slice(1, -1).join(':'), actions: parts.at(-1)!.split(',') }];
        })
      : [];
    const now = Math.floor(Date.now() / 1000);
    const head = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', x5c: [certDer] }));
    const claims = b64url(JSON.stringify({ iss: issuer, sub: subject, aud: service ?? SERVICE, exp: now + 600, nbf: now - 60, iat: now, jti: randomBytes(8).toString('hex'), access }));
    const signature = sign('sha256', Buffer.from(`${head}.${claims}`), { key, dsaEncoding: 'ieee-p1363' });
    return `${head}.${claims}.${b64url(signature)}`;
  };

  const server = createServer((req, res) => {
    const refuse = () => res.writeHead(401, { 'Content-Type': 'application/json' }).end(JSON.stringify({ details: 'incorrect username or password' }));
    const answer = (subject: string, service: string | null, scopes: string[], offline: boolean) => {
      const token = issue(subject, service, scopes);
      let refresh: string | undefined;
      if (offline && subject) refreshTokens.set((refresh = randomBytes(16).toString('hex')), subject);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 600, ...(refresh ? { refresh_token: refresh } : {}) }));
    };
    if (req.method === 'POST') {
      // OAuth2 form (containerd / oras): grant_type=password or refresh_token, scopes space-separated.
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        let subject: string | undefined;
        if (form.get('grant_type') === 'password') subject = accepted.get(form.get('username') ?? '') === form.get('password') ? (form.get('username') ?? undefined) : undefined;
        else if (form.get('grant_type') === 'refresh_token') subject = refreshTokens.get(form.get('refresh_token') ?? '');
        if (!subject) return refuse();
        answer(subject, form.get('service'), scopes, form.get('access_type') === 'offline');
      });
      return;
    }
    // GET with basic auth (docker's flow), or anonymous.
    const url = new URL(req.url ?? '/', 'http://token');
    let subject = '';
    const header = req.headers.authorization ?? '';
    if (header) {
      const [user, ...rest] = Buffer.from(header.replace(/^Basic /i, ''), 'base64').toString().split(':');
      if (!/^Basic /i.test(header) || accepted.get(user ?? '') !== rest.join(':')) return refuse();
      subject = user!;
    }
    answer(subject, url.searchParams.get('service'), url.searchParams.getAll('scope'), url.searchParams.get('offline_token') === 'true');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    realm: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`,
    service,
    issuer,
    rootCertBundle: certPath,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
