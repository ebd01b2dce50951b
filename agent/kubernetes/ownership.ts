/**
 * Ownership records of the Kubernetes driver: one JSON file per deployment in the state folder,
 * naming the helm release this agent installed and the helm revision it last produced. The driver
 * only ever upgrades, observes or uninstalls releases it has a record for, and compares the
 * recorded revision with helm's to detect changes made by hand (drift).
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

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

/** Deployment ids become file names: no separators, no dot-dot. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export class OwnershipStore {
  constructor(private readonly dir: string) {}

  private file(deploymentId: string): string {
    if (!SAFE_ID.test(deploymentId) || deploymentId.includes('..')) throw new Error(`invalid deployment id ${JSON.stringify(deploymentId)}`);
    return path.join(this.dir, `${deploymentId}.json`);
  }

  async get(deploymentId: string): Promise<OwnershipRecord | null> {
    try {
      return JSON.parse(await readFile(this.file(deploymentId), 'utf8')) as OwnershipRecord;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async put(record: OwnershipRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = this.file(record.deploymentId);
    const temp = `${file}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify(record, null, 2), { mode: 0o600 });
    await rename(temp, file);
  }

  async delete(deploymentId: string): Promise<void> {
    await rm(this.file(deploymentId), { force: true });
  }

  async all(): Promise<OwnershipRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const records: OwnershipRecord[] = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const record = await this.get(name.slice(0, -'.json'.length)).catch(() => null);
      if (record) records.push(record);
    }
    return records;
  }

  /** The record that owns a release, whichever deployment it belongs to. */
  async findByRelease(releaseName: string, namespace: string): Promise<OwnershipRecord | null> {
    return (await this.all()).find((r) => r.releaseName === releaseName && r.namespace === namespace) ?? null;
  }
}
