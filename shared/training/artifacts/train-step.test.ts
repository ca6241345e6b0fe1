import { createStepRunner } from '../step-runner';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadCheckpoint, saveCheckpoint } from '../checkpoint';
import { initializerBytes, tensor, type Tensor } from '../graph/ir';
import { toOnnx } from '../graph/onnx-writer';
import { modelDims, parameterShapes, type ModelDims } from '../model/config';
import { gradients } from '../graph/autodiff';
import { buildEval, buildTrainStep, specHash, type ArtifactManifest, type TrainStepSpec } from './train-step';
import { seededStream } from '../../../test/helpers';

const CORPUS =
  'i hear you. it sounds like a hard week. what would help you feel a little safer tonight? ' +
  'thank you for telling me. you are not alone in this. could you tell me more about what happened? ';
const VOCAB = [...new Set(CORPUS)].sort();
const encode = (s: string) => [...s].map((c) => VOCAB.indexOf(c));

function dimsFor(vocab: number, hidden = 32): ModelDims {
  return modelDims({
    model_type: 'llama',
    vocab_size: vocab,
    hidden_size: hidden,
    intermediate_size: hidden * 2,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
  });
}

function initWeights(d: ModelDims, dtype: 'float32' | 'float64', seed: number): Map<string, Tensor> {
  const rnd = seededStream(seed);
  return new Map(
    parameterShapes(d).map(([name, shape]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const fanIn = shape[shape.length - 1] as number;
      const values = Array.from({ length: n }, () => (name.endsWith('norm.weight') ? 1 : (rnd() * 2) / Math.sqrt(fanIn)));
      return [name, tensor(dtype, shape, values)];
    }),
  );
}

const ortTensor = (t: Tensor) => new ort.Tensor(t.dtype, Array.from(t.data as Float32Array | Float64Array), [...t.dims]);

