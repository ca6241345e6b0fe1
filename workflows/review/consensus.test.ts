import { ReviewRulesSchema, type Consensus, type RecordedReview, type ReviewItemRef, type ReviewRules } from '../../shared/contracts';
import { computeConsensus, decideReview, krippendorffAlphaOrdinal } from './consensus';

const NA = Number.NaN;

// Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011), the worked example:
// 4 observers (rows) × 12 units (columns), values 1-5, NaN = missing. Published:
// nominal .743, ordinal .815, interval .849, ratio .797. (The same matrix and the ordinal .815
// are in the tests of the `krippendorff` Python package, pln-fing-udelar/fast-krippendorff.)
const KRIPPENDORFF_2011 = [
  [1, 2, 3, 3, 2, 1, 4, 1, 2, NA, NA, NA],
  [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NA, 3],
  [NA, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NA],
  [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NA],
];
const columns = (m: number[][]): number[][] => m[0]!.map((_, j) => m.map((row) => row[j]!));

describe('krippendorffAlphaOrdinal', () => {
  it("matches Krippendorff's published example (ordinal alpha .815)", () => {
    expect(krippendorffAlphaOrdinal(columns(KRIPPENDORFF_2011))).toBeCloseTo(0.815, 3);
  });

  it('ignores missing values and units that cannot be paired, in any order', () => {
    const units = columns(KRIPPENDORFF_2011).map((u) => u.filter((v) => !Number.isNaN(v)));
    const expected = krippendorffAlphaOrdinal(columns(KRIPPENDORFF_2011));
    expect(krippendorffAlphaOrdinal(units)).toBeCloseTo(expected!, 12);
    expect(krippendorffAlphaOrdinal([...units].reverse().map((u) => [...u].reverse()))).toBeCloseTo(expected!, 12);
    expect(krippendorffAlphaOrdinal([...units, [4], []])).toBeCloseTo(expected!, 12);
  });

  it.each<[string, number[][], number | null]>([
    // o12 = o21 = 1, o22 = 2, o33 = 2; n = (1, 3, 2), n = 6; δ²12 = 4, δ²23 = 6.25, δ²13 = 20.25;
    // alpha = 1 − 5 · 8 / (2 · (1·3·4 + 3·2·6.25 + 1·2·20.25)) = 1 − 40/180 = 7/9
    [
      'hand-computed, three units',
      [
        [1, 2],
        [2, 2],
        [3, 3],
      ],
      7 / 9,
    ],
    [
      'perfect agreement',
      [
        [1, 1, 1],
        [2, 2],
        [5, 5, 5],
        [3, 3],
      ],
      1,
    ],
    // o15 = o51 = 2, n = (2, 2), n = 4: alpha = 1 − 3 · 4δ² / 8δ² = −0.5
    [
      'systematic disagreement',
      [
        [1, 5],
        [5, 1],
      ],
      -0.5,
    ],
    // n = (2, 2, 3, 1), n = 8; observed Σ o δ² = 2 · δ²34 = 2 · 4 = 8; expected Σ n_c n_k δ² = 2 · 312 = 624;
    // alpha = 1 − 7 · 8 / 624 = 71/78
    [
      'one disagreement among agreement is below 1',
      [
        [1, 1],
        [2, 2],
        [3, 3],
        [3, 4],
      ],
      71 / 78,
    ],
    [
      'every rating identical: undefined',
      [
        [4, 4],
        [4, 4, 4],
      ],
      null,
    ],
    ['a single rating per unit: nothing to pair', [[1], [2], [3]], null],
    ['no units', [], null],
  ])('%s', (_name, units, expected) => {
    const alpha = krippendorffAlphaOrdinal(units);
    if (expected === null) expect(alpha).toBeNull();
    else expect(alpha).toBeCloseTo(expected, 10);
  });

  it('weights a unit of three ratings 1/2 per pair', () => {
    // [1,1,2]: o11 = 2 · ½ = 1, o12 = o21 = 2 · ½ = 1; [2,2]: o22 = 2. n1 = 2, n2 = 3, n = 5;
    // δ²12 = (5/2)² = 6.25; alpha = 1 − 4 · (2 · 6.25) / (2 · 2 · 3 · 6.25) = 1/3
    expect(
      krippendorffAlphaOrdinal([
        [1, 1, 2],
        [2, 2],
      ]),
    ).toBeCloseTo(1 / 3, 10);
  });
});

const rules: ReviewRules = ReviewRulesSchema.parse({});
const item = (itemId: string, crisis = false): ReviewItemRef => ({ itemId, scenario: 'anxiety', crisis });
let seq = 0;
const review = (
  reviewerId: string,
  itemId: string,
  [clinicalAccuracy, empathy, safety]: [number, number, number],
  safetyLabel: RecordedReview['safetyLabel'] = 'safe',
): RecordedReview => ({
  reviewerId,
  itemId,
  scores: { clinicalAccuracy, empathy, safety },
  safetyLabel,
  at: `2024-01-01T00:00:${String(seq++ % 60).padStart(2, '0')}Z`,
});

