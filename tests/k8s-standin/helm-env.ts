/**
 * Helm environment for tests against the stand-in Kubernetes API server: release storage in the
 * test PostgreSQL (HELM_DRIVER=sql, because helm's Secret storage is protobuf, which the JSON
 * stand-in cannot read), private HELM_*_HOME folders, and the stand-in's kubeconfig.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project-local helm binary made by scripts/install-helm.sh. */
export const HELM_BIN = process.env.HELM_BIN ?? fileURLToPath(new URL('../../.bin/helm', import.meta.url));

export interface HelmTestEnv {
  /** Environment variables for helm (merge over process.env). */
  env: Record<string, string>;
  helmBin: string;
  close(): Promise<void>;
}

/** helm's sql driver uses lib/pq, which wants TLS unless told otherwise. */
export function helmSqlConnectionString(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  if (!url.searchParams.has('sslmode')) url.searchParams.set('sslmode', 'disable');
  return url.toString();
}

export async function createHelmTestEnv(options: { kubeconfigPath: string; databaseUrl: string }): Promise<HelmTestEnv> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'helm-home-'));
  return {
    helmBin: HELM_BIN,
    env: {
      KUBECONFIG: options.kubeconfigPath,
      HELM_DRIVER: 'sql',
      HELM_DRIVER_SQL_CONNECTION_STRING: helmSqlConnectionString(options.databaseUrl),
      HELM_CACHE_HOME: path.join(home, 'cache'),
      HELM_CONFIG_HOME: path.join(home, 'config'),
      HELM_DATA_HOME: path.join(home, 'data'),
    },
    close: () => rm(home, { recursive: true, force: true }),
  };
}
