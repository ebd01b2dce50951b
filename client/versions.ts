/** Picking the latest version of an application, by semantic version or by creation time. */
import semver from 'semver';
import type { ApplicationVersion, VersionOrder } from './types.js';

type Candidate = Pick<ApplicationVersion, 'id' | 'name' | 'createdAt' | 'archivedAt'>;

/** The name as a semantic version (a leading `v` allowed), or null. */
export function semverOf(name: string): string | null {
  return semver.valid(name, { loose: true });
}

/** The latest non-archived version, or null when there is none (in semver mode: none with a semver name). */
export function latestVersion<V extends Candidate>(versions: readonly V[], order: VersionOrder): V | null {
  const active = versions.filter((v) => v.archivedAt === null);
  if (order === 'chronological') return newest(active);
  let best: { version: V; semver: string } | null = null;
  for (const version of active) {
    const parsed = semverOf(version.name);
    if (parsed && (!best || semver.gt(parsed, best.semver, { loose: true }))) best = { version, semver: parsed };
  }
  return best?.version ?? null;
}

/**
 * Whether `current` is behind: by semver when both it and some active version have semver names,
 * otherwise by creation time (the newest active version is not the current one and is newer).
 */
export function isBehind<V extends Candidate>(current: Pick<V, 'id' | 'name'>, versions: readonly V[]): { outdated: boolean; latest: V | null } {
  const currentSemver = semverOf(current.name);
  const bySemver = currentSemver ? latestVersion(versions, 'semver') : null;
  if (currentSemver && bySemver) {
    return { outdated: semver.gt(semverOf(bySemver.name)!, currentSemver, { loose: true }), latest: bySemver };
  }
  const latest = latestVersion(versions, 'chronological');
  const mine = versions.find((v) => v.id === current.id);
  const outdated = latest !== null && latest.id !== current.id && (!mine || Date.parse(latest.createdAt) > Date.parse(mine.createdAt));
  return { outdated, latest };
}

function newest<V extends Candidate>(versions: readonly V[]): V | null {
  let best: V | null = null;
  // Ties on createdAt keep the later entry: the hub lists versions oldest first.
  for (const v of versions) if (!best || Date.parse(v.createdAt) >= Date.parse(best.createdAt)) best = v;
  return best;
}
