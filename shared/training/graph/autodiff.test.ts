import * as ort from 'onnxruntime-node';
import { gradients } from './autodiff';
import { Graph, tensor, type Shape, type Value } from './ir';
import * as op from './ops';
import { toOnnx } from './onnx-writer';
import { seededStream } from '../../../test/helpers';

const size = (shape: Shape) => (shape as number[]).reduce((a, b) => a * b, 1);

interface Case {
  /** Float64 inputs to differentiate, by shape. */
  inputs: Shape[];
  /** Builds the op under test from the inputs. */
  build: (g: Graph, xs: Value[]) => Value;
  /** Keeps inputs away from where the op is not differentiable or not defined. */
  positive?: boolean;
  /** Integer inputs (not differentiated). */
  ids?: { shape: Shape; values: number[] };
}

/**
 * Builds loss = sum(f(x) * r) with a fixed random r, its gradients by the autodiff, and
 * compares them with central finite differences (float64, h = 1e-6) run through onnxruntime.
 */
async function checkGradients({ inputs, build, positive, ids }: Case, seed = 1): Promise<number> {
  const g = new Graph('gradcheck');
  const xs = inputs.map((shape, i) => g.input(`x${i}`, 'float64', shape));
  const all = ids ? [...xs, g.input('ids', 'int64', ids.shape)] : xs;
  const y = build(g, all);
  const rnd = seededStream(seed);
  const r = g.initializer('r', tensor('float64', y.shape as number[], Array.from({ length: size(y.shape) }, rnd)));
  const loss = op.sumAll(g, op.mul(g, y, r));
  g.output(loss, 'loss');
  gradients(g, loss, xs).forEach((gx, i) => g.output(gx, `grad_x${i}`));
  const session = await ort.InferenceSession.create(toOnnx(g), { graphOptimizationLevel: 'disabled' });
  const values = inputs.map((shape) => Float64Array.from({ length: size(shape) }, () => (positive ? 0.5 + Math.abs(rnd()) : rnd() * 2)));
  const feeds = (vals: Float64Array[]): Record<string, ort.Tensor> => {
    const f: Record<string, ort.Tensor> = {};
    // Plain arrays: jest runs tests in their own realm, whose typed arrays onnxruntime does not recognise.
    vals.forEach((v, i) => (f[`x${i}`] = new ort.Tensor('float64', Array.from(v), inputs[i] as number[])));
    if (ids) f.ids = new ort.Tensor('int64', ids.values, ids.shape as number[]);
    return f;
  };
  const out = await session.run(feeds(values));
  let worst = 0;
  const h = 1e-6;
  for (let i = 0; i < values.length; i++) {
    const analytic = (out[`grad_x${i}`] as ort.Tensor).data as Float64Array;
    expect(Array.from((out[`grad_x${i}`] as ort.Tensor).dims)).toEqual(inputs[i]);
    for (let k = 0; k < (values[i] as Float64Array).length; k++) {
      const plus = values.map((v) => Float64Array.from(v));
      const minus = values.map((v) => Float64Array.from(v));
      (plus[i] as Float64Array)[k]! += h;
      (minus[i] as Float64Array)[k]! -= h;
      const lp = ((await session.run(feeds(plus))).loss as ort.Tensor).data[0] as number;
      const lm = ((await session.run(feeds(minus))).loss as ort.Tensor).data[0] as number;
      const numeric = (lp - lm) / (2 * h);
      const err = Math.abs(numeric - (analytic[k] as number)) / Math.max(1e-3, Math.abs(numeric) + Math.abs(analytic[k] as number));
      worst = Math.max(worst, err);
    }
  }
  await session.release();
  return worst;
}

