/**
 * Ownership records of the Kubernetes driver: which helm release this agent installed for a
 * deployment, and the helm revision it last produced. The driver only ever upgrades, observes or
 * uninstalls releases it has a record for, and compares the recorded revision with helm's to
 * detect changes made by hand (drift).
 *
 * The records live IN THE CLUSTER, one ConfigMap per deployment in the agent's namespace
 * (`distr-owner-<deploymentId>`, labelled `app.kubernetes.io/managed-by=distr-agent` and
 * `distr.io/target-id=<target>`), so a rescheduled agent pod with an empty state folder still
 * recognises its releases. Writes use the resourceVersion last seen (optimistic concurrency): a
 * record changed by someone else meanwhile fails the write instead of being overwritten.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import type { CoreV1Api, V1ConfigMap } from '@kubernetes/client-node';

export interface OwnershipRecord {
  deploymentId: string;
  releaseName: string;
  namespace: string;
  /**
   * Helm revision this agent last produced; null while an install is in flight (written before
   * helm runs, so a crash mid-install does not leave a release the agent disowns).
   */
  revision: number | null;
  /**
   * True while helm runs for this release (set before, cleared after): if the agent dies
   * meanwhile, the revision helm produced is adopted rather than reported as drift.
   */
  inFlight: boolean;
  /** Desired revision id last applied (successfully or not). */
  revisionId: string;
  updatedAt: string;
}

/** What the driver needs from an ownership store. */
export interface OwnershipStore {
  get(deploymentId: string): Promise<OwnershipRecord | null>;
  /** Create or replace the record; fails with OwnershipConflictError when it changed since last read. */
  put(record: OwnershipRecord): Promise<void>;
  delete(deploymentId: string): Promise<void>;
  /** This agent's records. */
  all(): Promise<OwnershipRecord[]>;
  /** The record that owns a release, whichever deployment (or distr agent) it belongs to. */
  findByRelease(releaseName: string, namespace: string): Promise<OwnershipRecord | null>;
}

/** The record was changed (or created) by someone else since this agent last read it. */
export class OwnershipConflictError extends Error {}

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'distr-agent';
export const TARGET_ID_LABEL = 'distr.io/target-id';
export const DEPLOYMENT_ID_LABEL = 'distr.io/deployment-id';
const NAME_PREFIX = 'distr-owner-';

/** A DNS-1123 subdomain (ConfigMap names), leaving room for the prefix. */
const DNS_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
/** A label value. */
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** `distr-owner-<deploymentId>`; ids that are no valid object name are hashed (the id is in the data). */
export function ownershipObjectName(deploymentId: string): string {
  if (!deploymentId) throw new Error('invalid deployment id ""');
  if (DNS_NAME.test(deploymentId) && NAME_PREFIX.length + deploymentId.length <= 253) return NAME_PREFIX + deploymentId;
  return `${NAME_PREFIX}h-${createHash('sha256').update(deploymentId).digest('hex').slice(0, 40)}`;
}

const apiCode = (error: unknown): number | undefined => {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
};

/** The API server's message (a Status object's `message`) of a client-node error, else the error's own. */
function apiMessage(error: unknown): string {
  const body = (error as { body?: unknown })?.body;
  try {
    const status = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: unknown } | undefined;
    if (typeof status?.message === 'string') return status.message;
  } catch {
    // not JSON
  }
  return error instanceof Error ? error.message : String(error);
}

/** An API error with what the store was doing, keeping the HTTP code for callers. */
function storeError(what: string, error: unknown): Error {
  return Object.assign(new Error(`${what}: ${apiMessage(error)}`, { cause: error }), { code: apiCode(error) });
}

export interface ClusterOwnershipStoreOptions {
  core: CoreV1Api;
  /** Namespace holding the records: the agent's own (DISTR_NAMESPACE), whatever the releases' namespaces. */
  namespace: string;
  /** The agent's deployment target: labels the records, and all() returns only this target's. */
  targetId?: string;
  /**
   * A state folder of an older agent (one `<deploymentId>.json` per record): imported once,
   * before the first access, where the cluster has no record yet; imported files are renamed to
   * `.json.imported`. Missing folder: nothing to import.
   */
  importFromDir?: string;
}

/** Ownership records as ConfigMaps in the agent's namespace, read and written with client-node. */
export class ClusterOwnershipStore implements OwnershipStore {
  /** resourceVersion last seen per deployment; null: known not to exist. */
  private readonly versions = new Map<string, string | null>();
  private imported: Promise<void> | null = null;

  constructor(private readonly options: ClusterOwnershipStoreOptions) {}

  private get namespace(): string {
    return this.options.namespace;
  }

  private ready(): Promise<void> {
    this.imported ??= this.options.importFromDir ? this.importFiles(this.options.importFromDir) : Promise.resolve();
    // A failed import is retried on the next access rather than remembered.
    return this.imported.catch((error: unknown) => {
      this.imported = null;
      throw error;
    });
  }

