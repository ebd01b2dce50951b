/**
 * The real helm binary for tests (.bin/helm, from scripts/install-helm.sh): private HELM_*_HOME
 * folders and a kubeconfig. Releases are kept in helm's default storage (Secrets in the release's
 * namespace) on the tests' real API server.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

/** The project-local helm binary made by scripts/install-helm.sh. */
export const HELM_BIN = process.env.HELM_BIN ?? fileURLToPath(new URL('../../.bin/helm', import.meta.url));

export interface HelmTestEnv {
  /** Environment variables for helm (merge over process.env). */
  env: Record<string, string>;
  helmBin: string;
  /** Run helm with this environment; rejects with helm's stderr. */
  run(args: string[]): Promise<string>;
  close(): Promise<void>;
}

export async function createHelmTestEnv(options: { kubeconfigPath: string }): Promise<HelmTestEnv> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'helm-home-'));
  const env = {
    KUBECONFIG: options.kubeconfigPath,
    HELM_CACHE_HOME: path.join(home, 'cache'),
    HELM_CONFIG_HOME: path.join(home, 'config'),
    HELM_DATA_HOME: path.join(home, 'data'),
  };
  return {
    helmBin: HELM_BIN,
    env,
    run: async (args) => (await execa(HELM_BIN, args, { env: { ...process.env, ...env } })).stdout,
    close: () => rm(home, { recursive: true, force: true }),
  };
}
