import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Another live hub process holds the data folder. */
export class DataFolderInUseError extends Error {}

/**
 * One hub per data folder: `<dataDir>/hub.pid` holds the pid of the hub using it. A second start
 * on the same folder stops with a sentence naming that pid; a file left by a hub that died (its
 * pid is not alive) is taken over. Returns the release function (removes the file).
 */
export function lockDataFolder(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'hub.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        try {
          if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file, { force: true });
        } catch {
          /* already gone */
        }
      };
      process.once('exit', release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
        throw new DataFolderInUseError(`another hub (pid ${holder}) is already running on the data folder ${dataDir}; stop it first, or set DISTR_DATA_DIR to another folder`);
      }
      rmSync(file, { force: true }); // left by a hub that died
    }
  }
  throw new DataFolderInUseError(`could not take the data folder ${dataDir} (another hub is starting on it); try again`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