/** Runs `steps` train steps on windows of the corpus, as the trainer takes them (AdamW where the manifest puts it); returns the loss of each step. */
async function train(
  manifest: ArtifactManifest,
  model: Uint8Array,
  spec: TrainStepSpec,
  init: (name: string, shape: number[]) => ort.Tensor,
  steps: number,
  lr: number,
): Promise<number[]> {
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
  const ids = encode(CORPUS.repeat(4));
  const params = new Map(
    manifest.trainable.map(({ name, shape }) => {
      const value = Float32Array.from(init(name, shape).data as ArrayLike<number>);
      return [name, { value, m: new Float32Array(value.length), v: new Float32Array(value.length) }];
    }),
  );
  const runner = createStepRunner(session, manifest, params);
  const losses: number[] = [];
  const rnd = seededStream(17);
  for (let step = 1; step <= steps; step++) {
    const input: number[] = [];
    const target: number[] = [];
    for (let b = 0; b < spec.batch; b++) {
      const at = Math.floor((rnd() + 0.5) * (ids.length - spec.seq - 1));
      input.push(...ids.slice(at, at + spec.seq));
      target.push(...ids.slice(at + 1, at + spec.seq + 1));
    }
    const data = {
      input_ids: new ort.Tensor('int64', input, [spec.batch, spec.seq]),
      targets: new ort.Tensor('int64', target, [spec.batch, spec.seq]),
      loss_mask: new ort.Tensor('float32', new Float32Array(spec.batch * spec.seq).fill(1), [spec.batch, spec.seq]),
      example_weight: new ort.Tensor('float32', new Float32Array(spec.batch).fill(1), [spec.batch]),
    };
    losses.push((await runner.step(data, step, lr)).loss);
  }
  await session.release();
  return losses;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('train-step artifact', () => {
  it('full fine-tuning: 200 steps cut the loss of a tiny model on a small corpus by more than half', async () => {
    const dims = dimsFor(VOCAB.length);
    const spec: TrainStepSpec = { dims, batch: 4, seq: 16, dtype: 'float32', mode: 'full' };
    const { graph, manifest } = buildTrainStep(spec);
    expect(manifest.trainable.map((t) => t.name)).toEqual(parameterShapes(dims).map(([n]) => n));
    expect(manifest.outputs.map((o) => o.name).slice(0, 3)).toEqual(['loss', 'grad_norm', 'per_example_loss']);
    const init = initWeights(dims, 'float32', 5);
    const losses = await train(manifest, toOnnx(graph), spec, (name) => ortTensor(init.get(name)!), 200, 3e-3);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(mean(losses.slice(-10))).toBeLessThan(mean(losses.slice(0, 10)) / 2);
  }, 60_000);

  it('LoRA: base weights are initializers, only adapters train, and the loss still falls', async () => {
    const dims = dimsFor(VOCAB.length);
    const spec: TrainStepSpec = {
      dims,
      batch: 4,
      seq: 16,
      dtype: 'float32',
      mode: 'lora',
      lora: { rank: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'gate_proj', 'up_proj', 'down_proj'] },
    };
    const base = initWeights(dims, 'float32', 5);
    const { graph, manifest } = buildTrainStep(spec, base);
    expect(manifest.frozen).toHaveLength(parameterShapes(dims).length);
    expect(manifest.trainable.every((t) => /\.lora_[AB]$/.test(t.name))).toBe(true);
    expect(manifest.inputs.some((i) => i.name === 'model.embed_tokens.weight')).toBe(false);
    const rnd = seededStream(23);
    // Standard LoRA init: A small random, B zero (the adapted model starts as the base).
    const init = (name: string, shape: number[]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      return new ort.Tensor('float32', name.endsWith('lora_A') ? Array.from({ length: n }, () => rnd() * 0.2) : new Array<number>(n).fill(0), shape);
    };
    const losses = await train(manifest, toOnnx(graph), spec, init, 200, 1e-2);
    expect(mean(losses.slice(-10))).toBeLessThan(mean(losses.slice(0, 10)) * 0.75);
  }, 60_000);

  it('LoRA on a float16 frozen base: half the stored bytes, the float32 graph’s losses within float16 rounding, adapters in float32', async () => {
    const dims = dimsFor(VOCAB.length);
    const lora = { rank: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'gate_proj', 'up_proj', 'down_proj'] };
    const spec: TrainStepSpec = { dims, batch: 4, seq: 16, dtype: 'float32', mode: 'lora', lora };
    const half: TrainStepSpec = { ...spec, frozenDtype: 'float16' };
    const base = initWeights(dims, 'float32', 5);
    const full = buildTrainStep(spec, base);
    const reduced = buildTrainStep(half, base);
    expect(specHash(half)).not.toBe(specHash(spec));
    expect(reduced.manifest.trainable).toEqual(full.manifest.trainable);
    expect(reduced.manifest.inputs.filter((i) => i.dtype !== 'float32' && i.dtype !== 'int64')).toEqual([]);
    const bytes = (g: typeof full.graph) => [...g.initializers.values()].reduce((n, t) => n + initializerBytes(t), 0);
    expect(bytes(reduced.graph)).toBeLessThan(bytes(full.graph) * 0.55);
    const init = () => {
      const rnd = seededStream(23);
      return (name: string, shape: number[]) => {
        const n = shape.reduce((a, b) => a * b, 1);
        return new ort.Tensor(
          'float32',
          name.endsWith('lora_A') ? Array.from({ length: n }, () => rnd() * 0.2) : new Array<number>(n).fill(0),
          shape,
        );
      };
    };
    const a = await train(full.manifest, toOnnx(full.graph), spec, init(), 20, 1e-2);
    const b = await train(reduced.manifest, toOnnx(reduced.graph), half, init(), 20, 1e-2);
    a.forEach((loss, i) => expect(Math.abs(loss - b[i]!) / loss).toBeLessThan(5e-3));
    expect(b).not.toEqual(a); // the base really was rounded to float16
  }, 60_000);

  it('the eval artifact gives the train step’s loss for the same weights and batch, per example too', async () => {
    const dims = dimsFor(VOCAB.length, 16);
    const spec: TrainStepSpec = { dims, batch: 2, seq: 8, dtype: 'float64', mode: 'full' };
    const trainStep = buildTrainStep(spec);
    const evalArtifact = buildEval(spec);
    expect(evalArtifact.manifest.specHash).toBe(trainStep.manifest.specHash);
    const init = initWeights(dims, 'float64', 8);
    const ids = encode(CORPUS).slice(0, 17);
    const data = {
      input_ids: new ort.Tensor('int64', [...ids.slice(0, 8), ...ids.slice(8, 16)], [2, 8]),
      targets: new ort.Tensor('int64', [...ids.slice(1, 9), ...ids.slice(9, 17)], [2, 8]),
      loss_mask: new ort.Tensor('float64', [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0], [2, 8]),
      example_weight: new ort.Tensor('float64', [1, 1], [2]),
    };
    const weights = Object.fromEntries([...init].map(([name, t]) => [name, ortTensor(t)]));
    const ev = await ort.InferenceSession.create(toOnnx(evalArtifact.graph), { graphOptimizationLevel: 'basic' });
    const tr = await ort.InferenceSession.create(toOnnx(trainStep.graph), { graphOptimizationLevel: 'basic' });
    const moments: Record<string, ort.Tensor> = {};
    for (const [name, t] of init) {
      moments[`${name}.m`] = new ort.Tensor('float64', new Array<number>(t.data.length).fill(0), [...t.dims]);
      moments[`${name}.v`] = moments[`${name}.m`]!;
    }
    const e = await ev.run({ ...weights, ...data });
    const t = await tr.run({ ...weights, ...moments, ...data, lr: new ort.Tensor('float64', [0.01], []), step: new ort.Tensor('float64', [1], []) });
    expect((e.loss as ort.Tensor).data[0]).toBeCloseTo(Number((t.loss as ort.Tensor).data[0]), 12);
    const per = Array.from((e.per_example_loss as ort.Tensor).data as Float64Array);
    // The batch loss is the token-weighted mean of the examples' means: 6 and 4 masked tokens.
    expect(Number((e.loss as ort.Tensor).data[0])).toBeCloseTo((per[0]! * 6 + per[1]! * 4) / 10, 12);
    await ev.release();
    await tr.release();
  });
});

