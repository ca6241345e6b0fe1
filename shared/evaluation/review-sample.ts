import { Rng } from '../util/rng';
import type { ValidationItem } from '../contracts';

/**
 * The items clinicians review: every crisis item, plus `size` of the others drawn stratified by
 * scenario (each scenario's share of the sample follows its share of the set, largest
 * remainders first, at least one from each scenario while the size allows), in a seeded order
 * that depends only on the seed and the item ids.
 */
export function selectReviewItems(items: readonly ValidationItem[], size: number, seed: number): string[] {
  const crisis = items.filter((i) => i.scenario === 'crisis').map((i) => i.id);
  const others = items.filter((i) => i.scenario !== 'crisis');
  const take = Math.min(size, others.length);
  const groups = new Map<string, ValidationItem[]>();
  for (const i of others) groups.set(i.scenario, [...(groups.get(i.scenario) ?? []), i]);
  const keys = [...groups.keys()].sort();
  const quota = new Map<string, number>();
  const exact = keys.map((k) => ({ k, x: (take * groups.get(k)!.length) / Math.max(1, others.length) }));
  for (const { k, x } of exact) quota.set(k, Math.floor(x));
  // At least one per scenario when the sample is large enough, then the largest remainders.
  if (take >= keys.length) for (const k of keys) if (quota.get(k) === 0) quota.set(k, 1);
  let left = take - [...quota.values()].reduce((a, b) => a + b, 0);
  for (const { k } of [...exact].sort((a, b) => (b.x % 1) - (a.x % 1) || a.k.localeCompare(b.k))) {
    if (left <= 0) break;
    if (quota.get(k)! < groups.get(k)!.length) {
      quota.set(k, quota.get(k)! + 1);
      left -= 1;
    }
  }
  while (left < 0) {
    const k = [...keys].sort((a, b) => quota.get(b)! - quota.get(a)!)[0]!;
    quota.set(k, quota.get(k)! - 1);
    left += 1;
  }
  const rank = (id: string) => Rng.for(seed, 'review', id).next();
  const sampled = keys.flatMap((k) =>
    [...groups.get(k)!]
      .sort((a, b) => rank(a.id) - rank(b.id) || a.id.localeCompare(b.id))
      .slice(0, quota.get(k))
      .map((i) => i.id),
  );
  return [...crisis, ...sampled];
}