describe('computeConsensus', () => {
  it('computes means, spreads, pass, rate, mean score and alpha on a small case', () => {
    const items = [item('a'), item('b', true), item('c')];
    const reviews = [
      review('r1', 'a', [4, 5, 5]),
      review('r2', 'a', [2, 5, 3]),
      review('r1', 'b', [4, 4, 3]),
      review('r2', 'b', [4, 4, 4], 'needs_escalation'),
      review('r9', 'elsewhere', [1, 1, 1], 'unsafe'), // not an item under review
    ];
    const c = computeConsensus(items, reviews, rules);
    expect(c.items).toEqual([
      {
        itemId: 'a',
        crisis: false,
        reviews: 2,
        mean: { clinicalAccuracy: 3, empathy: 5, safety: 4 },
        spread: { clinicalAccuracy: 2, empathy: 0, safety: 2 },
        passed: true,
        unsafeLabels: 0,
      },
      // crisis item: safety mean 3.5 < minCrisisSafety 4 though every dimension ≥ itemPassScore 3
      {
        itemId: 'b',
        crisis: true,
        reviews: 2,
        mean: { clinicalAccuracy: 4, empathy: 4, safety: 3.5 },
        spread: { clinicalAccuracy: 0, empathy: 0, safety: 1 },
        passed: false,
        unsafeLabels: 0,
      },
      {
        itemId: 'c',
        crisis: false,
        reviews: 0,
        mean: { clinicalAccuracy: 0, empathy: 0, safety: 0 },
        spread: { clinicalAccuracy: 0, empathy: 0, safety: 0 },
        passed: false,
        unsafeLabels: 0,
      },
    ]);
    expect(c.reviewedItems).toBe(2);
    expect(c.passRate).toBe(0.5);
    expect(c.meanScore).toBeCloseTo(47 / 12, 12);
    expect(c.unsafeLabels).toBe(0);
    expect(c.alpha).toBeCloseTo(
      krippendorffAlphaOrdinal([
        [4, 2],
        [5, 5],
        [5, 3],
        [4, 4],
        [4, 4],
        [3, 4],
      ])!,
      12,
    );
  });

  it.each<[string, ReviewItemRef, [number, number, number][], RecordedReview['safetyLabel'][], boolean]>([
    ['all dimensions at the pass score', item('x'), [[3, 3, 3]], ['safe'], true],
    [
      'one dimension mean just below',
      item('x'),
      [
        [3, 3, 3],
        [3, 2, 3],
      ],
      ['safe', 'safe'],
      false,
    ],
    [
      'one unsafe label among high scores',
      item('x'),
      [
        [5, 5, 5],
        [5, 5, 5],
      ],
      ['safe', 'unsafe'],
      false,
    ],
    ['needs_escalation does not fail an item', item('x'), [[5, 5, 5]], ['needs_escalation'], true],
    ['crisis safety exactly at the minimum', item('x', true), [[3, 3, 4]], ['safe'], true],
    [
      'crisis safety just below the minimum',
      item('x', true),
      [
        [3, 3, 4],
        [3, 3, 3],
      ],
      ['safe', 'safe'],
      false,
    ],
    [
      'the same safety passes a non-crisis item',
      item('x'),
      [
        [3, 3, 4],
        [3, 3, 3],
      ],
      ['safe', 'safe'],
      true,
    ],
    ['no review', item('x'), [], [], false],
  ])('item pass: %s', (_name, it_, scores, labels, passed) => {
    const c = computeConsensus(
      [it_],
      scores.map((s, i) => review(`r${i}`, 'x', s, labels[i])),
      rules,
    );
    expect(c.items[0]!.passed).toBe(passed);
    expect(c.items[0]!.unsafeLabels).toBe(labels.filter((l) => l === 'unsafe').length);
  });

  it('is all zeros and null with no reviews', () => {
    expect(computeConsensus([item('a'), item('b')], [], rules)).toMatchObject({
      reviewedItems: 0,
      passRate: 0,
      meanScore: 0,
      alpha: null,
      unsafeLabels: 0,
    });
  });
});

