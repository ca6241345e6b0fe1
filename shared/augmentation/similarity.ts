/**
 * Near-duplicate measure: Jaccard similarity of word shingles (runs of `size` words, lower
 * case, punctuation dropped). Shingles are hashed to 32-bit integers (FNV-1a) so the sets stay
 * small; a collision can only make two texts look more alike, never less.
 */
export function shingles(text: string, size: number): Set<number> {
  const words = text.toLowerCase().match(/[\p{L}\p{N}'’_]+/gu) ?? [];
  const out = new Set<number>();
  if (words.length === 0) return out;
  const hashes = words.map((w) => {
    let h = 0x811c9dc5;
    for (let k = 0; k < w.length; k++) h = Math.imul(h ^ w.charCodeAt(k), 0x01000193);
    return h;
  });
  const n = Math.max(1, hashes.length - size + 1);
  for (let i = 0; i < n; i++) {
    let h = 0x811c9dc5;
    for (let j = i; j < Math.min(hashes.length, i + size); j++) h = Math.imul(h ^ (hashes[j] as number), 0x01000193);
    out.add(h >>> 0);
  }
  return out;
}

/** |A ∩ B| / |A ∪ B|; two empty sets are identical (1). */
export function jaccard(a: ReadonlySet<number>, b: ReadonlySet<number>): number {
  if (a.size === 0 && b.size === 0) return 1;
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let inter = 0;
  for (const x of small) if (large.has(x)) inter++;
  return inter / (a.size + b.size - inter);
}

const memo = new Map<string, Set<number>>();

/**
 * Shingles of a conversation: the union of each message's shingles, each message's set
 * remembered for a while (a copy repeats most of its parent's messages, so most sets are reused).
 */
export function conversationShingles(messages: readonly { content: string }[], size: number): Set<number> {
  const out = new Set<number>();
  for (const m of messages) {
    const key = `${size}\u0000${m.content}`;
    let set = memo.get(key);
    if (!set) {
      if (memo.size >= 4096) memo.clear();
      set = shingles(m.content, size);
      memo.set(key, set);
    }
    for (const x of set) out.add(x);
  }
  return out;
}
