import { SplitConfigSchema } from '../contracts';
import { assignSplit, hash53, splitPosition } from './splitter';

const config = SplitConfigSchema.parse({});

describe('assignSplit', () => {
  it('is deterministic for a key and salt', () => {
    for (const key of ['a', 'conv-1', 'counsel-chat:q12', '日本語']) {
      expect(assignSplit(key, config)).toBe(assignSplit(key, config));
    }
  });

  it('depends on the salt', () => {
    const other = SplitConfigSchema.parse({ salt: 'another-salt' });
    const ids = Array.from({ length: 1000 }, (_, i) => `id-${i}`);
    const moved = ids.filter((id) => assignSplit(id, config) !== assignSplit(id, other)).length;
    expect(moved).toBeGreaterThan(200);
  });

  it.each([
    [{ train: 0.7, val: 0.15, test: 0.15 }],
    [{ train: 0.8, val: 0.1, test: 0.1 }],
    [{ train: 0.5, val: 0.25, test: 0.25 }],
    [{ train: 0.9, val: 0.1, test: 0 }],
  ])('matches ratios %j within 1 percentage point on 100k ids', (ratios) => {
    const cfg = SplitConfigSchema.parse({ ratios });
    const counts = { train: 0, val: 0, test: 0 };
    const n = 100_000;
    for (let i = 0; i < n; i++) counts[assignSplit(`conversation-${i}`, cfg)] += 1;
    expect(Math.abs(counts.train / n - ratios.train)).toBeLessThan(0.01);
    expect(Math.abs(counts.val / n - ratios.val)).toBeLessThan(0.01);
    expect(Math.abs(counts.test / n - ratios.test)).toBeLessThan(0.01);
    if (ratios.test === 0) expect(counts.test).toBe(0);
  });

  // Stability when a file grows is tested end to end in prepare.test.ts.

  it('places positions in [0, 1)', () => {
    for (let i = 0; i < 10_000; i++) {
      const x = splitPosition(`k${i}`, 's');
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
  });

  it('hash53 separates near-identical keys', () => {
    expect(hash53('conv-1')).not.toBe(hash53('conv-2'));
    expect(hash53('ab')).not.toBe(hash53('ba'));
    expect(hash53('')).toBe(hash53(''));
  });
});

describe('split config validation', () => {
  it.each([
    [{ ratios: { train: 0.7, val: 0.2, test: 0.2 } }, 'ratios must sum to 1'],
    [{ ratios: { train: 1.2, val: 0, test: 0 } }, 'ratios.train'],
    [{ ratios: { train: 0, val: 0.5, test: 0.5 } }, 'train ratio must be above 0'],
    [{ ratios: { train: -0.1, val: 0.6, test: 0.5 } }, 'ratios.train'],
    [{ salt: '' }, 'salt'],
    [{ ratio: {} }, 'ratio'],
  ])('rejects %j naming the problem', (input, expected) => {
    const r = SplitConfigSchema.safeParse(input);
    expect(r.success).toBe(false);
    if (!r.success) expect(JSON.stringify(r.error.issues)).toContain(expected.split('.').pop() as string);
  });

  it('accepts ratios that sum to 1 despite floating point', () => {
    expect(SplitConfigSchema.safeParse({ ratios: { train: 0.7, val: 0.2, test: 0.1 } }).success).toBe(true);
  });
});
