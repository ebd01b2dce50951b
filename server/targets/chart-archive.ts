/**
 * The agent chart as helm wants it over HTTP: charts/distr-agent packed into a .tgz (a gzip'd tar
 * whose entries sit under `distr-agent/`, which is all `helm package` makes), built once from the
 * folder the hub ships with, so `helm install <hub>/charts/distr-agent-<version>.tgz` needs nothing
 * but helm on the installing machine.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';

const CHART_DIR = path.join(PACKAGE_ROOT, 'charts', 'distr-agent');
/** Not part of the packaged chart (what a .helmignore would leave out). */
const SKIP = new Set(['ci', '.helmignore']);

async function files(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (!prefix && SKIP.has(entry.name)) continue;
    const rel = path.posix.join(prefix, entry.name);
    if (entry.isDirectory()) out.push(...(await files(path.join(dir, entry.name), rel)));
    else if (entry.isFile()) out.push(rel);
  }
  return out;
}

let cached: Promise<Buffer> | null = null;

export function agentChartArchive(): Promise<Buffer> {
  cached ??= (async () => {
    const archive = pack();
    const chunks: Buffer[] = [];
    archive.on('data', (c: unknown) => chunks.push(c as Buffer));
    const done = new Promise<void>((resolve, reject) => {
      archive.on('end', resolve);
      archive.on('error', reject);
    });
    for (const rel of await files(CHART_DIR)) {
      const full = path.join(CHART_DIR, rel);
      const body = await readFile(full);
      const { mtime } = await stat(full);
      archive.entry({ name: `distr-agent/${rel}`, mode: 0o644, mtime }, body);
    }
    archive.finalize();
    await done;
    return gzipSync(Buffer.concat(chunks));
  })();
  cached.catch(() => (cached = null));
  return cached;
}
