import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** What the agent remembers per deployment across its own restarts (never desired state). */
export interface AppliedRecord {
  revisionId: string;
  /** Hash of what was applied: an unchanged spec is not applied again. */
  specHash: string;
  /** The force-restart marker last acted on. */
  restartMarker: string | null;
}

/** A small JSON file, written atomically (temp file + rename). */
export class StateStore {
  private records: Record<string, AppliedRecord> = {};
  private readonly file: string;
  private writing: Promise<void> = Promise.resolve();

  constructor(dir: string) {
    this.file = path.join(dir, 'applied.json');
  }

  async load(): Promise<void> {
    try {
      this.records = JSON.parse(await readFile(this.file, 'utf8'));
    } catch {
      this.records = {};
    }
  }

  get(deploymentId: string): AppliedRecord | undefined {
    return this.records[deploymentId];
  }

  async set(deploymentId: string, record: AppliedRecord | null): Promise<void> {
    if (record) this.records[deploymentId] = record;
    else delete this.records[deploymentId];
    const snapshot = JSON.stringify(this.records, null, 2);
    this.writing = this.writing.then(async () => {
      await mkdir(path.dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      await writeFile(tmp, snapshot);
      await rename(tmp, this.file);
    });
    await this.writing;
  }
}