describe('autodiff: every op against finite differences (float64)', () => {
  it.each<[string, Case]>([
    [
      'Add',
      {
        inputs: [
          [2, 3],
          [2, 3],
        ],
        build: (g, [a, b]) => op.add(g, a!, b!),
      },
    ],
    ['Add, broadcast over rows and a leading axis', { inputs: [[2, 3], [3]], build: (g, [a, b]) => op.add(g, a!, b!) }],
    [
      'Sub, broadcast of a column',
      {
        inputs: [
          [2, 3],
          [2, 1],
        ],
        build: (g, [a, b]) => op.sub(g, a!, b!),
      },
    ],
    [
      'Mul, broadcast',
      {
        inputs: [
          [2, 3],
          [1, 3],
        ],
        build: (g, [a, b]) => op.mul(g, a!, b!),
      },
    ],
    [
      'Div',
      {
        inputs: [
          [2, 3],
          [2, 3],
        ],
        build: (g, [a, b]) => op.div(g, a!, b!),
        positive: true,
      },
    ],
    ['Neg', { inputs: [[4]], build: (g, [a]) => op.neg(g, a!) }],
    ['Exp', { inputs: [[2, 2]], build: (g, [a]) => op.exp(g, a!) }],
    ['Log', { inputs: [[2, 2]], build: (g, [a]) => op.log(g, a!), positive: true }],
    ['Sqrt', { inputs: [[3]], build: (g, [a]) => op.sqrt(g, a!), positive: true }],
    ['Sigmoid', { inputs: [[2, 3]], build: (g, [a]) => op.sigmoid(g, a!) }],
    ['Tanh', { inputs: [[2, 3]], build: (g, [a]) => op.tanh(g, a!) }],
    [
      'MatMul',
      {
        inputs: [
          [2, 3],
          [3, 4],
        ],
        build: (g, [a, b]) => op.matmul(g, a!, b!),
      },
    ],
    [
      'MatMul, batched input with a shared weight',
      {
        inputs: [
          [2, 2, 3],
          [3, 2],
        ],
        build: (g, [a, b]) => op.matmul(g, a!, b!),
      },
    ],
    [
      'MatMul, both batched',
      {
        inputs: [
          [2, 2, 3],
          [2, 3, 2],
        ],
        build: (g, [a, b]) => op.matmul(g, a!, b!),
      },
    ],
    ['Transpose', { inputs: [[2, 3, 4]], build: (g, [a]) => op.transpose(g, a!, [2, 0, 1]) }],
    ['Reshape', { inputs: [[2, 6]], build: (g, [a]) => op.reshape(g, a!, [3, -1]) }],
    ['ReduceSum, keepdims', { inputs: [[2, 3, 2]], build: (g, [a]) => op.reduceSum(g, a!, [1], true) }],
    ['ReduceSum, axes dropped', { inputs: [[2, 3, 2]], build: (g, [a]) => op.reduceSum(g, a!, [0, 2], false) }],
    ['ReduceMean', { inputs: [[2, 4]], build: (g, [a]) => op.reduceMean(g, a!, [-1], false) }],
    ['Softmax', { inputs: [[2, 5]], build: (g, [a]) => op.softmax(g, a!, -1) }],
    ['LogSoftmax', { inputs: [[3, 4]], build: (g, [a]) => op.logSoftmax(g, a!, -1) }],
    ['Expand', { inputs: [[3, 1]], build: (g, [a]) => op.expand(g, a!, [2, 3, 4]) }],
    ['Unsqueeze', { inputs: [[2, 3]], build: (g, [a]) => op.unsqueeze(g, a!, [0, 2]) }],
    [
      'GatherElements with repeated indices',
      { inputs: [[2, 4]], build: (g, [a, ids]) => op.gatherElements(g, a!, ids!, 1), ids: { shape: [2, 3], values: [0, 3, 3, 1, 1, 2] } },
    ],
    [
      'Gather with repeated ids',
      { inputs: [[5, 3]], build: (g, [t, ids]) => op.gather(g, t!, ids!), ids: { shape: [2, 3], values: [0, 4, 0, 2, 2, 2] } },
    ],
    ['SiLU (composite)', { inputs: [[2, 3]], build: (g, [a]) => op.silu(g, a!) }],
    ['RMSNorm (composite)', { inputs: [[2, 4], [4]], build: (g, [x, w]) => op.rmsNorm(g, x!, w!, 1e-6) }],
  ])('%s', async (_name, c) => {
    expect(await checkGradients(c)).toBeLessThan(1e-6);
  });
});

