import { expectLinear, growth } from './linear-time';

describe('growth', () => {
  // A quadratic scan: for each position, look back over everything before it.
  const quadratic = (text: string): number => {
    let pairs = 0;
    for (let i = 0; i < text.length; i++) for (let j = 0; j < i; j++) if (text.charCodeAt(i) === text.charCodeAt(j)) pairs++;
    return pairs;
  };
  const linear = (text: string): number => {
    let count = 0;
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 97) count++;
    return count;
  };

  it('tells quadratic code from linear code', () => {
    const quad = growth(quadratic, (n) => 'a'.repeat(n), 3_000);
    expect(quad.ratio).toBeGreaterThan(9);
    expectLinear(linear, (n) => 'a'.repeat(n), 2_000_000);
  });
});
