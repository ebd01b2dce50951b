/**
 * A Helm chart repository over HTTP on 127.0.0.1 for tests: charts are packaged with the real
 * `helm package`, indexed with `helm repo index` and served as static files (a chart repository
 * is nothing more than that). With `users`, every file needs basic auth as one of them (a
 * private repository, as `helm repo add --username --password` reads it).
 */
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { HELM_BIN } from './helm.js';

export interface ChartRepo {
  /** Base URL of the repository (what `--repo` takes). */
  url: string;
  /** The folder served: packaged .tgz files and index.yaml. */
  dir: string;
  /** Package more charts (folders or .tgz files) into the repository and re-index it. */
  add(charts: string | string[]): Promise<void>;
  close(): Promise<void>;
}

/** Package chart folders (and copy .tgz files) into `dir`; returns the .tgz paths. */
export async function packageCharts(charts: string[], dir: string): Promise<string[]> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'helm-package-'));
  const env = { HELM_CACHE_HOME: path.join(home, 'cache'), HELM_CONFIG_HOME: path.join(home, 'config'), HELM_DATA_HOME: path.join(home, 'data') };
  const packaged: string[] = [];
  try {
    for (const chart of charts) {
      if (chart.endsWith('.tgz')) {
        const target = path.join(dir, path.basename(chart));
        await copyFile(chart, target);
        packaged.push(target);
        continue;
      }
      const { stdout } = await execa(HELM_BIN, ['package', chart, '--destination', dir], { env });
      // "Successfully packaged chart and saved it to: /dir/name-1.0.0.tgz"
      packaged.push(stdout.trim().split(': ').pop()!);
    }
  } finally {
    await rm(home, { recursive: true, force: true });
  }
  return packaged;
}

export async function serveChartRepo(charts: string | string[], options: { users?: { username: string; password: string }[] } = {}): Promise<ChartRepo> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'chart-repo-'));
  const accepted = new Set((options.users ?? []).map((u) => `Basic ${Buffer.from(`${u.username}:${u.password}`).toString('base64')}`));
  const server = createServer((req, res) => {
    if (accepted.size > 0 && !accepted.has(req.headers.authorization ?? '')) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="charts"' }).end('unauthorized');
      return;
    }
    const name = path.basename(decodeURIComponent(new URL(req.url ?? '/', 'http://repo').pathname));
    readFile(path.join(dir, name)).then(
      (body) => {
        res.writeHead(200, { 'Content-Type': name.endsWith('.yaml') ? 'text/yaml' : 'application/gzip' });
        res.end(body);
      },
      () => res.writeHead(404).end('not found'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const add = async (more: string | string[]) => {
    await packageCharts(Array.isArray(more) ? more : [more], dir);
    await execa(HELM_BIN, ['repo', 'index', dir, '--url', url]);
  };
  await add(charts);
  return {
    url,
    dir,
    add,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
