import * as ort from 'onnxruntime-node';
import { Graph, type DType, type Value } from './ir';
import * as op from './ops';
import { toOnnx } from './onnx-writer';
import { adamWStep, type AdamWConfig } from './optimizer';
import { seededStream } from '../../../test/helpers';

/** A two-layer classifier: x [n, 4] -> SiLU -> logits [n, 3], mean cross-entropy against one-hot targets. */
function classifier(dtype: DType, n: number, config: AdamWConfig) {
  const g = new Graph('mlp-train-step');
  const x = g.input('x', dtype, [n, 4]);
  const target = g.input('target', dtype, [n, 3]);
  const w1 = g.input('w1', dtype, [4, 8]);
  const b1 = g.input('b1', dtype, [8]);
  const w2 = g.input('w2', dtype, [8, 3]);
  const h = op.silu(g, op.add(g, op.matmul(g, x, w1), b1));
  const logp = op.logSoftmax(g, op.matmul(g, h, w2), -1);
  const loss = op.div(g, op.neg(g, op.sumAll(g, op.mul(g, target, logp))), g.scalar(dtype, n));
  const step = adamWStep(g, loss, [w1, b1, w2], config);
  g.output(loss, 'loss');
  g.output(step.gradNorm, 'grad_norm');
  for (const p of step.params) {
    g.output(p.grad, `${p.param.name}.grad`);
    g.output(p.next, `${p.param.name}.next`);
    g.output(p.nextM, `${p.param.name}.m.next`);
    g.output(p.nextV, `${p.param.name}.v.next`);
  }
  return { g, params: [w1, b1, w2] as Value[] };
}

const shapes: Record<string, number[]> = { w1: [4, 8], b1: [8], w2: [8, 3] };
const numbers = (t: ort.Tensor) => Array.from(t.data as Float64Array | Float32Array, Number);

describe('adamWStep', () => {
  it('matches AdamW with clipping, bias correction and decoupled weight decay, computed by hand', async () => {
    const config: AdamWConfig = { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 0.05 };
    const { g } = classifier('float64', 6, config);
    const session = await ort.InferenceSession.create(toOnnx(g));
    const rnd = seededStream(7);
    const feeds: Record<string, ort.Tensor> = {};
    const values: Record<string, number[]> = {};
    const put = (name: string, dims: number[], data: number[]) => {
      values[name] = data;
      feeds[name] = new ort.Tensor('float64', data, dims);
    };
    put('x', [6, 4], Array.from({ length: 24 }, rnd));
    put(
      'target',
      [6, 3],
      Array.from({ length: 18 }, (_, i) => (i % 3 === Math.floor(i / 3) % 3 ? 1 : 0)),
    );
    for (const [name, dims] of Object.entries(shapes)) {
      const n = dims.reduce((a, b) => a * b, 1);
      put(name, dims, Array.from({ length: n }, rnd));
      put(
        `${name}.m`,
        dims,
        Array.from({ length: n }, () => rnd() * 0.1),
      );
      put(
        `${name}.v`,
        dims,
        Array.from({ length: n }, () => Math.abs(rnd()) * 0.01),
      );
    }
    put('lr', [], [0.01]);
    put('step', [], [3]);
    const out = await session.run(feeds);
    const grads = Object.fromEntries(Object.keys(shapes).map((name) => [name, numbers(out[`${name}.grad`] as ort.Tensor)]));
    const norm = Math.sqrt(
      Object.values(grads)
        .flat()
        .reduce((a, x) => a + x * x, 0),
    );
    expect(numbers(out.grad_norm as ort.Tensor)[0]).toBeCloseTo(norm, 12);
    expect(norm).toBeGreaterThan(config.maxGradNorm); // so clipping is exercised
    const clip = Math.min(1, config.maxGradNorm / (norm + 1e-6));
    for (const name of Object.keys(shapes)) {
      const decay = shapes[name]!.length >= 2;
      const p = values[name]!;
      const expected = p.map((pi, k) => {
        const gk = grads[name]![k]! * clip;
        const m = 0.9 * values[`${name}.m`]![k]! + 0.1 * gk;
        const v = 0.99 * values[`${name}.v`]![k]! + 0.01 * gk * gk;
        const update = m / (1 - 0.9 ** 3) / (Math.sqrt(v / (1 - 0.99 ** 3)) + 1e-8) + (decay ? 0.1 * pi : 0);
        return [pi - 0.01 * update, m, v];
      });
      numbers(out[`${name}.next`] as ort.Tensor).forEach((x, k) => expect(x).toBeCloseTo(expected[k]![0]!, 12));
      numbers(out[`${name}.m.next`] as ort.Tensor).forEach((x, k) => expect(x).toBeCloseTo(expected[k]![1]!, 12));
      numbers(out[`${name}.v.next`] as ort.Tensor).forEach((x, k) => expect(x).toBeCloseTo(expected[k]![2]!, 12));
    }
    await session.release();
  });

  it('trains: 150 float32 steps cut the loss of a small classifier by more than half', async () => {
    const n = 32;
    const { g } = classifier('float32', n, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 });
    const session = await ort.InferenceSession.create(toOnnx(g), { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
    const rnd = seededStream(11);
    const x = Array.from({ length: n * 4 }, () => rnd() * 2);
    // The class is which of three fixed directions the point is closest to.
    const target = Array.from({ length: n }, (_, i) => {
      const [a, b, c] = [x[i * 4]! + x[i * 4 + 1]!, x[i * 4 + 2]! - x[i * 4]!, x[i * 4 + 3]! - x[i * 4 + 1]!];
      const k = a >= b && a >= c ? 0 : b >= c ? 1 : 2;
      return [0, 1, 2].map((j) => (j === k ? 1 : 0));
    }).flat();
    const state: Record<string, ort.Tensor> = {};
    for (const [name, dims] of Object.entries(shapes)) {
      const size = dims.reduce((a, b) => a * b, 1);
      state[name] = new ort.Tensor(
        'float32',
        Array.from({ length: size }, () => rnd() * 0.5),
        dims,
      );
      state[`${name}.m`] = new ort.Tensor('float32', new Array<number>(size).fill(0), dims);
      state[`${name}.v`] = new ort.Tensor('float32', new Array<number>(size).fill(0), dims);
    }
    const fixed = {
      x: new ort.Tensor('float32', x, [n, 4]),
      target: new ort.Tensor('float32', target, [n, 3]),
      lr: new ort.Tensor('float32', [0.05], []),
    };
    const losses: number[] = [];
    for (let step = 1; step <= 150; step++) {
      const out = await session.run({ ...fixed, ...state, step: new ort.Tensor('float32', [step], []) });
      losses.push(numbers(out.loss as ort.Tensor)[0]!);
      for (const name of Object.keys(shapes)) {
        state[name] = out[`${name}.next`] as ort.Tensor;
        state[`${name}.m`] = out[`${name}.m.next`] as ort.Tensor;
        state[`${name}.v`] = out[`${name}.v.next`] as ort.Tensor;
      }
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! / 2);
    await session.release();
  });
});