/**
 * Builds an op as onnxruntime's kernel (`kernel`) and as the composite of plain ops (`composite`)
 * in one float32 graph, with loss = sum(y * r) for each, and returns the largest difference of
 * the outputs and of every input's gradient, and the largest output and gradient (so a test can
 * tell agreement from two zeros). The composites' ops are checked against finite differences
 * above, in float64; these kernels have no float64 version, so they are checked against them.
 */
async function kernelAgainstComposite(
  inputs: number[][],
  kernel: (g: Graph, xs: Value[]) => Value,
  composite: (g: Graph, xs: Value[]) => Value,
  kernelOps: string[],
): Promise<{ worst: number; largest: number }> {
  const rnd = seededStream(11);
  const g = new Graph('kernel');
  const xs = inputs.map((shape, i) => g.input(`x${i}`, 'float32', shape));
  let r: Value | undefined;
  for (const [name, build] of [
    ['kernel', kernel],
    ['composite', composite],
  ] as const) {
    const before = g.nodes.length;
    const y = build(g, xs);
    const built = g.nodes.slice(before).map((n) => n.op);
    if (name === 'kernel') expect(built.filter((o) => o !== 'Constant')).toEqual(kernelOps);
    else expect(built.some((o) => kernelOps.includes(o))).toBe(false);
    // The same weights r for both, so that their gradients are comparable.
    r ??= g.constant(tensor('float32', y.shape as number[], Array.from({ length: size(y.shape) }, rnd)));
    g.output(y, `y_${name}`);
    gradients(g, op.sumAll(g, op.mul(g, y, r)), xs).forEach((gx, i) => g.output(gx, `g${i}_${name}`));
  }
  const session = await ort.InferenceSession.create(toOnnx(g));
  const feeds: Record<string, ort.Tensor> = {};
  inputs.forEach(
    (shape, i) =>
      (feeds[`x${i}`] = new ort.Tensor(
        'float32',
        Array.from({ length: size(shape) }, () => rnd() * 2),
        shape,
      )),
  );
  const out = await session.run(feeds);
  await session.release();
  const data = (name: string) => Array.from((out[name] as ort.Tensor).data as Float32Array);
  let [worst, largest] = [0, 0];
  for (const name of ['y', ...inputs.map((_, i) => `g${i}`)]) {
    const [p, q] = [data(`${name}_kernel`), data(`${name}_composite`)];
    largest = Math.max(largest, ...p.map(Math.abs));
    worst = Math.max(worst, ...p.map((v, i) => Math.abs(v - q[i]!)));
  }
  return { worst, largest };
}

