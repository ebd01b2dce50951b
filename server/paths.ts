import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository's root folder (where package.json names this project), found from this module's
 * location: the same whether the hub runs from its sources (server/…) or compiled into a bundle
 * (dist/hub/main.js), whose folder depth differs.
 */
function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'distr-ts') return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json of distr-ts above ${from}`);
  }
}

const here = fileURLToPath(import.meta.url);
export const PACKAGE_ROOT = findPackageRoot(path.dirname(here));
/** True when running the compiled bundle (scripts/build-hub.ts), not the TypeScript sources. */
export const RUNNING_COMPILED = !here.endsWith('.ts');
