/**
 * Safe YAML for user documents (compose files, values): the `yaml` package parses, and this walk
 * turns its nodes into plain values the way go-yaml v3 decodes them for Compose and Helm —
 * merge keys (`<<: *anchor`) applied with explicit keys winning, aliases expanded under a budget
 * (no alias bombs), duplicate keys and non-string keys refused, and no tag other than YAML's
 * own and, for compose files, `!reset` / `!override`.
 */
import { isAlias, isMap, isScalar, isSeq, parseAllDocuments, type Document, type Node } from 'yaml';

export class YamlProblem extends Error {
  constructor(
    readonly path: string,
    message: string,
    readonly line: number | null = null,
  ) {
    super(message);
  }
}

/** Expanded nodes per document, aliases included: generous for real files, fatal for bombs. */
export const MAX_EXPANDED_NODES = 200_000;
export const MAX_ALIASES = 10_000;
const MAX_DEPTH = 200;

const CORE_TAGS = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq', 'binary', 'timestamp', 'omap', 'set'].map((t) => `tag:yaml.org,2002:${t}`));

export interface YamlOptions {
  /** Accept compose's `!reset` and `!override` and record where they are. */
  composeTags?: boolean;
}

/** A parsed document and, for compose files, the paths tagged !reset / !override. */
export interface ParsedYaml {
  value: unknown;
  resetPaths: string[];
}

export function joinPath(base: string, key: string): string {
  return base === '' ? key : `${base}.${key}`;
}

class Walker {
  nodes = 0;
  aliases = 0;
  resetPaths: string[] = [];
  constructor(
    private readonly doc: Document,
    private readonly options: YamlOptions,
  ) {}

  walk(node: Node | null | undefined, path: string, depth: number, viaAlias = false): { value: unknown; drop: boolean } {
    if (++this.nodes > MAX_EXPANDED_NODES) throw new YamlProblem(path, `too many YAML aliases: the document expands to more than ${MAX_EXPANDED_NODES} nodes`);
    if (depth > MAX_DEPTH) throw new YamlProblem(path, `nesting deeper than ${MAX_DEPTH} levels`);
    if (node === null || node === undefined) return { value: null, drop: false };
    if (isAlias(node)) {
      if (++this.aliases > MAX_ALIASES) throw new YamlProblem(path, `too many YAML aliases (more than ${MAX_ALIASES} expanded)`);
      const target = node.resolve(this.doc);
      if (!target) throw new YamlProblem(path, `unknown anchor "${node.source}"`);
      return this.walk(target as Node, path, depth + 1, true);
    }
    const tag = (node as { tag?: string }).tag;
    if (tag !== undefined && !CORE_TAGS.has(tag)) {
      if (this.options.composeTags && (tag === '!reset' || tag === '!override')) {
        if (!viaAlias) this.resetPaths.push(path.replace('.<<', ''));
        if (tag === '!reset') return { value: null, drop: true };
      } else {
        throw new YamlProblem(path, `unknown YAML tag ${tag}${this.options.composeTags ? ' (compose accepts only !reset and !override)' : ''}`);
      }
    }
    if (isScalar(node)) {
      const v = node.value;
      if (typeof v === 'bigint') return { value: Number(v), drop: false };
      if (v instanceof Date) return { value: node.source, drop: false };
      if (v instanceof Uint8Array) return { value: node.source, drop: false };
      return { value: v, drop: false };
    }
    if (isSeq(node)) {
      const out: unknown[] = [];
      node.items.forEach((item, i) => {
        const r = this.walk(item as Node, `${path}[${i}]`, depth + 1);
        if (!r.drop) out.push(r.value);
      });
      return { value: out, drop: false };
    }
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      const explicit = new Set<string>();
      const merges: Node[] = [];
      for (const pair of node.items) {
        const keyNode = pair.key as Node | null;
        const key = this.keyOf(keyNode, path, depth);
        if (key === '<<' && isScalar(keyNode) && keyNode.type === 'PLAIN') {
          merges.push(pair.value as Node);
          continue;
        }
        if (explicit.has(key)) throw new YamlProblem(joinPath(path, key), `mapping key "${key}" is defined twice`);
        explicit.add(key);
        const r = this.walk(pair.value as Node, joinPath(path, key), depth + 1);
        if (!r.drop) out[key] = r.value;
      }
      // Merge keys: explicit keys win; in a list of mappings the first one wins.
      for (const merge of merges) {
        const r = this.walk(merge, joinPath(path, '<<'), depth + 1);
        const sources = Array.isArray(r.value) ? r.value : [r.value];
        for (const source of sources) {
          if (source === null || typeof source !== 'object' || Array.isArray(source)) {
            throw new YamlProblem(path, 'a merge key (<<) needs a mapping or a list of mappings');
          }
          for (const [k, v] of Object.entries(source)) if (!(k in out)) out[k] = v;
        }
      }
      return { value: out, drop: false };
    }
    throw new YamlProblem(path, 'unsupported YAML node');
  }

  private keyOf(keyNode: Node | null, path: string, depth: number): string {
    if (keyNode === null) return '';
    const { value } = this.walk(keyNode, path, depth + 1);
    if (typeof value === 'string') return value;
    const where = path === '' ? 'at top level' : `in ${path}`;
    throw new YamlProblem(path, `non-string key ${where}: ${JSON.stringify(value)} (quote it)`);
  }
}

function lineOf(text: string, offset: number | undefined): number | null {
  if (offset === undefined) return null;
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Parse every document of a YAML stream into plain values. Throws YamlProblem. */
export function parseYamlDocuments(text: string, options: YamlOptions = {}): ParsedYaml[] {
  const docs = parseAllDocuments(text, { uniqueKeys: false, merge: false, prettyErrors: false, strict: true });
  // An empty stream parses to an EmptyStream object, not an array.
  const list = Array.isArray(docs) ? docs : [];
  const out: ParsedYaml[] = [];
  for (const doc of list) {
    if (doc.errors.length > 0) {
      const first = doc.errors[0]!;
      const line = lineOf(text, first.pos?.[0]);
      throw new YamlProblem('', `is not valid YAML${line ? ` (line ${line})` : ''}: ${first.message.split('\n')[0]}`, line);
    }
    const walker = new Walker(doc, options);
    const { value } = walker.walk(doc.contents as Node | null, '', 0);
    out.push({ value, resetPaths: walker.resetPaths });
  }
  return out;
}

/** One YAML document that must be a mapping (or empty); no compose tags. */
export function parseSafeYamlMapping(text: string): Record<string, unknown> {
  const docs = parseYamlDocuments(text);
  if (docs.length > 1) throw new YamlProblem('', 'holds more than one YAML document');
  const value = docs[0]?.value ?? null;
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new YamlProblem('', 'must be a YAML mapping (key: value)');
  return value as Record<string, unknown>;
}
