/**
 * Compile the hub for running without tsx: server/main.ts and what it imports from this repository
 * (server/, protocol/) bundled by esbuild into dist/hub/main.js, the npm packages left as imports
 * (resolved from node_modules at run time, as installed by npm ci); the migrations compiled one by
 * one next to it (dist/hub/migrations/*.js: MikroORM loads them by file name). `npm start` runs it
 * before starting `node dist/hub/main.js`; a fresh build takes about a second.
 *
 *   tsx scripts/build-hub.ts [--outdir dist/hub]
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

export async function buildHub(outdir = path.join(root, 'dist', 'hub')): Promise<string> {
  await rm(outdir, { recursive: true, force: true });
  await build({
    entryPoints: [path.join(root, 'server', 'main.ts')],
    outfile: path.join(outdir, 'main.js'),
    bundle: true,
    packages: 'external',
    platform: 'node',
    target: 'node20',
    format: 'esm',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  const migrations = (await readdir(path.join(root, 'migrations'))).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
  await build({
    entryPoints: migrations.map((f) => path.join(root, 'migrations', f)),
    outdir: path.join(outdir, 'migrations'),
    platform: 'node',
    target: 'node20',
    format: 'esm',
    logLevel: 'warning',
  });
  return path.join(outdir, 'main.js');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { outdir: { type: 'string' } } });
  const main = await buildHub(values.outdir && path.resolve(values.outdir));
  console.log(`hub compiled: ${path.relative(process.cwd(), main)}`);
}
