/**
 * The string formats compose parses after the schema: ports (docker's nat.ParsePortSpec), short
 * volume syntax (compose-go format.ParseVolume), durations (Go's, plus d and w) and sizes
 * (go-units RAMInBytes). Each returns an error message or null.
 */
import { isIP } from 'node:net';

const PROTOCOLS = new Set(['tcp', 'udp', 'sctp']);

function parseRange(text: string): [number, number] | null {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) return null;
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start > 65535 || end > 65535 || end < start) return null;
  return [start, end];
}

/** `[ip:][host[-range]:]container[-range][/protocol]`; null when valid. */
export function portSpecError(spec: string): string | null {
  let raw = spec;
  let proto = 'tcp';
  const slash = raw.lastIndexOf('/');
  if (slash >= 0) {
    proto = raw.slice(slash + 1);
    raw = raw.slice(0, slash);
  }
  if (!PROTOCOLS.has(proto.toLowerCase())) return `invalid proto: ${proto}`;
  let ip = '';
  let hostPart = '';
  let containerPart: string;
  const bracket = /^\[([^\]]*)\](?::(.*))?$/.exec(raw);
  let rest: string;
  if (bracket) {
    ip = bracket[1]!;
    rest = bracket[2] ?? '';
    const parts = rest.split(':');
    if (parts.length !== 2) return `invalid port specification: "${spec}"`;
    [hostPart, containerPart] = parts as [string, string];
  } else {
    const parts = raw.split(':');
    if (parts.length === 1) containerPart = parts[0]!;
    else if (parts.length === 2) [hostPart, containerPart] = parts as [string, string];
    else {
      containerPart = parts.pop()!;
      hostPart = parts.pop()!;
      ip = parts.join(':');
    }
  }
  if (ip !== '' && isIP(ip) === 0) return `invalid IP address: ${ip}`;
  if (containerPart === '') return `no port specified: ${spec}<empty>`;
  const container = parseRange(containerPart);
  if (!container) return `invalid containerPort: ${containerPart}`;
  if (hostPart !== '') {
    const host = parseRange(hostPart);
    if (!host) return `invalid hostPort: ${hostPart}`;
    const hostLen = host[1] - host[0];
    const containerLen = container[1] - container[0];
    if (hostLen !== containerLen && containerLen !== 0) return `invalid ranges specified for container and host Ports: ${containerPart} and ${hostPart}`;
  }
  return null;
}

export interface ShortVolume {
  source: string;
  target: string;
  type: 'bind' | 'volume';
}

function isWindowsDrive(buffer: string, ch: string): boolean {
  return ch === ':' && buffer.length === 1 && /\p{L}/u.test(buffer);
}

/** compose-go's ParseVolume; throws with its message. */
export function parseShortVolume(spec: string): ShortVolume {
  if (spec.length === 0) throw new Error('invalid empty volume spec');
  if (spec.length <= 2) return { source: '', target: spec, type: 'volume' };
  let source = '';
  let target = '';
  let buffer = '';
  let inVar = 0;
  const END = '\u0000';
  const chars = [...spec, END];
  const fill = (ch: string) => {
    if (buffer.length === 0) throw new Error(`invalid spec: ${spec}: empty section between colons`);
    if (source === '' && ch === END) target = buffer;
    else if (source === '') source = buffer;
    else if (target === '') target = buffer;
    else if (ch === ':') throw new Error(`invalid spec: ${spec}: too many colons`);
  };
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '$' && chars[i + 1] === '{') {
      inVar++;
      buffer += ch;
      continue;
    }
    if (ch === '}' && inVar > 0) {
      inVar--;
      buffer += ch;
      continue;
    }
    if (isWindowsDrive(buffer, ch)) buffer += ch;
    else if ((ch === ':' || ch === END) && inVar === 0) {
      fill(ch);
      buffer = '';
    } else buffer += ch;
  }
  return { source, target, type: isFilePath(source) ? 'bind' : 'volume' };
}

function isFilePath(source: string): boolean {
  if (source === '') return false;
  if ('./~'.includes(source[0]!)) return true;
  if (source.startsWith('\\\\')) return true;
  const chars = [...source];
  return chars.length > 1 && isWindowsDrive(chars[0]!, chars[1]!);
}

const DURATION = /^[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h|d|w))+$/;

/** Go's time.ParseDuration (as extended by str2duration with d and w); null when valid. */
export function durationError(value: unknown): string | null {
  if (typeof value === 'number') return null;
  const s = String(value);
  if (s === '0' || s === '+0' || s === '-0') return null;
  return DURATION.test(s) ? null : `invalid duration ${JSON.stringify(s)} (use e.g. 30s, 1m30s, 2h)`;
}

const SIZE = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/;

/** go-units RAMInBytes; null when valid. */
export function sizeError(value: unknown): string | null {
  if (typeof value === 'number') return null;
  const s = String(value);
  return SIZE.test(s) ? null : `invalid size: '${s}' (use e.g. 512m, 1g, 1073741824)`;
}
