/**
 * .env files parsed exactly as Compose parses them (compose-go's dotenv parser, itself a fork of
 * godotenv): `export` prefixes, `KEY=value` or `KEY: value`, comments, ` #` inline comments in
 * unquoted values, single quotes literal, double quotes with escapes (\n \t \\ \" \$ …) and
 * multiline values, `${VAR}` interpolation from earlier entries in unquoted and double-quoted
 * values, and a bare `KEY` line inheriting from the environment.
 *
 * The npm `dotenv` package (already a dependency) parses a different dialect: no interpolation,
 * no `KEY: value`, only \n and \r escapes, and a bare `KEY` is an error-free no-op — the env
 * differential test shows the cases; so this file follows compose instead.
 */
import { substitute } from './compose-interpolate.js';

export class EnvFileError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

const SPACE = new Set(['\t', '\v', '\f', '\r', ' ', '\u0085', '\u00a0']);
const isSpace = (c: string) => SPACE.has(c);
const isUnicodeSpace = (c: string) => /\s/u.test(c) || c === '\u0085';
const ESCAPES = /\\(?:[abcfnrtv$"\\]|0\d{0,3})/g;
const SIMPLE_ESCAPES: Record<string, string> = { a: '\x07', b: '\b', c: '\\c', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '"': '"', '\\': '\\' };

function expandEscapes(value: string): string {
  return value.replace(ESCAPES, (match) => {
    if (match === '\\$') return '$$';
    if (match.startsWith('\\0')) {
      // Go's UnquoteChar on "\\ddd" after dropping the 0: an octal escape of exactly 3 digits.
      const digits = match.slice(2);
      if (/^[0-7]{3}$/.test(digits)) {
        const code = Number.parseInt(digits, 8);
        return code <= 255 ? String.fromCharCode(code) : match;
      }
      return match;
    }
    const ch = match[1]!;
    if (ch === 'c') return match;
    return SIMPLE_ESCAPES[ch] ?? match;
  });
}

export type EnvLookup = (name: string) => string | undefined;

/**
 * Parse a .env file. `lookup` supplies inherited (`KEY` alone) and interpolated values that the
 * file does not define itself (compose passes the process environment; the hub passes none).
 */
export function parseComposeEnvFile(text: string, lookup: EnvLookup = () => undefined): Record<string, string> {
  const out: Record<string, string> = {};
  let line = 1;
  let src = text.startsWith('\ufeff') ? text.slice(1) : text;
  const expand = (value: string): string => {
    try {
      return substitute(value, (k) => lookup(k) ?? (Object.hasOwn(out, k) ? out[k] : undefined)).value;
    } catch (error) {
      throw new EnvFileError(line, `line ${line}: ${(error as Error).message}`);
    }
  };
  for (;;) {
    // Statement start: skip whitespace and comment lines.
    for (;;) {
      let i = 0;
      while (i < src.length && isUnicodeSpace(src[i]!)) {
        if (src[i] === '\n') line++;
        i++;
      }
      src = src.slice(i);
      if (src === '' || src[0] !== '#') break;
      const nl = src.indexOf('\n');
      if (nl < 0) {
        src = '';
        break;
      }
      src = src.slice(nl);
    }
    if (src === '') break;
    // Key.
    if (/^export\s+/.test(src)) src = src.slice('export'.length).replace(/^[\t\v\f\r \u0085\u00a0]+/, '');
    let key = '';
    let offset = 0;
    let inherited = false;
    let found = false;
    const chars = [...src];
    let pos = 0;
    for (const ch of chars) {
      if (isSpace(ch)) {
        pos += ch.length;
        continue;
      }
      if (ch === '=' || ch === ':' || ch === '\n') {
        key = src.slice(0, pos);
        offset = pos + 1;
        inherited = ch === '\n';
        found = true;
        break;
      }
      if (!['_', '.', '-', '[', ']'].includes(ch) && !/[\p{L}\p{N}]/u.test(ch)) {
        throw new EnvFileError(line, `line ${line}: unexpected character ${JSON.stringify(ch)} in variable name ${JSON.stringify(src.split('\n')[0])}`);
      }
      pos += ch.length;
    }
    if (!found) {
      // A last line without "=": compose takes the whole rest as an inherited key.
      key = src;
      offset = src.length;
      inherited = true;
    }
    if (inherited && !key.includes(' ')) line++;
    key = key.replace(/\s+$/u, '');
    src = src.slice(offset).replace(/^[\t\v\f\r \u0085\u00a0]+/, '');
    if (key.includes(' ')) throw new EnvFileError(line, `line ${line}: key cannot contain a space`);
    if (key === '') throw new EnvFileError(line, `line ${line}: a line has no variable name`);
    if (inherited) {
      const value = lookup(key);
      if (value !== undefined) out[key] = value;
      continue;
    }
    // Value.
    const quote = src[0] === '"' || src[0] === "'" ? src[0] : null;
    if (!quote) {
      const nl = src.indexOf('\n');
      let value = nl < 0 ? src : src.slice(0, nl);
      src = nl < 0 ? '' : src.slice(nl + 1);
      const comment = value.indexOf(' #');
      if (comment >= 0) value = value.slice(0, comment);
      value = value.replace(/\s+$/u, '');
      out[key] = expand(value);
      line++;
      continue;
    }
    let escaped = false;
    let chars2 = '';
    let closed = -1;
    for (let i = 1; i < src.length; i++) {
      const ch = src[i]!;
      if (ch === '\n') line++;
      if (ch !== quote) {
        if (!escaped && ch === '\\') {
          escaped = true;
          continue;
        }
        if (escaped) {
          escaped = false;
          chars2 += '\\';
        }
        chars2 += ch;
        continue;
      }
      if (escaped) {
        escaped = false;
        chars2 += ch;
        continue;
      }
      closed = i;
      break;
    }
    if (closed < 0) {
      const end = src.indexOf('\n');
      throw new EnvFileError(line, `line ${line}: unterminated quoted value ${end < 0 ? src : src.slice(0, end)}`);
    }
    out[key] = quote === '"' ? expand(expandEscapes(chars2)) : chars2;
    src = src.slice(closed + 1);
  }
  return out;
}

/** Render entries as a .env file compose reads back to the same values. */
export function formatComposeEnvFile(entries: Record<string, string>): string {
  const lines = Object.entries(entries).map(([k, v]) => {
    if (/^[A-Za-z0-9_./:@+,-]*$/.test(v)) return `${k}=${v}`;
    // Single quotes are literal in compose's parser; a value holding one goes double-quoted with escapes.
    if (!v.includes("'")) return `${k}='${v}'`;
    return `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '\\$').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r')}"`;
  });
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** A secret reference, `${{ secrets.NAME }}` (server/secrets/templates.ts): the hub renders it, compose never sees it. */
const SECRET_REFERENCE = /\$\{\{[\s\S]*?\}\}/g;

/**
 * parseComposeEnvFile for the hub's stored env templates and env files: secret references are
 * kept verbatim (compose would refuse `${{` as an interpolation) and rendered later. A NUL byte
 * marks them while parsing: stored text cannot hold one (validation.ts refuses it).
 */
export function parseEnvFileKeepingSecrets(text: string, lookup: EnvLookup = () => undefined): Record<string, string> {
  const references: string[] = [];
  const marked = text.replace(SECRET_REFERENCE, (reference) => `\u0000${references.push(reference) - 1}\u0000`);
  const entries = parseComposeEnvFile(marked, lookup);
  if (references.length === 0) return entries;
  const restore = (value: string) => value.replace(/\u0000(\d+)\u0000/g, (_m, i: string) => references[Number(i)] ?? '');
  return Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, restore(v)]));
}
