/**
 * The OCI distribution API as far as the checks need it: manifests (HEAD/GET), tags and blobs,
 * with the bearer-token handshake registries use (anonymous, or with the vendor's credential as
 * docker login does: basic auth to the token realm) and plain basic auth (htpasswd registries).
 * Loopback registries are spoken to over plain HTTP (as docker treats 127.0.0.0/8 as insecure).
 * Image references are parsed with the grammar of distribution/reference.
 */
import type { RegistryAuth } from '../../protocol/index.js';

export class RegistryError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** 401/403 although a credential was sent: the registry rejected it (or it grants no access). */
    readonly credentialRejected = false,
  ) {
    super(message);
  }
}

/** The credential for `host` (as image references and chart URLs name it), if any. */
export function credentialFor(host: string, credentials: readonly RegistryAuth[] | undefined): RegistryAuth | null {
  const wanted = host.toLowerCase();
  return credentials?.find((c) => c.host === wanted) ?? null;
}

export const basicAuthorization = (credential: Pick<RegistryAuth, 'username' | 'password'>) =>
  `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`;

export async function fetchWithTimeout(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    return await fetch(url, { ...init, signal, redirect: 'follow' });
  } catch (error) {
    if (signal.aborted) throw new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`);
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(cause?.code ?? cause?.message ?? (error as Error).message);
  }
}

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return name === 'localhost' || name === '::1' || /^127\./.test(name);
}

export class RegistryClient {
  /** `Bearer <token>` or `Basic <credential>`, once the registry asked for it. */
  private authorization: string | null = null;
  private readonly base: string;

  constructor(
    readonly host: string,
    private readonly timeoutMs: number,
    /** The vendor's credential for this host; null: anonymous. Never put in errors. */
    private readonly credential: RegistryAuth | null = null,
  ) {
    const apiHost = host === 'docker.io' ? 'registry-1.docker.io' : host;
    this.base = `${isLoopback(host) ? 'http' : 'https'}://${apiHost}`;
  }

  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    const send = () =>
      fetchWithTimeout(`${this.base}${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), ...(this.authorization ? { Authorization: this.authorization } : {}) } }, this.timeoutMs);
    let res = await send();
    if (res.status === 401 && !this.authorization) {
      const challenge = res.headers.get('www-authenticate') ?? '';
      if (await this.authenticate(challenge)) res = await send();
    }
    return res;
  }

  /** 401/403 as a RegistryError: "rejected" when a credential was sent. */
  private denied(): RegistryError {
    return this.credential ? new RegistryError(401, `the credentials for ${this.host} were rejected`, true) : new RegistryError(401, 'authentication required');
  }

  /**
   * Answer a challenge: `Basic` with the credential (none: stay anonymous); `Bearer realm=…,
   * service=…,scope=…` with a token from the realm, asked for with the credential when there is
   * one (docker login's flow), anonymously otherwise.
   */
  private async authenticate(challenge: string): Promise<boolean> {
    if (/^basic\b/i.test(challenge)) {
      if (!this.credential) return false;
      this.authorization = basicAuthorization(this.credential);
      return true;
    }
    if (!/^bearer /i.test(challenge)) return false;
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
    if (!params.realm) return false;
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    if (params.scope) url.searchParams.set('scope', params.scope);
    const res = await fetchWithTimeout(url.toString(), this.credential ? { headers: { Authorization: basicAuthorization(this.credential) } } : {}, this.timeoutMs);
    if ((res.status === 401 || res.status === 403) && this.credential) throw this.denied();
    if (!res.ok) return false;
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token ?? null;
    this.authorization = token ? `Bearer ${token}` : null;
    return token !== null;
  }

  /** The manifest of `repository:reference`, or null when the registry says it does not exist. */
  async manifest(repository: string, reference: string): Promise<{ digest: string | null; body: Record<string, unknown> } | null> {
    const res = await this.request(`/v2/${repository}/manifests/${encodeURIComponent(reference)}`, { headers: { Accept: MANIFEST_ACCEPT } });
    if (res.status === 404) {
      const body = (await res.json().catch(() => ({}))) as { errors?: { code?: string }[] };
      if (body.errors?.some((e) => e.code === 'NAME_UNKNOWN')) throw new RegistryError(404, `repository ${repository} not found`);
      return null;
    }
    if (res.status === 401 || res.status === 403) throw this.denied();
    if (!res.ok) throw new RegistryError(res.status, `the registry answers ${res.status}`);
    return { digest: res.headers.get('docker-content-digest'), body: (await res.json()) as Record<string, unknown> };
  }

  async tags(repository: string): Promise<string[]> {
    const res = await this.request(`/v2/${repository}/tags/list`);
    if (!res.ok) return [];
    return ((await res.json()) as { tags?: string[] }).tags ?? [];
  }

  async blob(repository: string, digest: string, max: number): Promise<Buffer> {
    const res = await this.request(`/v2/${repository}/blobs/${digest}`);
    if (res.status === 401 || res.status === 403) throw this.denied();
    if (!res.ok) throw new RegistryError(res.status, `blob ${digest} answers ${res.status}`);
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > max) throw new Error(`the chart archive is larger than ${max} bytes`);
    return body;
  }
}

// --- image references (distribution/reference grammar) ------------------------------------------

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^((?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`);

export interface ImageReference {
  /** Registry host (docker.io for Docker Hub). */
  host: string;
  repository: string;
  tag: string | null;
  digest: string | null;
}

/** Parse an image reference; null when malformed. */
export function parseImageReference(ref: string): ImageReference | null {
  if (ref.length > 255 + 128 + 80) return null;
  const m = REFERENCE.exec(ref);
  if (!m) return null;
  const name = m[1]!;
  if (name.length > 255) return null;
  const first = name.split('/')[0]!;
  const hasDomain = name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['));
  if (!hasDomain && /[A-Z]/.test(first)) return null;
  const host = hasDomain ? first : 'docker.io';
  let repository = hasDomain ? name.slice(first.length + 1) : name;
  if (host === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  return { host, repository, tag: m[2] ?? null, digest: m[3] ?? null };
}
