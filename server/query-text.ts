/**
 * One copy of each distinct operation text that arrives over websockets. graphql-ws keeps the
 * parsed `subscribe` message for the subscription's whole life, so every idle agent would hold its
 * own ~1 KiB copy of the same desired-state query; as the JSON reviver of those messages this
 * hands back the first copy seen instead. Bounded: texts past the limit are kept as they came.
 */
const MAX_TEXTS = 256;
const MAX_TEXT_LENGTH = 64 * 1024;
const texts = new Map<string, string>();

export function reviveQueryText(key: string, value: unknown): unknown {
  if (key !== 'query' || typeof value !== 'string' || value.length > MAX_TEXT_LENGTH) return value;
  const known = texts.get(value);
  if (known !== undefined) return known;
  if (texts.size < MAX_TEXTS) texts.set(value, value);
  return value;
}
