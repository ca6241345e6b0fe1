import { DEV_SPLIT_SEED, devSplitOf, inSplit } from './split';

describe('dev-set split', () => {
  it('is fixed by seed, set and group, and close to half and half', () => {
    expect(DEV_SPLIT_SEED).toBe('pixel-dev-split-v1');
    const parts = Array.from({ length: 2000 }, (_, i) => devSplitOf('cssrs', `user-${i}`));
    expect(parts).toEqual(Array.from({ length: 2000 }, (_, i) => devSplitOf('cssrs', `user-${i}`)));
    const tuning = parts.filter((p) => p === 'tuning').length;
    expect(tuning).toBeGreaterThan(900);
    expect(tuning).toBeLessThan(1100);
  });

  it('splits each data set on its own', () => {
    const a = Array.from({ length: 200 }, (_, i) => devSplitOf('cssrs', String(i)));
    const b = Array.from({ length: 200 }, (_, i) => devSplitOf('presidio', String(i)));
    expect(a).not.toEqual(b);
  });

  it('keeps everything without a split and one part with one', () => {
    expect(inSplit('presidio', '7', undefined)).toBe(true);
    expect(inSplit('presidio', '7', devSplitOf('presidio', '7'))).toBe(true);
    expect(inSplit('presidio', '7', devSplitOf('presidio', '7') === 'tuning' ? 'report' : 'tuning')).toBe(false);
  });
});
