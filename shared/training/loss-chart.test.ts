import { lossChartSvg } from './loss-chart';

describe('lossChartSvg', () => {
  it('draws both curves within the frame, labels the ranges, and escapes the title', () => {
    const losses = Array.from({ length: 20 }, (_, i) => ({ step: i + 1, loss: 3 - i * 0.1 }));
    const svg = lossChartSvg(
      losses,
      [
        { step: 0, loss: 3.2 },
        { step: 10, loss: 2.4 },
        { step: 20, loss: 1.9 },
      ],
      'loss <run & 1>',
    );
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('loss &lt;run &amp; 1&gt;');
    const points = (cls: string) => (new RegExp(`class="${cls}"[^>]*points="([^"]*)"`).exec(svg)?.[1] ?? '').split(' ').filter(Boolean);
    expect(points('train')).toHaveLength(20);
    expect(points('val')).toHaveLength(3);
    for (const p of [...points('train'), ...points('val')]) {
      const [x, y] = p.split(',').map(Number) as [number, number];
      expect(x).toBeGreaterThanOrEqual(56);
      expect(x).toBeLessThanOrEqual(624);
      expect(y).toBeGreaterThanOrEqual(36);
      expect(y).toBeLessThanOrEqual(320);
    }
    expect(svg).toContain('step 0');
    expect(svg).toContain('step 20');
    expect(svg).toContain('3.200');
  });

  it('skips non-finite points and draws an empty chart without data', () => {
    expect(
      lossChartSvg(
        [
          { step: 1, loss: NaN },
          { step: 2, loss: 1 },
        ],
        [],
      ),
    ).toMatch(/class="train"[^>]*points="[\d.]+,[\d.]+"/);
    expect(lossChartSvg([], [])).toContain('</svg>');
  });
});
