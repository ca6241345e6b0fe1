import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

/** murmur3's finaliser: every input bit affects every output bit. */
function mix(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/**
 * Pixel's one seeded random source (xoroshiro128+ from pure-rand); draws depend only on the
 * seed, never on run order or timing. Synthetic records, augmentation, batching, sampling and
 * bootstrap intervals all draw from it.
 */
export class Rng {
  private readonly generator: ReturnType<typeof xoroshiro128plus>;

  /** A generator for `seed`; `stream` gives independent sequences of one seed (e.g. a record index). */
  constructor(seed: number, stream?: number) {
    // xoroshiro's first draws from small, similar seeds are alike; spread the seed's bits first.
    this.generator = xoroshiro128plus(stream === undefined ? mix(seed) : mix(mix(seed) ^ Math.imul(mix(stream) | 0, 0x9e3779b1)));
  }

  /**
   * The generator for one decision of one item: the run's seed, the item's id and a purpose
   * ("paraphrase") hashed together, so each item draws the same numbers however shards are
   * cut, ordered or threaded.
   */
  static for(seed: number, ...parts: string[]): Rng {
    // FNV-1a over the parts (the constructor spreads the bits).
    let h = Math.imul(0x811c9dc5 ^ seed, 0x01000193);
    for (const part of parts) {
      for (let i = 0; i < part.length; i++) h = Math.imul(h ^ part.charCodeAt(i), 0x01000193);
      h = Math.imul(h ^ 0xff, 0x01000193);
    }
    return new Rng(h | 0);
  }

  /** A float in [0, 1). */
  next(): number {
    return uniformFloat64(this.generator);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    if (n <= 1) return 0;
    return uniformInt(this.generator, 0, n - 1);
  }

  /** An integer in [min, max], both included. */
  between(min: number, max: number): number {
    return min + Math.floor(this.next() * (Math.floor(max) - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)] as T;
  }

  /** Like {@link pick}, never returning `not` when there is another choice. */
  pickOther<T>(items: readonly T[], not: T): T {
    const others = items.filter((i) => i !== not);
    return others.length > 0 ? this.pick(others) : this.pick(items);
  }

  /** Picks by weight; `weights[i]` belongs to `items[i]`. */
  weighted<T>(items: readonly T[], weights: readonly number[]): T {
    const total = weights.reduce((s, w) => s + w, 0);
    let r = this.next() * total;
    for (let i = 0; i < items.length; i++) {
      r -= weights[i] ?? 0;
      if (r < 0) return items[i] as T;
    }
    return items[items.length - 1] as T;
  }

  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }
}
