import { bootstrapMean, bootstrapPairedDelta, bootstrapRatio, groupBy } from './aggregate';
import { languageModelling, lossDelta } from './language-modelling';

describe('bootstrap estimates', () => {
  it('gives the mean and an interval around it that narrows with more items, the same for the same seed', () => {
    const small = Array.from({ length: 20 }, (_, i) => i % 2);
    const large = Array.from({ length: 2000 }, (_, i) => i % 2);
    const a = bootstrapMean(small, 1000, 1);
    const b = bootstrapMean(large, 1000, 1);
    expect(a.mean).toBe(0.5);
    expect(a.low).toBeLessThan(0.5);
    expect(a.high).toBeGreaterThan(0.5);
    expect(b.high - b.low).toBeLessThan((a.high - a.low) / 5);
    expect(bootstrapMean(small, 1000, 1)).toEqual(a);
  });

  it('is exact for constant data and NaN for none', () => {
    const c = bootstrapMean([0.7, 0.7, 0.7], 200, 3);
    for (const x of [c.mean, c.low, c.high]) expect(x).toBeCloseTo(0.7, 12);
    expect(Number.isNaN(bootstrapMean([], 200, 3).mean)).toBe(true);
  });

  it('weights a ratio by its denominators', () => {
    expect(bootstrapRatio([10, 1], [10, 1], 100, 1).mean).toBe(1);
    expect(bootstrapRatio([10, 0], [5, 5], 100, 1).mean).toBe(1);
  });

  it('pairs differences item by item, so a shared per-item offset cancels', () => {
    const base = Array.from({ length: 50 }, (_, i) => (i % 5) * 0.2);
    const better = base.map((x) => x + 0.05);
    const d = bootstrapPairedDelta(better, base, 500, 2);
    expect(d.mean).toBeCloseTo(0.05, 10);
    expect(d.high - d.low).toBeLessThan(1e-9);
    expect(() => bootstrapPairedDelta([1], [1, 2], 10, 1)).toThrow(/paired/);
  });

  it('groups keeping first-seen key order', () => {
    expect([...groupBy(['b1', 'a1', 'b2'], (s) => s[0] as string).entries()]).toEqual([
      ['b', ['b1', 'b2']],
      ['a', ['a1']],
    ]);
  });
});

describe('language modelling', () => {
  it('is the token-weighted loss and its perplexity', () => {
    const lm = languageModelling(
      [
        { recordId: 'a', nll: 20, tokens: 10 },
        { recordId: 'b', nll: 10, tokens: 10 },
      ],
      200,
      1,
    );
    expect(lm.loss.mean).toBeCloseTo(1.5, 12);
    expect(lm.perplexity.mean).toBeCloseTo(Math.exp(1.5), 12);
    expect(lm).toMatchObject({ tokens: 20, conversations: 2 });
  });

  it('compares on the conversations both models scored with the same tokens', () => {
    const base = [
      { recordId: 'a', nll: 30, tokens: 10 },
      { recordId: 'b', nll: 30, tokens: 10 },
      { recordId: 'c', nll: 5, tokens: 5 },
    ];
    const cand = [
      { recordId: 'a', nll: 20, tokens: 10 },
      { recordId: 'b', nll: 25, tokens: 10 },
      { recordId: 'd', nll: 1, tokens: 1 },
    ];
    const d = lossDelta(cand, base, 200, 1);
    expect(d.n).toBe(2);
    expect(d.mean).toBeCloseTo(-0.75, 12);
    expect(d.high).toBeLessThan(0);
  });
});
