/**
 * Volumes a StatefulSet leaves behind: helm uninstall keeps the PersistentVolumeClaims made from
 * volumeClaimTemplates (named <template>-<statefulset>-<ordinal>), so removing a deployment with
 * its data deletes them explicitly.
 */
import YAML from 'yaml';
import type { KubeApis } from './workloads.js';
import { isApiNotFound } from './workloads.js';

export interface StatefulSetClaims {
  namespace: string;
  /** Matches the claim names of one template of one StatefulSet. */
  pattern: RegExp;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function statefulSetVolumeClaims(manifest: string, releaseNamespace: string): StatefulSetClaims[] {
  const claims: StatefulSetClaims[] = [];
  for (const doc of YAML.parseAllDocuments(manifest)) {
    const obj = doc.toJS() as { kind?: string; metadata?: { name?: string; namespace?: string }; spec?: { volumeClaimTemplates?: { metadata?: { name?: string } }[] } } | null;
    if (obj?.kind !== 'StatefulSet' || !obj.metadata?.name) continue;
    for (const template of obj.spec?.volumeClaimTemplates ?? []) {
      if (!template.metadata?.name) continue;
      claims.push({
        namespace: obj.metadata.namespace ?? releaseNamespace,
        pattern: new RegExp(`^${escape(template.metadata.name)}-${escape(obj.metadata.name)}-\\d+$`),
      });
    }
  }
  return claims;
}

export async function deleteStatefulSetVolumes(apis: KubeApis, claims: StatefulSetClaims[]): Promise<void> {
  for (const namespace of new Set(claims.map((c) => c.namespace))) {
    const list = await apis.core.listNamespacedPersistentVolumeClaim({ namespace });
    for (const pvc of list.items) {
      const name = pvc.metadata?.name ?? '';
      if (!claims.some((c) => c.namespace === namespace && c.pattern.test(name))) continue;
      await apis.core.deleteNamespacedPersistentVolumeClaim({ name, namespace }).catch((error: unknown) => {
        if (!isApiNotFound(error)) throw error;
      });
    }
  }
}