describe('checkpoint reload', () => {
  it('a checkpoint saved after training reloads to the same eval loss', async () => {
    const dims = dimsFor(VOCAB.length, 16);
    // AdamW in the graph: this test drives the graph's own state inputs and outputs.
    const spec: TrainStepSpec = { dims, batch: 2, seq: 8, dtype: 'float32', mode: 'full', optimizer: 'graph' };
    const step = buildTrainStep(spec);
    const evaluation = buildEval(spec);
    const trainer = await ort.InferenceSession.create(toOnnx(step.graph));
    const evaluator = await ort.InferenceSession.create(toOnnx(evaluation.graph));
    const ids = encode(CORPUS);
    const batch = {
      input_ids: new ort.Tensor('int64', ids.slice(0, 16), [2, 8]),
      targets: new ort.Tensor('int64', ids.slice(1, 17), [2, 8]),
      loss_mask: new ort.Tensor('float32', new Array<number>(16).fill(1), [2, 8]),
      example_weight: new ort.Tensor('float32', [1, 1], [2]),
    };
    const init = initWeights(dims, 'float32', 2);
    const state: Record<string, ort.Tensor> = {};
    for (const { name, shape } of step.manifest.trainable) {
      state[name] = ortTensor(init.get(name)!);
      state[`${name}.m`] = new ort.Tensor('float32', new Array<number>(shape.reduce((a, b) => a * b, 1)).fill(0), shape);
      state[`${name}.v`] = state[`${name}.m`]!;
    }
    for (let s = 1; s <= 5; s++) {
      const out = await trainer.run({ ...state, ...batch, lr: new ort.Tensor('float32', [1e-2], []), step: new ort.Tensor('float32', [s], []) });
      for (const { name } of step.manifest.trainable) {
        state[name] = out[`${name}.next`] as ort.Tensor;
        state[`${name}.m`] = out[`${name}.m.next`] as ort.Tensor;
        state[`${name}.v`] = out[`${name}.v.next`] as ort.Tensor;
      }
    }
    const weights = () => Object.fromEntries(step.manifest.trainable.map(({ name }) => [name, state[name]!]));
    const before = Number(((await evaluator.run({ ...weights(), ...batch })).loss as ort.Tensor).data[0]);
    const dir = mkdtempSync(path.join(tmpdir(), 'pixel-reload-'));
    try {
      const file = path.join(dir, 'ckpt.safetensors');
      const asTensor = (t: ort.Tensor) => ({ dtype: 'float32' as const, dims: [...t.dims], data: t.data as Float32Array });
      await saveCheckpoint(file, {
        step: 5,
        specHash: step.manifest.specHash,
        config: { lr: 1e-2 },
        params: new Map(
          step.manifest.trainable.map(({ name }) => [
            name,
            { value: asTensor(state[name]!), m: asTensor(state[`${name}.m`]!), v: asTensor(state[`${name}.v`]!) },
          ]),
        ),
      });
      const loaded = await loadCheckpoint(file);
      expect(loaded.step).toBe(5);
      expect(loaded.specHash).toBe(evaluation.manifest.specHash);
      const reloaded = Object.fromEntries(
        [...loaded.params].map(([name, p]) => [name, new ort.Tensor('float32', p.value.data as Float32Array, [...p.value.dims])]),
      );
      const after = Number(((await evaluator.run({ ...reloaded, ...batch })).loss as ort.Tensor).data[0]);
      expect(after).toBe(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await trainer.release();
      await evaluator.release();
    }
  });
});

describe('LoRA gradients', () => {
  it('the adapters’ gradients match finite differences on a tiny model (float64)', async () => {
    const dims = modelDims({
      model_type: 'qwen3',
      vocab_size: 9,
      hidden_size: 8,
      intermediate_size: 8,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      head_dim: 4,
    });
    const spec: TrainStepSpec = {
      dims,
      batch: 1,
      seq: 4,
      dtype: 'float64',
      mode: 'lora',
      lora: { rank: 2, alpha: 4, targets: ['q_proj', 'v_proj', 'down_proj'] },
    };
    const { graph: g, manifest } = buildEval(spec, initWeights(dims, 'float64', 4));
    const trainable = manifest.trainable.map((t) => g.value(t.name));
    gradients(g, g.value('loss'), trainable).forEach((gr, i) => g.output(gr, `grad:${manifest.trainable[i]!.name}`));
    const session = await ort.InferenceSession.create(toOnnx(g), { graphOptimizationLevel: 'basic' });
    const rnd = seededStream(31);
    const values = new Map(manifest.trainable.map((t) => [t.name, Array.from({ length: t.shape.reduce((a, b) => a * b, 1) }, () => rnd() * 0.5)]));
    const feeds = (override?: { name: string; k: number; delta: number }) => {
      const f: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor('int64', [1, 5, 2, 7], [1, 4]),
        targets: new ort.Tensor('int64', [5, 2, 7, 3], [1, 4]),
        loss_mask: new ort.Tensor('float64', [1, 1, 0, 1], [1, 4]),
        example_weight: new ort.Tensor('float64', [1.5], [1]),
      };
      for (const t of manifest.trainable) {
        const v = values.get(t.name)!;
        f[t.name] = new ort.Tensor('float64', override?.name === t.name ? v.map((x, k) => (k === override.k ? x + override.delta : x)) : v, t.shape);
      }
      return f;
    };
    const out = await session.run(feeds());
    let worst = 0;
    for (const t of manifest.trainable) {
      const analytic = (out[`grad:${t.name}`] as ort.Tensor).data as Float64Array;
      for (const k of [0, analytic.length - 1]) {
        const lp = Number(((await session.run(feeds({ name: t.name, k, delta: 1e-6 }))).loss as ort.Tensor).data[0]);
        const lm = Number(((await session.run(feeds({ name: t.name, k, delta: -1e-6 }))).loss as ort.Tensor).data[0]);
        const numeric = (lp - lm) / 2e-6;
        worst = Math.max(worst, Math.abs(numeric - analytic[k]!) / Math.max(1e-4, Math.abs(numeric) + Math.abs(analytic[k]!)));
      }
    }
    expect(manifest.trainable).toHaveLength(6);
    expect(worst).toBeLessThan(1e-5);
    await session.release();
  });
});

