/** Figures of the propagation benchmark: percentiles, rounding and the seeded random choice of targets. */

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** A small linear congruential generator in [0, 1), so runs with the same --seed pick the same targets. */
export function seededRandom(seed: string | undefined): () => number {
  let rng = Number(seed) >>> 0 || 1;
  return () => ((rng = (rng * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}
