import * as ort from 'onnxruntime-node';
import { Graph } from './graph/ir';
import { toOnnx } from './graph/onnx-writer';
import * as op from './graph/ops';
import { gradientStepRunner, HOST_OPTIMIZER_MAX_PARAMS, HostAdamW, hostOptimizerFits } from './host-adamw';

/** Textbook AdamW (PyTorch's form) in float64: clip by the global norm, decay, then the bias-corrected step. */
function referenceStep(
  state: Map<string, { value: number[]; m: number[]; v: number[]; decay: boolean }>,
  grads: Map<string, number[]>,
  step: number,
  lr: number,
  c: { beta1: number; beta2: number; eps: number; weightDecay: number; maxGradNorm: number },
): void {
  const norm = Math.sqrt([...grads.values()].flat().reduce((a, g) => a + g * g, 0));
  const clip = c.maxGradNorm > 0 ? Math.min(1, c.maxGradNorm / (norm + 1e-6)) : 1;
  for (const [name, s] of state) {
    const g = grads.get(name)!;
    s.value.forEach((p, i) => {
      const gi = g[i]! * clip;
      s.m[i] = c.beta1 * s.m[i]! + (1 - c.beta1) * gi;
      s.v[i] = c.beta2 * s.v[i]! + (1 - c.beta2) * gi * gi;
      const mHat = s.m[i] / (1 - c.beta1 ** step);
      const vHat = s.v[i] / (1 - c.beta2 ** step);
      s.value[i] = p * (s.decay ? 1 - lr * c.weightDecay : 1) - (lr * mHat) / (Math.sqrt(vHat) + c.eps);
    });
  }
}

describe('HostAdamW', () => {
  // Sizes that are not multiples of the kernel's four lanes, a vector (not decayed) and a matrix.
  const trainable = [
    { name: 'a.weight', shape: [3, 5] },
    { name: 'norm.weight', shape: [7] },
    { name: 'b.weight', shape: [4, 4] },
    { name: 'one', shape: [1] },
  ];
  const config = { beta1: 0.85, beta2: 0.99, eps: 1e-6, weightDecay: 0.2, maxGradNorm: 0.7 };
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31 - 0.5;
  };

  it('updates every tensor as textbook AdamW does, with clipping, bias correction and decay on matrices only', () => {
    const host = new HostAdamW(trainable, config);
    const ref = new Map(
      trainable.map(({ name, shape }) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const value = Array.from({ length: n }, rand);
        host.tensors.get(name)!.value.set(value);
        return [name, { value, m: new Array<number>(n).fill(0), v: new Array<number>(n).fill(0), decay: shape.length >= 2 }];
      }),
    );
    for (let step = 1; step <= 6; step++) {
      // Large gradients on some steps (clipped), small on others (not).
      const scale = step % 2 ? 3 : 0.01;
      const grads = new Map(trainable.map(({ name }) => [name, Array.from(host.tensors.get(name)!.grad, () => rand() * scale)]));
      for (const [name, g] of grads) host.tensors.get(name)!.grad.set(g);
      const norm = Math.sqrt([...grads.values()].flat().reduce((a, g) => a + g * g, 0));
      host.step(step, 1e-2 * step, norm);
      referenceStep(ref, grads, step, 1e-2 * step, config);
    }
    for (const [name, r] of ref) {
      const t = host.tensors.get(name)!;
      expect(t.value).toHaveLength(r.value.length);
      r.value.forEach((x, i) => expect(Math.abs(t.value[i]! - x)).toBeLessThan(1e-5 * Math.max(1, Math.abs(x))));
      r.m.forEach((x, i) => expect(Math.abs(t.m[i]! - x)).toBeLessThan(1e-5 * Math.max(1, Math.abs(x))));
      r.v.forEach((x, i) => expect(Math.abs(t.v[i]! - x)).toBeLessThan(1e-5 * Math.max(1e-3, Math.abs(x))));
    }
    // The vector was not decayed: with zero gradients it would stay put; the matrix shrinks.
    const still = new HostAdamW(trainable, { ...config, beta1: 0, beta2: 0 });
    still.tensors.get('norm.weight')!.value.fill(1);
    still.tensors.get('a.weight')!.value.fill(1);
    still.step(1, 0.1, 0);
    expect([...still.tensors.get('norm.weight')!.value]).toEqual(new Array(7).fill(1));
    expect(still.tensors.get('a.weight')!.value[0]).toBeCloseTo(1 - 0.1 * 0.2, 6);
  });

  it('refuses more state than one WebAssembly memory holds, and a step before the first', () => {
    expect(hostOptimizerFits(trainable)).toBe(true);
    const huge = [{ name: 'embed', shape: [HOST_OPTIMIZER_MAX_PARAMS + 4] }];
    expect(hostOptimizerFits(huge)).toBe(false);
    expect(() => new HostAdamW(huge, config)).toThrow(/at most 26\d,\d{3},\d{3} trainable numbers/);
    expect(() => new HostAdamW(trainable, config).step(0, 1e-3, 1)).toThrow(/counts from 1/);
    expect(() => new HostAdamW([...trainable, trainable[0]!], config)).toThrow(/listed twice/);
  });
});

