import type { ValidationItem } from '../contracts';
import { selectReviewItems } from './review-sample';

const items = (scenario: ValidationItem['scenario'], n: number): ValidationItem[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `${scenario}-${i}#1`,
    scenario,
    messages: [{ role: 'user', content: 'x' }],
    crisis: { severity: scenario === 'crisis' ? 'HIGH' : 'NONE', types: [], protocol: 'none' },
    source: { recordId: `${scenario}-${i}`, topic: scenario, turn: 1 },
  }));

describe('selectReviewItems', () => {
  const set = [...items('crisis', 12), ...items('anxiety', 100), ...items('grief', 10), ...items('trauma', 50), ...items('depression', 2)];

  it('takes every crisis item and a sample stratified by scenario', () => {
    const picked = selectReviewItems(set, 40, 1);
    expect(picked.filter((id) => id.startsWith('crisis'))).toHaveLength(12);
    expect(picked).toHaveLength(52);
    const count = (p: string) => picked.filter((id) => id.startsWith(p)).length;
    // 40 of 162 non-crisis: anxiety ~24.7, trauma ~12.3, grief ~2.5, depression ~0.5 (at least 1).
    expect(count('anxiety')).toBeGreaterThanOrEqual(23);
    expect(count('trauma')).toBeGreaterThanOrEqual(11);
    expect(count('grief')).toBeGreaterThanOrEqual(2);
    expect(count('depression')).toBe(1);
    expect(new Set(picked).size).toBe(picked.length);
  });

  it('is fixed by the seed and the ids, not the order of the set', () => {
    expect(selectReviewItems([...set].reverse(), 40, 1).sort()).toEqual(selectReviewItems(set, 40, 1).sort());
    expect(selectReviewItems(set, 40, 2).sort()).not.toEqual(selectReviewItems(set, 40, 1).sort());
  });

  it('handles a sample larger than the set, and a zero sample (crisis only)', () => {
    expect(selectReviewItems(set, 1000, 1)).toHaveLength(set.length);
    expect(selectReviewItems(set, 0, 1)).toHaveLength(12);
  });
});
