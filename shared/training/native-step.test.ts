import * as ort from 'onnxruntime-node';
import { LoraSpecSchema } from '../contracts';
import { seededStream } from '../../test/helpers';
import { buildTrainStep, type TrainStepSpec } from './artifacts/train-step';
import { Graph } from './graph/ir';
import * as op from './graph/ops';
import { toOnnx } from './graph/onnx-writer';
import { modelDims, parameterShapes } from './model/config';
import { NATIVE_BINDING_PATH, nativeBinding, NativeSession } from './native-step';
import { createStepRunner, type TrainTensors } from './step-runner';
import { openNativeTrainStep } from './trainer';

// The binding is built by scripts/setup.sh (scripts/build-native.sh), which CI runs first: these
// tests fail, rather than skip, where it is missing.
const session = (model: Uint8Array) => {
  const s = NativeSession.open(model, { threads: 2 });
  if (!s) throw new Error(`the train-step binding is not available: ${nativeBinding().reason} (${NATIVE_BINDING_PATH})`);
  return s;
};

describe("Pixel's train-step binding", () => {
  it('is built and loads', () => {
    expect(nativeBinding()).toEqual({ binding: expect.anything() });
  });

  it.each(['full', 'lora'] as const)(
    "takes the same %s steps as onnxruntime-node's binding, to the bit: losses, gradient norms and weights",
    async (mode) => {
      const dims = modelDims({
        model_type: 'llama',
        vocab_size: 64,
        hidden_size: 32,
        intermediate_size: 48,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
      });
      const [batch, seq] = [2, 8];
      const rnd = seededStream(3);
      const base = new Map(
        parameterShapes(dims).map(([name, shape]) => {
          const n = shape.reduce((a, b) => a * b, 1);
          return [name, { dtype: 'float32' as const, dims: shape, data: Float32Array.from({ length: n }, () => rnd() * 0.2) }];
        }),
      );
      const spec: TrainStepSpec = { dims, batch, seq, dtype: 'float32', mode, lora: LoraSpecSchema.parse({}), optimizer: 'host' };
      const { graph, manifest } = buildTrainStep(spec, mode === 'lora' ? base : undefined);
      expect(manifest.optimizer?.placement).toBe('host');
      const bytes = toOnnx(graph);
      const initial = () =>
        new Map<string, TrainTensors>(
          manifest.trainable.map(({ name, shape }) => {
            const n = shape.reduce((a, b) => a * b, 1);
            const value = base.get(name)?.data ?? Float32Array.from({ length: n }, () => (name.endsWith('lora_A') ? 0.1 : 0));
            return [name, { value: Float32Array.from(value), m: new Float32Array(n), v: new Float32Array(n) }];
          }),
        );
      const ids = Array.from({ length: batch * seq }, (_, i) => (i * 7) % dims.vocab);
      const data = {
        input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [batch, seq]),
        targets: new ort.Tensor('int64', BigInt64Array.from(ids.map((t) => BigInt((t + 3) % dims.vocab))), [batch, seq]),
        loss_mask: new ort.Tensor('float32', Float32Array.from(ids.map((_, i) => (i % seq > 1 ? 1 : 0))), [batch, seq]),
        example_weight: new ort.Tensor('float32', Float32Array.from([1, 0.5]), [batch]),
      };
      const runs: { loss: number; gradNorm: number }[][] = [];
      const finals: Map<string, TrainTensors>[] = [];
      const native = openNativeTrainStep(bytes, manifest, { threads: 2 });
      expect(native).toBeInstanceOf(NativeSession);
      for (const s of [native as NativeSession, await ort.InferenceSession.create(bytes, { intraOpNumThreads: 2, graphOptimizationLevel: 'all' })]) {
        const params = initial();
        const runner = createStepRunner(s, manifest, params);
        const out: { loss: number; gradNorm: number }[] = [];
        for (let step = 1; step <= 3; step++) out.push(await runner.step(data, step, 1e-2));
        runs.push(out);
        finals.push(params);
        await s.release();
      }
      expect(runs[0]).toEqual(runs[1]);
      expect(runs[0]![2]!.loss).toBeLessThan(runs[0]![0]!.loss);
      for (const [name, t] of finals[0]!)
        expect(
          Buffer.from(t.value.buffer, t.value.byteOffset, t.value.byteLength).equals(
            Buffer.from(finals[1]!.get(name)!.value.buffer, finals[1]!.get(name)!.value.byteOffset, finals[1]!.get(name)!.value.byteLength),
          ),
        ).toBe(true);
    },
  );

  describe('on a small graph', () => {
    const g = new Graph('add');
    g.output(op.add(g, g.input('a', 'float32', [4]), g.input('b', 'float32', [4])), 'y');
    const model = toOnnx(g);

    it('reads inputs from and writes outputs into shared memory, in place', async () => {
      const s = session(model);
      const shared = new SharedArrayBuffer(48);
      const [a, b, y] = [0, 1, 2].map((k) => new Float32Array(shared, 16 * k, 4)) as [Float32Array, Float32Array, Float32Array];
      a.set([1, 2, 3, 4]);
      b.set([10, 20, 30, 40]);
      s.run(
        [
          ['a', a, [4]],
          ['b', b, [4]],
        ],
        [['y', y, [4]]],
      );
      expect(Array.from(y)).toEqual([11, 22, 33, 44]);
      await s.release();
    });

    it('refuses bad calls with a message naming what is wrong', async () => {
      const s = session(model);
      const a = new Float32Array(4);
      const y = new Float32Array(4);
      expect(() => s.run([['a', a, [4]]], [['y', y, [4]]])).toThrow(/onnxruntime: .*Missing Input: b/);
      expect(() => s.run([['a', a, [6]]], [['y', y, [4]]])).toThrow(/tensor a has 4 numbers, its dims say 6/);
      expect(() =>
        s.run(
          [
            ['a', a, [4]],
            ['b', [1, 2, 3, 4] as unknown as Float32Array, [4]],
          ],
          [['y', y, [4]]],
        ),
      ).toThrow(/tensor b is not a Float32Array/);
      expect(() => NativeSession.open(new Uint8Array([1, 2, 3]), { threads: 1 })).toThrow(/onnxruntime: /);
      await s.release();
      expect(() => s.run([], [])).toThrow(/released/);
    });
  });
});
