import { Rng } from '../../util/rng';
import { sampleToken, tokenNll, topIndices } from './sampler';

const settings = (over: Partial<Parameters<typeof sampleToken>[2]> = {}) => ({ temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, ...over });

describe('sampleToken', () => {
  const logits = Float32Array.from([1, 5, 3, 5, -2]);

  it('decodes greedily at temperature 0, ties to the lower id', () => {
    expect(sampleToken(logits, [], settings({ temperature: 0 }), new Rng(1))).toBe(1);
  });

  it('penalises tokens already generated (positive logits divided, negative multiplied)', () => {
    expect(sampleToken(logits, [1, 3], settings({ temperature: 0, repetitionPenalty: 2 }), new Rng(1))).toBe(2);
    // 5 / 1.1 still beats 3: a near miss that must not flip.
    expect(sampleToken(logits, [1], settings({ temperature: 0, repetitionPenalty: 1.1 }), new Rng(1))).toBe(3);
  });

  it('with top-k 1 or a tiny top-p always takes the best token', () => {
    for (let seed = 0; seed < 50; seed++) {
      expect(sampleToken(logits, [], settings({ topK: 1 }), new Rng(seed))).toBe(1);
      expect(sampleToken(logits, [], settings({ topP: 0.01 }), new Rng(seed))).toBe(1);
    }
  });

  it('draws only from the top-k, in proportion to exp(logit / temperature), the same for the same seed', () => {
    const counts = new Map<number, number>();
    const rng = new Rng(42);
    for (let i = 0; i < 4000; i++) {
      const t = sampleToken(logits, [], settings({ topK: 3 }), rng);
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual([1, 2, 3]);
    // p(2) = e^3 / (2 e^5 + e^3) ≈ 0.0634
    expect((counts.get(2) ?? 0) / 4000).toBeGreaterThan(0.045);
    expect((counts.get(2) ?? 0) / 4000).toBeLessThan(0.085);
    const draw = (seed: number) =>
      Array.from(
        { length: 20 },
        (
          (r) => () =>
            sampleToken(logits, [], settings(), r)
        )(new Rng(seed)),
      );
    expect(draw(5)).toEqual(draw(5));
    expect(draw(5)).not.toEqual(draw(6));
  });
});

describe('topIndices', () => {
  it('matches a full sort (score descending, index ascending)', () => {
    const rng = new Rng(3);
    const scores = Float64Array.from({ length: 500 }, () => Math.round(rng.next() * 50));
    const sorted = Array.from({ length: 500 }, (_, i) => i).sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b);
    for (const k of [1, 7, 50, 500]) expect(topIndices(scores, k)).toEqual(sorted.slice(0, k));
  });

  it('finds a few of many exactly, with ties, a flat tail and the best at the ends', () => {
    const rng = new Rng(4);
    const cases = [
      Float32Array.from({ length: 49_152 }, () => rng.next() * 20 - 10),
      Float32Array.from({ length: 20_000 }, () => Math.round(rng.next() * 30)),
      Float32Array.from({ length: 20_000 }, (_, i) => (i % 997 === 0 ? 5 : -100)),
      Float32Array.from({ length: 20_000 }, (_, i) => (i === 0 || i === 19_999 ? 9 : rng.next())),
    ];
    for (const scores of cases) {
      const sorted = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b);
      for (const k of [1, 2, 32, 128, 1000]) expect(topIndices(scores, k)).toEqual(sorted.slice(0, k));
    }
  });
});

describe('tokenNll', () => {
  it('is -log softmax(target), stable for large logits', () => {
    const row = Float32Array.from([0, Math.log(3)]);
    expect(tokenNll(row, 0, 2, 1)).toBeCloseTo(-Math.log(3 / 4), 6);
    expect(tokenNll(Float32Array.from([1000, 1000]), 0, 2, 0)).toBeCloseTo(Math.log(2), 6);
  });
});