describe('loss objectives', () => {
  const dims = modelDims({
    model_type: 'llama',
    vocab_size: 9,
    hidden_size: 8,
    intermediate_size: 8,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
  });
  const base = (dtype: 'float64', objectives?: TrainStepSpec['objectives']): TrainStepSpec => ({
    dims,
    batch: 2,
    seq: 4,
    dtype,
    mode: 'full',
    objectives,
  });
  const weights = initWeights(dims, 'float64', 12);
  const data = {
    input_ids: new ort.Tensor('int64', [1, 5, 2, 7, 3, 3, 8, 0], [2, 4]),
    targets: new ort.Tensor('int64', [5, 2, 7, 3, 3, 8, 0, 4], [2, 4]),
    loss_mask: new ort.Tensor('float64', [0, 1, 1, 1, 1, 1, 1, 0], [2, 4]),
    example_weight: new ort.Tensor('float64', [1, 2], [2]),
  };
  const weightFeeds = () => Object.fromEntries([...weights].map(([name, t]) => [name, ortTensor(t)]));
  const rnd = seededStream(41);
  // The base model's log-probabilities: any normalised distribution per token.
  const baseLogprobs = (() => {
    const out: number[] = [];
    for (let i = 0; i < 8; i++) {
      const raw = Array.from({ length: 9 }, () => rnd() * 3);
      const z = Math.log(raw.reduce((a, x) => a + Math.exp(x), 0));
      out.push(...raw.map((x) => x - z));
    }
    return new ort.Tensor('float64', out, [2, 4, 9]);
  })();

  it('terms that are off are not in the graph; with only cross-entropy weighted, the loss is the plain one', async () => {
    const plain = buildEval(base('float64'));
    expect(plain.manifest.inputs.map((i) => i.name)).not.toContain('objective_weights');
    const all = buildEval(base('float64', { unlikelihood: true, kl: true }));
    expect(all.manifest.inputs.map((i) => i.name)).toEqual(expect.arrayContaining(['negative_example', 'objective_weights', 'base_logprobs']));
    expect(all.manifest.specHash).not.toBe(plain.manifest.specHash);
    const p = await ort.InferenceSession.create(toOnnx(plain.graph), { graphOptimizationLevel: 'basic' });
    const a = await ort.InferenceSession.create(toOnnx(all.graph), { graphOptimizationLevel: 'basic' });
    const lp = Number(((await p.run({ ...weightFeeds(), ...data })).loss as ort.Tensor).data[0]);
    const la = Number(
      (
        (
          await a.run({
            ...weightFeeds(),
            ...data,
            negative_example: new ort.Tensor('float64', [0, 0], [2]),
            objective_weights: new ort.Tensor('float64', [1, 0, 0], [3]),
            base_logprobs: baseLogprobs,
          })
        ).loss as ort.Tensor
      ).data[0],
    );
    expect(la).toBeCloseTo(lp, 12);
    await p.release();
    await a.release();
  });

  it('every term’s gradient matches finite differences, with a negative example and the KL term on', async () => {
    const { graph: g, manifest } = buildEval(base('float64', { unlikelihood: true, kl: true }));
    const names = ['model.layers.0.self_attn.q_proj.weight', 'model.layers.0.mlp.down_proj.weight', 'lm_head.weight'];
    gradients(
      g,
      g.value('loss'),
      names.map((n) => g.value(n)),
    ).forEach((gr, i) => g.output(gr, `grad:${names[i]}`));
    expect(manifest.kind).toBe('eval');
    const session = await ort.InferenceSession.create(toOnnx(g), { graphOptimizationLevel: 'basic' });
    const extra = {
      negative_example: new ort.Tensor('float64', [0, 1], [2]),
      objective_weights: new ort.Tensor('float64', [0.7, 0.5, 0.3], [3]),
      base_logprobs: baseLogprobs,
    };
    const feeds = (name?: string, k = 0, delta = 0) => {
      const f: Record<string, ort.Tensor> = { ...weightFeeds(), ...data, ...extra };
      if (name) {
        const t = weights.get(name)!;
        f[name] = new ort.Tensor(
          'float64',
          Array.from(t.data as Float64Array, (x, i) => (i === k ? x + delta : x)),
          [...t.dims],
        );
      }
      return f;
    };
    const out = await session.run(feeds());
    let worst = 0;
    for (const name of names) {
      const analytic = (out[`grad:${name}`] as ort.Tensor).data as Float64Array;
      for (const k of [1, analytic.length - 2]) {
        const lp = Number(((await session.run(feeds(name, k, 1e-6))).loss as ort.Tensor).data[0]);
        const lm = Number(((await session.run(feeds(name, k, -1e-6))).loss as ort.Tensor).data[0]);
        const numeric = (lp - lm) / 2e-6;
        worst = Math.max(worst, Math.abs(numeric - analytic[k]!) / Math.max(1e-4, Math.abs(numeric) + Math.abs(analytic[k]!)));
      }
    }
    expect(worst).toBeLessThan(1e-5);
    await session.release();
  });

  it('unlikelihood training makes the unsafe response less likely', async () => {
    const spec: TrainStepSpec = { ...base('float64', { unlikelihood: true }), dtype: 'float64' };
    const step = buildTrainStep(spec);
    const plain = await ort.InferenceSession.create(toOnnx(buildEval(base('float64')).graph), { graphOptimizationLevel: 'basic' });
    const trainer = await ort.InferenceSession.create(toOnnx(step.graph), { graphOptimizationLevel: 'basic' });
    const state: Record<string, ort.Tensor> = weightFeeds();
    for (const [name, t] of weights) {
      state[`${name}.m`] = new ort.Tensor('float64', new Array<number>(t.data.length).fill(0), [...t.dims]);
      state[`${name}.v`] = state[`${name}.m`]!;
    }
    // Both examples are the "unsafe" response: unlikelihood only.
    const unsafe = { ...data, negative_example: new ort.Tensor('float64', [1, 1], [2]), objective_weights: new ort.Tensor('float64', [1, 1], [2]) };
    const nll = async () =>
      Number(((await plain.run({ ...Object.fromEntries([...weights.keys()].map((n) => [n, state[n]!])), ...data })).loss as ort.Tensor).data[0]);
    const before = await nll();
    for (let s = 1; s <= 20; s++) {
      const out = await trainer.run({ ...state, ...unsafe, lr: new ort.Tensor('float64', [0.01], []), step: new ort.Tensor('float64', [s], []) });
      for (const name of weights.keys()) {
        state[name] = out[`${name}.next`] as ort.Tensor;
        state[`${name}.m`] = out[`${name}.m.next`] as ort.Tensor;
        state[`${name}.v`] = out[`${name}.v.next`] as ort.Tensor;
      }
    }
    // The response's tokens became less likely: its negative log-likelihood rose.
    expect(await nll()).toBeGreaterThan(before + 0.1);
    await plain.release();
    await trainer.release();
  });
});