describe('gradientStepRunner', () => {
  // loss = sum(w^2), its gradient 2w, as a train step with AdamW on the host names them.
  async function session(): Promise<ort.InferenceSession> {
    const g = new Graph('quadratic');
    const w = g.input('w', 'float32', [3, 5]);
    const sq = (x: ReturnType<Graph['input']>) =>
      g.node('ReduceSumSquare', [x], { keepdims: { kind: 'int', value: 0 } }, [{ dtype: 'float32', shape: [] }])[0]!;
    const grad = op.mul(g, w, g.scalar('float32', 2));
    g.output(sq(w), 'loss');
    g.output(op.sqrt(g, sq(grad)), 'grad_norm');
    g.output(grad, 'w.grad');
    return ort.InferenceSession.create(toOnnx(g));
  }
  const w = Float32Array.from({ length: 15 }, (_, i) => i / 10 - 0.7);
  const expected = Array.from(w, (x) => 2 * x);

  it.each([
    ['writes the gradients in place (pre-allocated outputs)', (s: ort.InferenceSession) => s],
    [
      'copies them where a binding ignores pre-allocated outputs',
      (s: ort.InferenceSession) => ({ run: (feeds: ort.InferenceSession.FeedsType) => s.run(feeds) }) as unknown as ort.InferenceSession,
    ],
    [
      'copies them where a binding refuses pre-allocated outputs',
      (s: ort.InferenceSession) =>
        ({
          run: (feeds: ort.InferenceSession.FeedsType, fetches?: Record<string, ort.Tensor | null>) =>
            fetches && Object.values(fetches).some((v) => v !== null)
              ? Promise.reject(new Error('Preallocated output tensors are not supported for async run(); set fetch values to null.'))
              : s.run(feeds, fetches as ort.InferenceSession.FetchesType),
        }) as unknown as ort.InferenceSession,
    ],
  ])('%s', async (_label, binding) => {
    const real = await session();
    const host = new HostAdamW([{ name: 'w', shape: [3, 5] }], { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 0 });
    const run = gradientStepRunner(binding(real), host);
    for (let step = 1; step <= 3; step++) {
      const t = host.tensors.get('w')!;
      if (step === 1) t.value.set(w);
      const before = Array.from(t.value, (x) => 2 * x);
      const out = await run({ w: new ort.Tensor('float32', t.value, [3, 5]) });
      [...t.grad].forEach((x, i) => expect(x).toBeCloseTo(before[i]!, 6));
      expect(out.gradNorm).toBeCloseTo(Math.sqrt(before.reduce((a, x) => a + x * x, 0)), 4);
      if (step === 1) expect([...t.grad].map((x) => Number(x.toFixed(5)))).toEqual(expected.map((x) => Number(Math.fround(x).toFixed(5))));
      host.step(step, 0.05, out.gradNorm);
    }
    await real.release();
  });
});
