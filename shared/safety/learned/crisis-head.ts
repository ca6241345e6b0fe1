import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { sha256Hex } from '../../util/hash';

/**
 * A learned crisis-risk head on sentence-encoder embeddings. The unit is a person's messages (a
 * C-SSRS user's posts, a conversation's user turns): features are the mean and the
 * element-wise max of the message embeddings, the worst C-SSRS level the rules found (one-hot),
 * and log(1 + messages). Two logistic heads: any risk (ideation and above) and urgent risk
 * (intent, plan, behaviour). Training is deterministic (full-batch gradient descent from zero).
 */
export const RULE_LEVELS = 5;

export function crisisFeatures(embeddings: readonly Float32Array[], ruleLevel: number, dim: number): Float64Array {
  const x = new Float64Array(2 * dim + RULE_LEVELS + 1);
  const n = embeddings.length;
  for (let d = 0; d < dim; d++) x[dim + d] = n === 0 ? 0 : -Infinity;
  for (const e of embeddings) {
    for (let d = 0; d < dim; d++) {
      const v = e[d] as number;
      x[d] = (x[d] as number) + v / n;
      if (v > (x[dim + d] as number)) x[dim + d] = v;
    }
  }
  x[2 * dim + Math.max(0, Math.min(RULE_LEVELS - 1, Math.round(ruleLevel)))] = 1;
  x[2 * dim + RULE_LEVELS] = Math.log1p(n) / 3;
  return x;
}

export interface LogisticHead {
  weights: number[];
  bias: number;
  /** Probability at or above which the head flags. */
  threshold: number;
}

export function predict(head: Pick<LogisticHead, 'weights' | 'bias'>, x: Float64Array): number {
  let z = head.bias;
  for (let j = 0; j < x.length; j++) z += (head.weights[j] as number) * (x[j] as number);
  return 1 / (1 + Math.exp(-z));
}

/** L2-regularised logistic regression, full-batch gradient descent from zero weights. */
export function trainLogistic(
  xs: readonly Float64Array[],
  ys: readonly number[],
  options: { l2?: number; steps?: number; rate?: number } = {},
): {
  weights: number[];
  bias: number;
} {
  if (xs.length === 0 || xs.length !== ys.length) throw new Error('trainLogistic needs as many labels as examples, at least one');
  const n = (xs[0] as Float64Array).length;
  const l2 = options.l2 ?? 0.01;
  const steps = options.steps ?? 400;
  const rate = options.rate ?? 0.5;
  const w = new Float64Array(n);
  let b = 0;
  for (let step = 0; step < steps; step++) {
    const g = new Float64Array(n);
    let gb = 0;
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i] as Float64Array;
      let z = b;
      for (let j = 0; j < n; j++) z += (w[j] as number) * (x[j] as number);
      const c = 1 / (1 + Math.exp(-z)) - (ys[i] as number);
      for (let j = 0; j < n; j++) g[j] = (g[j] as number) + c * (x[j] as number);
      gb += c;
    }
    for (let j = 0; j < n; j++) w[j] = (w[j] as number) - rate * ((g[j] as number) / xs.length + l2 * (w[j] as number));
    b -= rate * (gb / xs.length);
  }
  return { weights: [...w], bias: b };
}

/** The highest threshold (in steps of 0.01) whose recall on (probability, label) pairs reaches `recall`. */
export function thresholdForRecall(probabilities: readonly number[], labels: readonly number[], recall: number): number {
  const positives = labels.filter((y) => y === 1).length;
  for (let t = 0.99; t > 0; t -= 0.01) {
    const caught = probabilities.filter((p, i) => p >= t && labels[i] === 1).length;
    if (positives > 0 && caught / positives >= recall) return Math.round(t * 100) / 100;
  }
  return 0.01;
}

/** Expected calibration error over ten equal-width probability bins. */
export function expectedCalibrationError(probabilities: readonly number[], labels: readonly number[]): number {
  const bins = Array.from({ length: 10 }, () => ({ n: 0, p: 0, y: 0 }));
  probabilities.forEach((p, i) => {
    const bin = bins[Math.min(9, Math.floor(p * 10))] as { n: number; p: number; y: number };
    bin.n += 1;
    bin.p += p;
    bin.y += labels[i] as number;
  });
  const total = probabilities.length || 1;
  return Math.round(bins.reduce((e, b) => e + (b.n === 0 ? 0 : (b.n / total) * Math.abs(b.p / b.n - b.y / b.n)), 0) * 10_000) / 10_000;
}

const HeadSchema = z.object({ weights: z.array(z.number()), bias: z.number(), threshold: z.number().min(0).max(1) });
export const CrisisHeadFileSchema = z.object({
  format: z.literal('pixel-crisis-head/1'),
  encoder: z.object({ name: z.string(), onnxSha256: z.string().regex(/^[0-9a-f]{64}$/), dim: z.number().int().positive() }),
  heads: z.object({ anyRisk: HeadSchema, urgent: HeadSchema }),
  training: z.record(z.string(), z.unknown()),
  metrics: z.record(z.string(), z.unknown()),
});
export type CrisisHeadFile = z.infer<typeof CrisisHeadFileSchema>;

/** Loads a crisis head, refusing a file whose sha256 is not the expected one or whose weights do not fit the encoder. */
export function loadCrisisHead(file: string, expectedSha256: string): CrisisHeadFile {
  const bytes = readFileSync(file);
  const got = sha256Hex(bytes);
  if (got !== expectedSha256) throw new Error(`crisis head ${file} has sha256 ${got}, expected ${expectedSha256}`);
  const parsed = CrisisHeadFileSchema.safeParse(JSON.parse(bytes.toString('utf8')));
  if (!parsed.success)
    throw new Error(
      `crisis head ${file} is not a pixel-crisis-head/1 file: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`,
    );
  const size = 2 * parsed.data.encoder.dim + RULE_LEVELS + 1;
  for (const [name, head] of Object.entries(parsed.data.heads)) {
    if (head.weights.length !== size) throw new Error(`crisis head ${file}: head ${name} has ${head.weights.length} weights, expected ${size}`);
  }
  return parsed.data;
}
