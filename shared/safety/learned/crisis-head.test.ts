import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  crisisFeatures,
  expectedCalibrationError,
  loadCrisisHead,
  predict,
  RULE_LEVELS,
  thresholdForRecall,
  trainLogistic,
  type CrisisHeadFile,
} from './crisis-head';
import { loadDefaultCrisisHead, scoreCrisisRisk } from './models';

describe('crisis head', () => {
  it('lays out mean, max, the rule level and the message count', () => {
    const x = crisisFeatures([Float32Array.from([1, -1]), Float32Array.from([3, -3])], 2, 2);
    expect([...x.slice(0, 4)]).toEqual([2, -2, 3, -1]);
    expect([...x.slice(4, 4 + RULE_LEVELS)]).toEqual([0, 0, 1, 0, 0]);
    expect(x[4 + RULE_LEVELS]).toBeCloseTo(Math.log(3) / 3);
    expect([...crisisFeatures([], 0, 2).slice(0, 4)]).toEqual([0, 0, 0, 0]);
  });

  it('learns a separable problem, the same way every time', () => {
    const xs = Array.from({ length: 80 }, (_, i) => Float64Array.from([i % 2 === 0 ? 1 : -1, ((i * 37) % 11) / 11 - 0.5]));
    const ys = xs.map((x) => (x[0]! > 0 ? 1 : 0));
    const head = trainLogistic(xs, ys, { l2: 0.001 });
    expect(xs.every((x, i) => predict(head, x) >= 0.5 === (ys[i] === 1))).toBe(true);
    expect(trainLogistic(xs, ys, { l2: 0.001 })).toEqual(head);
    expect(() => trainLogistic(xs, ys.slice(1))).toThrow(/as many labels/);
  });

  it('picks the highest threshold that reaches the recall', () => {
    expect(thresholdForRecall([0.9, 0.8, 0.3, 0.2], [1, 1, 1, 0], 0.6)).toBe(0.8);
    expect(thresholdForRecall([0.9, 0.8, 0.3, 0.2], [1, 1, 1, 0], 1)).toBe(0.3);
  });

  it('measures calibration', () => {
    expect(expectedCalibrationError([0.05, 0.95], [0, 1])).toBeCloseTo(0.05);
    expect(expectedCalibrationError([0.95, 0.95], [0, 0])).toBeCloseTo(0.95);
  });

  describe('loading', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'pixel-head-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));
    const file = (weights: number): CrisisHeadFile => ({
      format: 'pixel-crisis-head/1',
      encoder: { name: 'test', onnxSha256: 'a'.repeat(64), dim: 2 },
      heads: {
        anyRisk: { weights: new Array(weights).fill(0), bias: 0, threshold: 0.4 },
        urgent: { weights: new Array(weights).fill(0), bias: 0, threshold: 0.3 },
      },
      training: {},
      metrics: {},
    });
    const write = (head: CrisisHeadFile): { at: string; sha: string } => {
      const text = JSON.stringify(head);
      const at = path.join(dir, 'head.json');
      writeFileSync(at, text);
      return { at, sha: createHash('sha256').update(text).digest('hex') };
    };

    it('loads a head whose sha256 matches', () => {
      const { at, sha } = write(file(2 * 2 + RULE_LEVELS + 1));
      expect(loadCrisisHead(at, sha).heads.anyRisk.threshold).toBe(0.4);
    });

    it('refuses a head whose sha256 differs, naming both', () => {
      const { at } = write(file(2 * 2 + RULE_LEVELS + 1));
      expect(() => loadCrisisHead(at, 'b'.repeat(64))).toThrow(/has sha256 [0-9a-f]{64}, expected b{64}/);
    });

    it('refuses weights that do not fit the encoder', () => {
      const { at, sha } = write(file(3));
      expect(() => loadCrisisHead(at, sha)).toThrow(/head anyRisk has 3 weights, expected 10/);
    });
  });
});

describe('the committed crisis head', () => {
  it('loads with its pinned sha256 and carries its held-out figures', () => {
    const head = loadDefaultCrisisHead();
    expect(head.encoder.name).toBe('sentence-transformers/all-MiniLM-L6-v2');
    const metrics = head.metrics as { anyRisk: { report: { recall: number } }; urgent: { report: { recall: number } } };
    expect(metrics.anyRisk.report.recall).toBeGreaterThan(0.85);
    expect(metrics.urgent.report.recall).toBeGreaterThan(0.85);
  });

  it('scores a person without messages from the rule level alone, more risk for a higher level', () => {
    const head = loadDefaultCrisisHead();
    const low = scoreCrisisRisk(head, [], 0);
    const high = scoreCrisisRisk(head, [], 4);
    expect(high.anyRisk).toBeGreaterThan(low.anyRisk);
    expect(high.urgent).toBeGreaterThan(low.urgent);
  });
});
