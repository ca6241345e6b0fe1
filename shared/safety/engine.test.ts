import { DetectionEngine, DetectorRegistry, resolveOverlaps } from './engine';
import { matchSpans, prf } from './evaluate';
import { PatternDetector, parsePatternDetectors } from './pattern-detector';
import type { Finding } from './types';
import { createPiiEngine } from './pii';
import { Rng } from '../util/rng';
import { expectLinear } from '../../test/linear-time';

const f = (category: string, start: number, end: number, score: number, detector = 'D'): Finding => ({
  category,
  start,
  end,
  score,
  detector,
  explanation: '',
});

describe('resolveOverlaps', () => {
  it.each([
    ['keeps disjoint findings', [f('A', 0, 2, 0.6), f('B', 3, 5, 0.6)], ['A', 'B']],
    ['keeps the higher score of two overlapping', [f('A', 0, 5, 0.6), f('B', 3, 8, 0.9)], ['B']],
    ['breaks a score tie by length', [f('A', 0, 3, 0.8), f('B', 0, 8, 0.8)], ['B']],
    ['lets touching spans both stand (near miss)', [f('A', 0, 3, 0.8), f('B', 3, 6, 0.9)], ['A', 'B']],
  ])('%s', (_name, input, expected) => {
    expect(resolveOverlaps(input).kept.map((k) => k.category)).toEqual(expected);
  });

  it('agrees with searching every kept finding, winners included, on random spans', () => {
    const rng = new Rng(11);
    const brute = (findings: Finding[]) => {
      const ranked = [...findings].sort((a, b) => b.score - a.score || b.end - b.start - (a.end - a.start) || a.start - b.start);
      const kept: Finding[] = [];
      const lost: { finding: Finding; to: Finding }[] = [];
      for (const x of ranked) {
        const winner = kept.find((k) => x.start < k.end && k.start < x.end);
        if (winner) lost.push({ finding: x, to: winner });
        else kept.push(x);
      }
      return { kept: kept.sort((a, b) => a.start - b.start), lost };
    };
    for (let round = 0; round < 50; round++) {
      const findings = Array.from({ length: 40 }, (_, i) => {
        const start = rng.int(200);
        return f(`C${i}`, start, start + 1 + rng.int(30), Math.round(rng.next() * 4) / 4);
      });
      expect(resolveOverlaps(findings)).toEqual(brute(findings));
    }
    // An empty span takes the plain path and is judged the same way.
    const withEmpty = [f('A', 0, 5, 0.9), f('B', 2, 2, 0.8), f('C', 5, 5, 0.8)];
    expect(resolveOverlaps(withEmpty)).toEqual(brute(withEmpty));
  });

  it('is linear in the number of findings (a text of nothing but e-mail addresses)', () => {
    const engine = createPiiEngine();
    expectLinear(
      (text) => engine.detect(text),
      (n) => 'a@b.co '.repeat(Math.ceil(n / 7)),
      50_000,
    );
  });
});

describe('DetectionEngine', () => {
  const detector = new PatternDetector({
    name: 'CodeDetector',
    categories: ['CODE'],
    patterns: [{ name: 'code', regex: 'X-\\d{3}', score: 0.4 }],
    context: [{ words: ['code'], adjust: 0.3 }],
  });
  const engine = new DetectionEngine(new DetectorRegistry().register(detector), { threshold: 0.5 });

  it('applies the threshold once and explains what it dropped', () => {
    const text = `X-123 ${'and so on '.repeat(6)}the code X-456`;
    const result = engine.analyze(text);
    expect(result.findings.map((x) => [x.start, x.score])).toEqual([[text.indexOf('X-456'), 0.7]]);
    expect(result.discarded[0]?.reason).toMatch(/below threshold 0.5/);
  });

  it('refuses a registry with two detectors of one name', () => {
    expect(() => new DetectorRegistry().register(detector).register(detector)).toThrow(/registered twice/);
  });

  it('selects detectors by category', () => {
    const registry = new DetectorRegistry().register(detector);
    expect(registry.select(['CODE'])).toHaveLength(1);
    expect(registry.select(['EMAIL'])).toHaveLength(0);
  });
});

describe('detector definitions from data', () => {
  it.each([
    ['not YAML', '- name: [', /not valid YAML/],
    [
      'a bad name',
      '- {name: codes, categories: [CODE], patterns: [{name: p, regex: "x", score: 0.5}]}',
      /0\.name: detector names look like EmailDetector/,
    ],
    ['a score above 1', '- {name: CodeDetector, categories: [CODE], patterns: [{name: p, regex: "x", score: 2}]}', /0\.patterns\.0\.score/],
    [
      'an unknown validator',
      '- {name: CodeDetector, categories: [CODE], patterns: [{name: p, regex: "x", score: 0.5}], validator: crc}',
      /0\.validator/,
    ],
    [
      'a broken regex',
      '- {name: CodeDetector, categories: [CODE], patterns: [{name: p, regex: "(", score: 0.5}]}',
      /pattern p is not a valid regular expression/,
    ],
    ['an unknown field', '- {name: CodeDetector, categories: [CODE], patterns: [{name: p, regex: "x", score: 0.5}], colour: red}', /colour/],
  ])('rejects %s with a message naming it', (_name, text, message) => {
    expect(() => parsePatternDetectors(text, 'custom.yaml')).toThrow(message);
  });

  it('builds a working detector from a valid definition', () => {
    const [d] = parsePatternDetectors(
      '- {name: CodeDetector, categories: [CODE], patterns: [{name: p, regex: "X-\\\\d+", score: 0.9}]}',
      'custom.yaml',
    );
    expect(d?.detect('see X-12').map((x) => x.start)).toEqual([4]);
  });
});

describe('span evaluation', () => {
  it('counts matches by type with IoU >= 0.5, each gold span once (IoU 10/21 just misses)', () => {
    const counts = matchSpans(
      [
        { type: 'A', start: 0, end: 10 },
        { type: 'B', start: 20, end: 30 },
      ],
      [
        { type: 'A', start: 0, end: 9 },
        { type: 'A', start: 1, end: 10 },
        { type: 'B', start: 20, end: 41 },
        { type: 'C', start: 50, end: 55 },
      ],
    );
    expect(Object.fromEntries(counts)).toEqual({ A: { tp: 1, fp: 1, fn: 0 }, B: { tp: 0, fp: 1, fn: 1 }, C: { tp: 0, fp: 1, fn: 0 } });
  });

  it('computes precision, recall and F1', () => {
    expect(prf(8, 2, 2)).toMatchObject({ precision: 0.8, recall: 0.8, f1: 0.8 });
    expect(prf(0, 0, 0)).toMatchObject({ precision: 1, recall: 1, f1: 1 });
  });
});