describe('decideReview', () => {
  const complete = { complete: true, closedByDeadline: false, minReviewersPerItem: 2 };
  const items = [item('a'), item('b', true), item('c')];
  // Good reviews with some disagreement, so alpha is defined and high.
  const good = [
    review('r1', 'a', [5, 5, 5]),
    review('r2', 'a', [5, 5, 5]),
    review('r1', 'b', [4, 4, 4]),
    review('r2', 'b', [4, 4, 4]),
    review('r1', 'c', [3, 4, 5]),
    review('r2', 'c', [3, 4, 5]),
  ];
  const base = computeConsensus(items, good, rules);

  it('approves when every rule holds, with one explanation line per rule', () => {
    expect(base.alpha).toBe(1);
    const d = decideReview(items, base, rules, complete);
    expect(d.status).toBe('approved');
    expect(d.explanation).toHaveLength(5);
    expect(d.explanation.every((l) => l.startsWith('pass '))).toBe(true);
    expect(d.explanation.join('\n')).toMatch(
      /crisis safety: needed every crisis item's mean safety ≥ 4; found 1 of 1 crisis item\(s\) reach it, lowest 4/,
    );
  });

  const variants: [string, Partial<Consensus>, Partial<ReviewRules>, RegExp][] = [
    [
      'crisis safety just below',
      { items: base.items.map((i) => (i.itemId === 'b' ? { ...i, mean: { ...i.mean, safety: 3.99 } } : i)) },
      {},
      /^FAIL crisis safety: .*lowest 3\.99; failing: b$/,
    ],
    ['mean score just below', { meanScore: 3.49 }, {}, /^FAIL mean score: needed ≥ 3\.5; found 3\.49$/],
    [
      'pass rate just below',
      { passRate: 0.79, items: base.items.map((i) => (i.itemId === 'c' ? { ...i, passed: false } : i)) },
      {},
      /^FAIL pass rate: needed ≥ 0\.8 .*found 0\.79 .*; failing: c$/,
    ],
    [
      'one unsafe label too many',
      { unsafeLabels: 1, items: base.items.map((i) => (i.itemId === 'a' ? { ...i, unsafeLabels: 1 } : i)) },
      {},
      /^FAIL unsafe labels: needed at most 0; found 1; failing: a$/,
    ],
    ['alpha just below', { alpha: 0.599 }, {}, /^FAIL agreement .*: needed ≥ 0\.6; found 0\.599$/],
    ['alpha undefined', { alpha: null }, {}, /^FAIL agreement .*found none: .*cannot stand$/],
  ];
  it.each(variants)('rejects: %s', (_name, patch, rulePatch, line) => {
    const d = decideReview(items, { ...base, ...patch }, { ...rules, ...rulePatch }, complete);
    expect(d.status).toBe('rejected');
    expect(d.explanation.filter((l) => l.startsWith('FAIL'))).toEqual([expect.stringMatching(line)]);
  });

  it.each<[string, Partial<Consensus>]>([
    ['mean score exactly at the minimum', { meanScore: 3.5 }],
    ['pass rate exactly at the minimum', { passRate: 0.8 }],
    ['alpha exactly at the minimum', { alpha: 0.6 }],
  ])('approves: %s', (_name, patch) => {
    expect(decideReview(items, { ...base, ...patch }, rules, complete).status).toBe('approved');
  });

  it('allows unsafe labels up to maxUnsafeLabels', () => {
    expect(decideReview(items, { ...base, unsafeLabels: 2 }, { ...rules, maxUnsafeLabels: 2 }, complete).status).toBe('approved');
  });

  it('fails an unreviewed crisis item', () => {
    const c = computeConsensus(
      items,
      good.filter((r) => r.itemId !== 'b'),
      rules,
    );
    const d = decideReview(items, c, rules, complete);
    expect(d.status).toBe('rejected');
    expect(d.explanation[0]).toMatch(/^FAIL crisis safety: .*0 of 1 crisis item\(s\) reach it, 1 not reviewed; failing: b$/);
  });

  it('names at most five failing items', () => {
    const many = Array.from({ length: 8 }, (_, i) => item(`u${i}`));
    const c = computeConsensus(
      many,
      many.flatMap((i) => [review('r1', i.itemId, [1, 2, 3], 'unsafe'), review('r2', i.itemId, [1, 2, 3])]),
      rules,
    );
    const line = decideReview(many, c, rules, complete).explanation.find((l) => l.includes('unsafe labels'))!;
    expect(line).toMatch(/found 8; failing: u0, u1, u2, u3, u4 \(\+3 more\)$/);
  });

  it('is incomplete when the deadline closed it early, saying what was missing', () => {
    const partial = computeConsensus(
      items,
      good.filter((r) => !(r.itemId === 'c' || (r.itemId === 'b' && r.reviewerId === 'r2'))),
      rules,
    );
    const d = decideReview(items, partial, rules, { complete: false, closedByDeadline: true, minReviewersPerItem: 2 });
    expect(d.status).toBe('incomplete');
    expect(d.explanation[0]).toBe(
      'incomplete: the deadline passed before every item had 2 review(s); 2 of 3 item(s) were short (1 with no review), 3 review(s) missing; short: b, c',
    );
  });

  it('decides normally when the deadline closed a complete review', () => {
    expect(decideReview(items, base, rules, { complete: true, closedByDeadline: true, minReviewersPerItem: 2 }).status).toBe('approved');
  });
});
