/**
 * Runtime preview of a kubernetes deployment: the candidate's manifests as `helm upgrade
 * --dry-run=server` renders them, each object server-side-applied as a dry run (`dryRun=All`, what
 * `kubectl diff --server-side` does: defaults, admission and validation by the API server) and
 * compared with the live object; objects of the current release the candidate drops are shown
 * removed. Secret data is never shown (`[redacted]`). Changes nothing.
 */
import type { KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import { PatchStrategy } from '@kubernetes/client-node';
import { createTwoFilesPatch } from 'diff';
import YAML from 'yaml';
import type { AgentRuntimePreviewServiceInput } from '../../protocol/index.js';

type Obj = KubernetesObject & Record<string, any>;

const FIELD_MANAGER = 'distr-preview';
const isNotFound = (error: unknown) => (error as { code?: number })?.code === 404;

/** The objects of a multi-document manifest (empty documents left out). */
export function parseManifest(manifest: string): Obj[] {
  return YAML.parseAllDocuments(manifest)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => Boolean(o && o.kind && o.metadata?.name));
}

const keyOf = (o: Obj, namespace: string) => `${o.apiVersion}/${o.kind}/${o.metadata?.namespace ?? namespace}/${o.metadata!.name}`;

/** What a person compares: no server bookkeeping, no status, no Secret values. */
export function comparable(o: Obj | null): Obj | null {
  if (!o) return null;
  const { status: _status, ...rest } = o;
  const { managedFields: _m, resourceVersion: _r, uid: _u, creationTimestamp: _c, generation: _g, selfLink: _s, ...metadata } = o.metadata ?? {};
  const out: Obj = { ...rest, metadata };
  for (const field of ['data', 'stringData'] as const) {
    if (o.kind === 'Secret' && o[field] && typeof o[field] === 'object') out[field] = Object.fromEntries(Object.keys(o[field]).sort().map((k) => [k, '[redacted]']));
  }
  return out;
}

/** The first container image of a workload (or pod), for the summary. */
export function imageOf(o: Obj | null): string | null {
  const spec = o?.spec?.template?.spec ?? o?.spec?.jobTemplate?.spec?.template?.spec ?? o?.spec;
  const image = spec?.containers?.[0]?.image;
  return typeof image === 'string' ? image : null;
}

const yaml = (o: Obj | null) => (o ? YAML.stringify(o, { sortMapEntries: true, lineWidth: 0 }) : '');

/** Diff of each object, live → after a server-side dry-run apply of the candidate. */
export async function previewManifests(input: { objects: KubernetesObjectApi; namespace: string; rendered: string; released: string }): Promise<{ diff: string; services: AgentRuntimePreviewServiceInput[] }> {
  const read = (o: Obj) => input.objects.read(o as KubernetesObject & { metadata: { name: string; namespace: string } }).catch((error: unknown) => (isNotFound(error) ? null : Promise.reject(error))) as Promise<Obj | null>;
  const candidates = parseManifest(input.rendered).map((o) => ({ ...o, metadata: { ...o.metadata, namespace: o.metadata?.namespace ?? input.namespace } }));
  const wanted = new Set(candidates.map((o) => keyOf(o, input.namespace)));
  const gone = parseManifest(input.released).filter((o) => !wanted.has(keyOf(o, input.namespace)));
  const diffs: string[] = [];
  const services: AgentRuntimePreviewServiceInput[] = [];
  const record = (o: Obj, before: Obj | null, after: Obj | null) => {
    const name = `${o.kind}/${o.metadata!.name}`;
    const a = yaml(comparable(before));
    const b = yaml(comparable(after));
    const change = !before ? 'added' : !after ? 'removed' : a === b ? 'unchanged' : 'changed';
    services.push({ name, change, imageBefore: imageOf(before), imageAfter: imageOf(after) });
    if (a !== b) diffs.push(createTwoFilesPatch(`live/${name}`, `candidate/${name}`, a, b, before ? 'live' : 'not live', after ? 'server-side dry run' : 'removed', { context: 3 }));
  };
  for (const o of candidates) {
    const live = await read(o);
    // Server-side apply, dry run: the object as the API server would store it (no write).
    const after = (await input.objects.patch(o, undefined, 'All', FIELD_MANAGER, true, PatchStrategy.ServerSideApply)) as Obj;
    record(o, live, after);
  }
  for (const o of gone) {
    const live = await read({ ...o, metadata: { ...o.metadata, namespace: o.metadata?.namespace ?? input.namespace } });
    if (live) record(o, live, null);
  }
  services.sort((x, y) => x.name.localeCompare(y.name));
  return { diff: diffs.join(''), services };
}
