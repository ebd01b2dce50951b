import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import type { RegistryAuth } from '../../protocol/index.js';
import { dockerConfigJson } from '../core/docker-config.js';

/** The image pull secret of a release: `distr-pull-<release>` in the release's namespace. */
export const pullSecretName = (releaseName: string) => `distr-pull-${releaseName}`;

const isNotFound = (error: unknown) => (error as { code?: unknown })?.code === 404;

/**
 * Create or replace the release's `kubernetes.io/dockerconfigjson` Secret with the deployment's
 * registry credentials (kept current on rotation without a helm upgrade); without credentials it
 * is deleted. Returns the name when one exists.
 */
export async function syncPullSecret(core: CoreV1Api, namespace: string, releaseName: string, deploymentId: string, auths: readonly RegistryAuth[], options: { createNamespace?: boolean } = {}): Promise<string | null> {
  const name = pullSecretName(releaseName);
  if (auths.length === 0) {
    await deletePullSecret(core, namespace, releaseName);
    return null;
  }
  const body: V1Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'distr-agent' }, annotations: { 'distr.dev/deployment-id': deploymentId } },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(dockerConfigJson(auths)).toString('base64') },
  };
  try {
    await core.replaceNamespacedSecret({ name, namespace, body });
  } catch (error) {
    if (!isNotFound(error)) throw error;
    try {
      await core.createNamespacedSecret({ namespace, body });
    } catch (createError) {
      // Cluster scope: the namespace may not exist before helm's --create-namespace.
      if (!isNotFound(createError) || !options.createNamespace) throw createError;
      await core.createNamespace({ body: { metadata: { name: namespace } } }).catch((e: unknown) => {
        if ((e as { code?: unknown })?.code !== 409) throw e;
      });
      await core.createNamespacedSecret({ namespace, body });
    }
  }
  return name;
}

export async function deletePullSecret(core: CoreV1Api, namespace: string, releaseName: string): Promise<void> {
  try {
    await core.deleteNamespacedSecret({ name: pullSecretName(releaseName), namespace });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

/**
 * The documented values convention: the pull secret is appended to `imagePullSecrets` and
 * `global.imagePullSecrets` (what most charts, and Bitnami-style ones, read), keeping the
 * vendor's own entries.
 */
export function withPullSecret(values: Record<string, unknown>, name: string | null): Record<string, unknown> {
  if (!name) return values;
  const add = (list: unknown) => {
    const entries = Array.isArray(list) ? list : [];
    return entries.some((e) => (e as { name?: unknown })?.name === name) ? entries : [...entries, { name }];
  };
  const global = values.global && typeof values.global === 'object' && !Array.isArray(values.global) ? (values.global as Record<string, unknown>) : {};
  return { ...values, imagePullSecrets: add(values.imagePullSecrets), global: { ...global, imagePullSecrets: add(global.imagePullSecrets) } };
}
