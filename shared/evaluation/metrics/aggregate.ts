import { Rng } from '../../util/rng';

/** A mean with a two-sided percentile bootstrap interval. */
export interface Estimate {
  n: number;
  mean: number;
  low: number;
  high: number;
}

const percentile = (sorted: readonly number[], q: number): number => {
  if (sorted.length === 0) return Number.NaN;
  const at = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
  return sorted[at] as number;
};

/**
 * A ratio of sums (Σ num / Σ den) over items, with a percentile bootstrap interval from
 * `resamples` resamplings of the items (seeded, so the same data give the same interval). With
 * `den` all 1 it is the plain mean. Tells how much the figure would move if the items had been
 * drawn again from the same population; it cannot tell whether the items represent the
 * population the model will meet, and with fewer than ~20 items the interval is rough.
 */
export function bootstrapRatio(num: readonly number[], den: readonly number[], resamples: number, seed: number, level = 0.95): Estimate {
  const n = num.length;
  if (n !== den.length) throw new Error('bootstrapRatio: num and den differ in length');
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  const totalDen = sum(den);
  const mean = totalDen === 0 ? Number.NaN : sum(num) / totalDen;
  if (n === 0) return { n, mean: Number.NaN, low: Number.NaN, high: Number.NaN };
  const rng = new Rng(seed);
  const stats: number[] = [];
  for (let r = 0; r < resamples; r++) {
    let a = 0;
    let b = 0;
    for (let i = 0; i < n; i++) {
      const j = rng.int(n);
      a += num[j] as number;
      b += den[j] as number;
    }
    if (b !== 0) stats.push(a / b);
  }
  stats.sort((x, y) => x - y);
  const tail = (1 - level) / 2;
  return { n, mean, low: percentile(stats, tail), high: percentile(stats, 1 - tail) };
}

/** The mean of `values` with its bootstrap interval (see {@link bootstrapRatio}). */
export function bootstrapMean(values: readonly number[], resamples: number, seed: number, level = 0.95): Estimate {
  return bootstrapRatio(
    values,
    values.map(() => 1),
    resamples,
    seed,
    level,
  );
}

/**
 * The paired difference `a - b` over the same items (both models answered the same prompts),
 * with a bootstrap interval that resamples items, not models: much tighter than comparing two
 * separate intervals, because prompt difficulty cancels out.
 */
export function bootstrapPairedDelta(a: readonly number[], b: readonly number[], resamples: number, seed: number, level = 0.95): Estimate {
  if (a.length !== b.length) throw new Error('bootstrapPairedDelta: the two lists must be paired (same length)');
  return bootstrapMean(
    a.map((x, i) => x - (b[i] as number)),
    resamples,
    seed,
    level,
  );
}

/** Groups values by a key, keeping first-seen order of keys. */
export function groupBy<T, K extends string>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {
  const out = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}
