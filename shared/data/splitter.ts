import type { SplitConfig, SplitName } from '../contracts';

/**
 * A 53-bit string hash (two 32-bit multiply-xorshift lanes mixed at the end, in the style of
 * cyrb53). Not cryptographic; chosen because it is several times cheaper than sha256 per call
 * on short ids and uniform enough for splitting (see the ratio test on 100k ids).
 */
export function hash53(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/**
 * Position of a key on [0, 1) from a salted hash. It depends on nothing but the salt and the
 * key, so a record's split never changes when the file grows or is reordered.
 */
export function splitPosition(key: string, salt: string): number {
  return hash53(`${salt}\u0000${key}`) / 2 ** 53;
}

/** Assigns a split by a salted hash of `key` (a conversation's group id or id). */
export function assignSplit(key: string, config: SplitConfig): SplitName {
  const x = splitPosition(key, config.salt);
  const { train, val } = config.ratios;
  if (x < train) return 'train';
  if (x < train + val) return 'val';
  return 'test';
}
