/**
 * Build the web console (console/ → console/dist) with Vite when the build is missing or older
 * than its sources. Runs before `npm start` (prestart), so `npm install && npm start` serves it;
 * the browser tests call ensureConsoleBuilt() too. A fresh build takes a few seconds.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../console', import.meta.url));
const builtIndex = path.join(root, 'dist', 'index.html');

async function newestMtime(entry: string): Promise<number> {
  const s = await stat(entry);
  if (!s.isDirectory()) return s.mtimeMs;
  let newest = 0;
  for (const child of await readdir(entry)) newest = Math.max(newest, await newestMtime(path.join(entry, child)));
  return newest;
}

export async function consoleBuildIsFresh(): Promise<boolean> {
  const built = await stat(builtIndex).then((s) => s.mtimeMs, () => 0);
  if (!built) return false;
  const sources = Math.max(...(await Promise.all(['src', 'index.html', 'vite.config.ts'].map((p) => newestMtime(path.join(root, p))))));
  return built >= sources;
}

export async function ensureConsoleBuilt(): Promise<'fresh' | 'built'> {
  if (await consoleBuildIsFresh()) return 'fresh';
  const { build } = await import('vite');
  // Always React's production build: under vitest NODE_ENV is "test", which would otherwise give a
  // development bundle (about 1.8x larger, StrictMode's double effects) to the tests and benches.
  // Vite and the React plugin both read NODE_ENV, so it is set for the build and restored after.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({ configFile: path.join(root, 'vite.config.ts'), logLevel: 'warn', mode: 'production' });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  return 'built';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const started = Date.now();
  const result = await ensureConsoleBuilt();
  if (result === 'built') console.log(`web console built into console/dist in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