describe('autodiff: kernels onnxruntime runs in float32 only, against their composites', () => {
  it('RotaryEmbedding: x cos + rotate_half(x) sin', async () => {
    const [B, H, S, D] = [2, 3, 5, 8];
    const half = D / 2;
    const angle = (p: number, j: number) => p * 10 ** -((j % half) / half) + 0.1 * (j % half);
    const table = (f: (a: number) => number, width: number) =>
      Array.from({ length: S * width }, (_, k) => f(angle(Math.floor(k / width), k % width)));
    const rotate = Array.from({ length: D * D }, (_, k) => {
      const [i, j] = [Math.floor(k / D), k % D];
      return j < half && i === j + half ? -1 : j >= half && i === j - half ? 1 : 0;
    });
    const { worst, largest } = await kernelAgainstComposite(
      [[B, H, S, D]],
      (g, [x]) =>
        op.rotaryEmbedding(
          g,
          x!,
          g.constant(
            tensor(
              'int64',
              [B, S],
              Array.from({ length: B * S }, (_, k) => k % S),
            ),
          ),
          g.constant(tensor('float32', [S, half], table(Math.cos, half))),
          g.constant(tensor('float32', [S, half], table(Math.sin, half))),
        ),
      (g, [x]) =>
        op.add(
          g,
          op.mul(g, x!, g.constant(tensor('float32', [S, D], table(Math.cos, D)))),
          op.mul(g, op.matmul(g, x!, g.constant(tensor('float32', [D, D], rotate))), g.constant(tensor('float32', [S, D], table(Math.sin, D)))),
        ),
      ['RotaryEmbedding'],
    );
    expect(largest).toBeGreaterThan(0.1);
    expect(worst).toBeLessThan(1e-5);
  });

  it('QuickGelu (SiLU): x sigmoid(x)', async () => {
    const { worst, largest } = await kernelAgainstComposite(
      [[4, 6, 7]],
      (g, [x]) => op.silu(g, x!),
      (g, [x]) => op.mul(g, x!, op.sigmoid(g, x!)),
      ['QuickGelu'],
    );
    expect(largest).toBeGreaterThan(0.1);
    expect(worst).toBeLessThan(1e-5);
  });

  it('SimplifiedLayerNormalization (RMSNorm): x / sqrt(mean(x^2) + eps) * w, gradients for x and w', async () => {
    const eps = 1e-5;
    const { worst, largest } = await kernelAgainstComposite(
      [[3, 5, 16], [16]],
      (g, [x, w]) => op.rmsNorm(g, x!, w!, eps),
      (g, [x, w]) => {
        const inv = op.div(
          g,
          g.scalar('float32', 1),
          op.sqrt(g, op.add(g, op.reduceMean(g, op.mul(g, x!, x!), [-1], true), g.scalar('float32', eps))),
        );
        return op.mul(g, op.mul(g, x!, inv), w!);
      },
      ['SimplifiedLayerNormalization'],
    );
    expect(largest).toBeGreaterThan(0.1);
    expect(worst).toBeLessThan(1e-5);
  });
});

describe('autodiff: graph-level rules', () => {
  it('accumulates the gradient of a value used several times', async () => {
    // f(x) = x*x + exp(x) * x: x feeds four uses.
    const worst = await checkGradients({ inputs: [[3]], build: (g, [x]) => op.add(g, op.mul(g, x!, x!), op.mul(g, op.exp(g, x!), x!)) });
    expect(worst).toBeLessThan(1e-6);
  });

  it('differentiates a two-layer network with a softmax cross-entropy end to end', async () => {
    const worst = await checkGradients({
      inputs: [[3, 4], [4, 5], [5, 3], [3]],
      build: (g, [x, w1, w2, b]) => {
        const h = op.silu(g, op.matmul(g, x!, w1!));
        const logits = op.add(g, op.matmul(g, h, w2!), b!);
        return op.neg(g, op.log(g, op.softmax(g, logits, -1)));
      },
    });
    expect(worst).toBeLessThan(1e-6);
  });

  it('prunes what the loss does not need and gives an unused input a zero gradient', () => {
    const g = new Graph();
    const x = g.input('x', 'float64', [2]);
    const unused = g.input('u', 'float64', [2]);
    const side = op.exp(g, unused); // computed, but not part of the loss
    const loss = op.sumAll(g, op.mul(g, x, x));
    const before = g.nodes.length;
    const [gx, gu] = gradients(g, loss, [x, unused]);
    const added = g.nodes.slice(before);
    // Nothing was differentiated through the side branch.
    expect(added.some((n) => n.inputs.includes(side.name))).toBe(false);
    expect(gu?.shape).toEqual([2]);
    expect(gx?.shape).toEqual([2]);
  });

  it('refuses a loss that is not a scalar, and an op without a gradient rule', () => {
    const g = new Graph();
    const x = g.input('x', 'float64', [2]);
    expect(() => gradients(g, op.exp(g, x), [x])).toThrow(/loss must be a scalar/);
    const floor = g.node('Floor', [x], {}, [{ dtype: 'float64', shape: [2] }])[0]!;
    expect(() => gradients(g, op.sumAll(g, floor), [x])).toThrow(/no gradient rule for Floor/);
  });
});
