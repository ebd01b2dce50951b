/**
 * NOTE: a hand-written test fixture, to be replaced by the real CNCF distribution registry testkit
 * (Debian docker-registry) that issue 13 ("artifacts") adds; until it lands on main the OCI chart
 * tests use this.
 *
 * A minimal read-only OCI registry (distribution spec: /v2/, tags, manifests, blobs) over plain
 * HTTP on 127.0.0.1, serving Helm chart artifacts built from packaged .tgz charts: the manifest
 * and the config blob are crafted here the way `helm push` would, so no upload API is needed.
 * Use with `helm ... oci://HOST/charts/NAME --version V --plain-http`.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execa } from 'execa';
import YAML from 'yaml';
import { HELM_BIN } from './helm.js';

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const HELM_CONFIG_TYPE = 'application/vnd.cncf.helm.config.v1+json';
const HELM_CHART_TYPE = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';

export interface OciRegistry {
  /** host:port, for oci://HOST/... references. */
  host: string;
  /** Publish a packaged chart (.tgz) as oci://HOST/<repository>/<chart name>:<version>; returns the oci:// URL without tag. */
  addChart(tgzPath: string, repository?: string): Promise<string>;
  /** Requests seen (method and path), for assertions. */
  requests: string[];
  close(): Promise<void>;
}

interface Blob {
  mediaType: string;
  body: Buffer;
}

const sha256 = (body: Buffer) => `sha256:${createHash('sha256').update(body).digest('hex')}`;

export async function serveOciRegistry(): Promise<OciRegistry> {
  const blobs = new Map<string, Blob>();
  /** "<name>" → tag → manifest digest */
  const tags = new Map<string, Map<string, string>>();
  const requests: string[] = [];

  const put = (mediaType: string, body: Buffer): string => {
    const digest = sha256(body);
    blobs.set(digest, { mediaType, body });
    return digest;
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://registry');
    requests.push(`${req.method} ${url.pathname}`);
    const send = (code: number, body: Buffer | string, headers: Record<string, string> = {}) => {
      const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
      res.writeHead(code, { 'Content-Length': String(buf.length), ...headers });
      res.end(req.method === 'HEAD' ? undefined : buf);
    };
    const error = (code: number, errorCode: string, message: string) =>
      send(code, JSON.stringify({ errors: [{ code: errorCode, message }] }), { 'Content-Type': 'application/json' });
    if (req.method !== 'GET' && req.method !== 'HEAD') return error(405, 'UNSUPPORTED', 'this registry is read-only');
    if (url.pathname === '/v2/' || url.pathname === '/v2') return send(200, '{}', { 'Content-Type': 'application/json' });
    const m = /^\/v2\/(.+)\/(manifests|blobs|tags)\/(.+)$/.exec(url.pathname);
    if (!m) return error(404, 'NAME_UNKNOWN', 'not found');
    const [, name, what, ref] = m as unknown as [string, string, string, string];
    if (what === 'tags') {
      const list = tags.get(name);
      if (!list || ref !== 'list') return error(404, 'NAME_UNKNOWN', `repository ${name} not found`);
      return send(200, JSON.stringify({ name, tags: [...list.keys()] }), { 'Content-Type': 'application/json' });
    }
    const digest = what === 'manifests' && !ref.startsWith('sha256:') ? tags.get(name)?.get(ref) : ref;
    const blob = digest ? blobs.get(digest) : undefined;
    if (!digest || !blob) return error(404, what === 'manifests' ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN', `${name}@${ref} not found`);
    send(200, blob.body, { 'Content-Type': blob.mediaType, 'Docker-Content-Digest': digest });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    host,
    requests,
    async addChart(tgzPath, repository = 'charts') {
      const chart = YAML.parse((await execa(HELM_BIN, ['show', 'chart', tgzPath])).stdout) as { name: string; version: string };
      const layer = await readFile(tgzPath);
      const config = Buffer.from(JSON.stringify(chart));
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MANIFEST_TYPE,
          config: { mediaType: HELM_CONFIG_TYPE, digest: put(HELM_CONFIG_TYPE, config), size: config.length },
          layers: [{ mediaType: HELM_CHART_TYPE, digest: put(HELM_CHART_TYPE, layer), size: layer.length }],
          annotations: { 'org.opencontainers.image.title': chart.name, 'org.opencontainers.image.version': chart.version },
        }),
      );
      const name = `${repository}/${chart.name}`;
      if (!tags.has(name)) tags.set(name, new Map());
      // OCI tags cannot contain '+': helm stores semver build metadata as '_'.
      tags.get(name)!.set(chart.version.replace(/\+/g, '_'), put(MANIFEST_TYPE, manifest));
      return `oci://${host}/${name}`;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
