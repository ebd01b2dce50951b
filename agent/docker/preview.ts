/**
 * Runtime preview of a docker deployment: `docker compose config` (normalized: interpolated,
 * merged, defaults filled in) of the candidate against that of the files the agent applied, as a
 * unified diff; and per service what `up` would do, decided as compose decides it: a service
 * whose config hash (`config --hash`) differs from its running containers' `config-hash` label is
 * recreated. Reads only: nothing is started, pulled or changed. The caller redacts secrets.
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { createTwoFilesPatch } from 'diff';
import { parse } from 'yaml';
import type { AgentRuntimePreviewServiceInput } from '../../protocol/index.js';
import type { RuntimePreviewResult } from '../core/driver.js';

export const CONFIG_HASH_LABEL = 'com.docker.compose.config-hash';
export const SERVICE_LABEL = 'com.docker.compose.service';

/** A running (or stopped) container of the project, as `docker ps` lists it. */
export interface ProjectContainer {
  service: string;
  image: string;
  configHash: string | null;
}

export interface ComposeFiles {
  composeFile: string;
  envFile: string;
}

/** Runs `docker compose <args>` on these files with this project directory; returns stdout. */
export type ComposeOnFiles = (files: { composeFile: string; envFile: string; projectDirectory: string }, args: string[], what: string) => Promise<string>;

/** `web 0f3a…` lines → service → hash. */
export function parseHashes(output: string): Map<string, string> {
  const hashes = new Map<string, string>();
  for (const line of output.split('\n')) {
    const [service, hash] = line.trim().split(/\s+/);
    if (service && hash) hashes.set(service, hash);
  }
  return hashes;
}

/** service → image of a normalized compose config. */
export function imagesOf(normalized: string): Map<string, string | null> {
  const doc = (parse(normalized) ?? {}) as { services?: Record<string, { image?: unknown }> };
  return new Map(Object.entries(doc.services ?? {}).map(([name, s]) => [name, typeof s?.image === 'string' ? s.image : null]));
}

/** What `up` would do to each service: pure, from the candidate's hashes and images and what runs. */
export function serviceChanges(candidateHashes: Map<string, string>, candidateImages: Map<string, string | null>, running: readonly ProjectContainer[]): AgentRuntimePreviewServiceInput[] {
  const byService = new Map<string, ProjectContainer[]>();
  for (const c of running) (byService.get(c.service) ?? byService.set(c.service, []).get(c.service)!).push(c);
  const names = [...new Set([...candidateHashes.keys(), ...byService.keys()])].sort();
  return names.map((name) => {
    const containers = byService.get(name) ?? [];
    const hash = candidateHashes.get(name);
    const imageBefore = containers[0]?.image ?? null;
    const imageAfter = candidateImages.get(name) ?? null;
    const change = hash === undefined ? 'removed' : containers.length === 0 ? 'added' : containers.every((c) => c.configHash === hash) ? 'unchanged' : 'recreated';
    return { name, change, imageBefore, imageAfter };
  });
}

/** The project's compose containers (one-off `run` containers left out), with their config hashes. */
export async function projectContainers(docker: Docker, projectName: string): Promise<ProjectContainer[]> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${projectName}`] } });
  return containers
    .filter((c) => c.Labels['com.docker.compose.oneoff'] !== 'True' && c.Labels[SERVICE_LABEL])
    .map((c) => ({ service: c.Labels[SERVICE_LABEL]!, image: c.Image, configHash: c.Labels[CONFIG_HASH_LABEL] ?? null }));
}

const exists = (p: string) => stat(p).then(() => true, () => false);

/**
 * The preview of `candidate` for a project whose applied files are `applied` (null: nothing
 * applied here) in `workDir`, with `running` its containers. The candidate goes into a temp
 * folder (mode 0700, removed after); both sides are normalized with the work folder as project
 * directory, so relative paths resolve alike.
 */
export async function previewCompose(input: {
  projectName: string;
  workDir: string;
  applied: (ComposeFiles & { revisionId: string }) | null;
  candidate: ComposeFiles;
  running: readonly ProjectContainer[];
  compose: ComposeOnFiles;
}): Promise<RuntimePreviewResult> {
  const temp = await mkdtemp(path.join(os.tmpdir(), 'distr-preview-'));
  try {
    const projectDirectory = (await exists(input.workDir)) ? input.workDir : temp;
    const candidateFiles = { composeFile: path.join(temp, 'compose.yaml'), envFile: path.join(temp, '.env'), projectDirectory };
    await writeFile(candidateFiles.composeFile, input.candidate.composeFile, { mode: 0o600 });
    await writeFile(candidateFiles.envFile, input.candidate.envFile, { mode: 0o600 });
    const withNewline = (text: string) => (text === '' || text.endsWith('\n') ? text : `${text}\n`);
    const candidate = withNewline(await input.compose(candidateFiles, ['config'], 'docker compose config (candidate)'));
    const hashes = parseHashes(await input.compose(candidateFiles, ['config', '--hash', '*'], 'docker compose config --hash (candidate)'));
    let before = '';
    const notes: string[] = [];
    if (input.applied && (await exists(input.applied.composeFile))) {
      before = withNewline(await input.compose({ ...input.applied, projectDirectory }, ['config'], 'docker compose config (applied)'));
    } else {
      notes.push('nothing of this deployment was applied on this host yet: every service would be added');
    }
    if (input.applied && input.running.length === 0) notes.push('the project has no containers now');
    const diff = createTwoFilesPatch('running/compose.yaml', 'candidate/compose.yaml', before, candidate, input.applied ? `revision ${input.applied.revisionId} (applied)` : 'nothing applied', 'candidate', { context: 3 });
    return {
      baseRevisionId: input.applied?.revisionId ?? null,
      diff,
      services: serviceChanges(hashes, imagesOf(candidate), input.running),
      message: notes.length ? notes.join('; ') : null,
    };
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}