  private toConfigMap(record: OwnershipRecord, resourceVersion?: string): V1ConfigMap {
    const labels: Record<string, string> = { [MANAGED_BY_LABEL]: MANAGED_BY };
    const { targetId } = this.options;
    if (targetId && targetId.length <= 63 && LABEL_VALUE.test(targetId)) labels[TARGET_ID_LABEL] = targetId;
    if (record.deploymentId.length <= 63 && LABEL_VALUE.test(record.deploymentId)) labels[DEPLOYMENT_ID_LABEL] = record.deploymentId;
    return {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: ownershipObjectName(record.deploymentId), namespace: this.namespace, labels, ...(resourceVersion ? { resourceVersion } : {}) },
      data: {
        deploymentId: record.deploymentId,
        releaseName: record.releaseName,
        namespace: record.namespace,
        revision: record.revision === null ? '' : String(record.revision),
        inFlight: String(record.inFlight),
        revisionId: record.revisionId,
        updatedAt: record.updatedAt,
        ...(targetId ? { targetId } : {}),
      },
    };
  }

  /** null for ConfigMaps that are no (complete) ownership record. */
  private static fromConfigMap(cm: V1ConfigMap): OwnershipRecord | null {
    const d = cm.data ?? {};
    if (!d.deploymentId || !d.releaseName || !d.namespace) return null;
    const revision = d.revision ? Number(d.revision) : null;
    return {
      deploymentId: d.deploymentId,
      releaseName: d.releaseName,
      namespace: d.namespace,
      revision: revision !== null && Number.isInteger(revision) ? revision : null,
      inFlight: d.inFlight === 'true',
      revisionId: d.revisionId ?? '',
      updatedAt: d.updatedAt ?? '',
    };
  }

  private async read(deploymentId: string): Promise<OwnershipRecord | null> {
    let cm: V1ConfigMap;
    try {
      cm = await this.options.core.readNamespacedConfigMap({ name: ownershipObjectName(deploymentId), namespace: this.namespace });
    } catch (error) {
      if (apiCode(error) !== 404) throw storeError(`cannot read the ownership record of deployment ${deploymentId}`, error);
      this.versions.set(deploymentId, null);
      return null;
    }
    this.versions.set(deploymentId, cm.metadata?.resourceVersion ?? null);
    const record = ClusterOwnershipStore.fromConfigMap(cm);
    // A hashed name could in theory belong to another id: then this one has no record.
    return record && record.deploymentId === deploymentId ? record : null;
  }

  async get(deploymentId: string): Promise<OwnershipRecord | null> {
    await this.ready();
    return this.read(deploymentId);
  }

  async put(record: OwnershipRecord): Promise<void> {
    await this.ready();
    const { deploymentId } = record;
    if (!this.versions.has(deploymentId)) await this.read(deploymentId); // never read: write over what is there
    const known = this.versions.get(deploymentId) ?? null;
    const name = ownershipObjectName(deploymentId);
    let written: V1ConfigMap;
    try {
      written = known === null
        ? await this.options.core.createNamespacedConfigMap({ namespace: this.namespace, body: this.toConfigMap(record) })
        : await this.options.core.replaceNamespacedConfigMap({ name, namespace: this.namespace, body: this.toConfigMap(record, known) });
    } catch (error) {
      const code = apiCode(error);
      if (code === 409 || (code === 404 && known !== null)) {
        this.versions.delete(deploymentId); // read again next time
        throw new OwnershipConflictError(
          `the ownership record of deployment ${deploymentId} (ConfigMap ${this.namespace}/${name}) was changed by someone else meanwhile; will read it again`,
        );
      }
      throw storeError(`cannot write the ownership record of deployment ${deploymentId} (ConfigMap ${this.namespace}/${name})`, error);
    }
    this.versions.set(deploymentId, written.metadata?.resourceVersion ?? null);
  }

  async delete(deploymentId: string): Promise<void> {
    await this.ready();
    try {
      await this.options.core.deleteNamespacedConfigMap({ name: ownershipObjectName(deploymentId), namespace: this.namespace });
    } catch (error) {
      if (apiCode(error) !== 404) throw storeError(`cannot delete the ownership record of deployment ${deploymentId}`, error);
    }
    this.versions.set(deploymentId, null);
  }

  private async list(labelSelector: string): Promise<OwnershipRecord[]> {
    const list = await this.options.core
      .listNamespacedConfigMap({ namespace: this.namespace, labelSelector })
      .catch((error: unknown) => Promise.reject(storeError(`cannot list the ownership records in namespace ${this.namespace}`, error)));
    const records: OwnershipRecord[] = [];
    for (const cm of list.items) {
      const record = ClusterOwnershipStore.fromConfigMap(cm);
      if (record && cm.metadata?.name === ownershipObjectName(record.deploymentId)) records.push(record);
    }
    return records;
  }

  async all(): Promise<OwnershipRecord[]> {
    await this.ready();
    const { targetId } = this.options;
    const byTarget = targetId && targetId.length <= 63 && LABEL_VALUE.test(targetId) ? `,${TARGET_ID_LABEL}=${targetId}` : '';
    return this.list(`${MANAGED_BY_LABEL}=${MANAGED_BY}${byTarget}`);
  }

  async findByRelease(releaseName: string, namespace: string): Promise<OwnershipRecord | null> {
    await this.ready();
    // Every distr agent's records in this namespace: another target's release is not ours either.
    return (await this.list(`${MANAGED_BY_LABEL}=${MANAGED_BY}`)).find((r) => r.releaseName === releaseName && r.namespace === namespace) ?? null;
  }

  /** One-time import of an older agent's record files (see importFromDir). */
  private async importFiles(dir: string): Promise<void> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const file = path.join(dir, name);
      let record: OwnershipRecord;
      try {
        record = JSON.parse(await readFile(file, 'utf8')) as OwnershipRecord;
      } catch {
        continue; // not a record
      }
      if (typeof record?.deploymentId !== 'string' || typeof record.releaseName !== 'string' || typeof record.namespace !== 'string') continue;
      // The cluster wins over a file: only deployments without a record are imported.
      if (!(await this.read(record.deploymentId))) {
        try {
          await this.options.core.createNamespacedConfigMap({ namespace: this.namespace, body: this.toConfigMap(record) });
        } catch (error) {
          if (apiCode(error) !== 409) throw storeError(`cannot import the ownership record of deployment ${record.deploymentId}`, error);
        }
        this.versions.delete(record.deploymentId);
      }
      await rename(file, `${file}.imported`);
    }
  }
}
