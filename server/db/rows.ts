/**
 * Typed reads of one row of a plain SQL statement: each column's value is checked against what
 * the caller expects (timestamps as Date, jsonb as objects), and a mismatch
 * is an error naming the statement and the column, not a wrong value passed on.
 */
export function columnsOf(statement: string, row: Record<string, unknown>) {
  const wrong = (column: string, expected: string): never => {
    const value = row[column];
    throw new Error(`${statement}: column ${column} should be ${expected}, got ${value === null ? 'null' : typeof value}`);
  };
  const text = (column: string): string => {
    const v = row[column];
    return typeof v === 'string' ? v : wrong(column, 'text');
  };
  // MikroORM has pg hand timestamps over as text (it parses them itself, as this does).
  const date = (column: string): Date => {
    const v = row[column];
    if (v instanceof Date) return v;
    const parsed = typeof v === 'string' ? new Date(v) : null;
    return parsed && !Number.isNaN(parsed.getTime()) ? parsed : wrong(column, 'a timestamp');
  };
  const orNull =
    <T>(read: (column: string) => T) =>
    (column: string): T | null =>
      row[column] === null ? null : read(column);
  return {
    text,
    textOrNull: orNull(text),
    date,
    dateOrNull: orNull(date),
    bool: (column: string): boolean => {
      const v = row[column];
      return typeof v === 'boolean' ? v : wrong(column, 'a boolean');
    },
    /** One of an enum's values. */
    oneOf: <T extends string>(column: string, values: readonly T[]): T => {
      const v = row[column];
      return values.includes(v as T) ? (v as T) : wrong(column, `one of ${values.join(', ')}`);
    },
    oneOfOrNull: <T extends string>(column: string, values: readonly T[]): T | null => {
      const v = row[column];
      return v === null ? null : values.includes(v as T) ? (v as T) : wrong(column, `one of ${values.join(', ')}`);
    },
    /** A json/jsonb column holding an object or array (its inner shape was checked when written). */
    jsonOrNull: <T extends object>(column: string): T | null => {
      const v = row[column];
      return v === null ? null : typeof v === 'object' ? (v as T) : wrong(column, 'json');
    },
  };
}
