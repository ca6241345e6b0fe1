import * as ort from 'onnxruntime-node';
import { gradients } from '../graph/autodiff';
import { Graph, type Value } from '../graph/ir';
import { toOnnx } from '../graph/onnx-writer';
import { modelDims, parameterShapes, type LlamaConfigInput, type ModelDims } from './config';
import { llamaForward, maskedCrossEntropy } from './llama';
import { seededStream } from '../../../test/helpers';

const FLAVOURS: [string, LlamaConfigInput][] = [
  [
    'llama, grouped-query attention, untied',
    {
      model_type: 'llama',
      vocab_size: 11,
      hidden_size: 8,
      intermediate_size: 12,
      num_hidden_layers: 2,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      rms_norm_eps: 1e-6,
      rope_theta: 10_000,
    },
  ],
  [
    'qwen3, q/k norms, tied embeddings, explicit head_dim',
    {
      model_type: 'qwen3',
      vocab_size: 9,
      hidden_size: 8,
      intermediate_size: 10,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      num_key_value_heads: 2,
      head_dim: 6,
      tie_word_embeddings: true,
      rope_theta: 1_000_000,
    },
  ],
  [
    'mistral, head_dim wider than hidden / heads (Nemo-style), sliding window of 2, grouped-query attention',
    {
      model_type: 'mistral',
      vocab_size: 13,
      hidden_size: 8,
      intermediate_size: 12,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 6,
      sliding_window: 2,
      rope_theta: 1_000_000,
    },
  ],
  [
    'llama, Llama 3 rope scaling',
    {
      model_type: 'llama',
      vocab_size: 11,
      hidden_size: 16,
      intermediate_size: 12,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      rope_theta: 50,
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 },
    },
  ],
  [
    'llama, linear rope scaling (older "type" key)',
    {
      model_type: 'llama',
      vocab_size: 11,
      hidden_size: 8,
      intermediate_size: 12,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      rope_scaling: { type: 'linear', factor: 4 },
    },
  ],
  [
    'qwen2, attention biases',
    {
      model_type: 'qwen2',
      vocab_size: 7,
      hidden_size: 8,
      intermediate_size: 8,
      num_hidden_layers: 1,
      num_attention_heads: 4,
      num_key_value_heads: 2,
    },
  ],
];

type Weights = Map<string, { shape: number[]; data: number[] }>;

function randomWeights(d: ModelDims, seed: number): Weights {
  const rnd = seededStream(seed);
  const w: Weights = new Map();
  for (const [name, shape] of parameterShapes(d)) {
    const n = shape.reduce((a, b) => a * b, 1);
    // Norm weights around 1, the rest small.
    const data = Array.from({ length: n }, () => (name.endsWith('norm.weight') ? 1 + rnd() * 0.2 : rnd() * 0.6));
    w.set(name, { shape, data });
  }
  return w;
}

/**
 * The forward pass written out with plain loops, independently of the graph code: the
 * reference the generated graph must agree with. Returns logits [batch][seq][vocab].
 */
function referenceForward(d: ModelDims, w: Weights, ids: number[][]): number[][][] {
  const W = (name: string) => w.get(name)!.data;
  const linear = (x: number[], name: string, out: number, inp: number, bias?: string) =>
    Array.from({ length: out }, (_, o) => {
      let s = bias ? W(bias)[o]! : 0;
      for (let i = 0; i < inp; i++) s += x[i]! * W(name)[o * inp + i]!;
      return s;
    });
  const rms = (x: number[], weight: number[]) => {
    const ms = x.reduce((a, v) => a + v * v, 0) / x.length;
    const inv = 1 / Math.sqrt(ms + d.eps);
    return x.map((v, i) => v * inv * weight[i]!);
  };
  const silu = (v: number) => v / (1 + Math.exp(-v));
  const half = d.headDim / 2;
  // The frequency of pair j, written out as Hugging Face's rope initialisers do.
  const frequency = (j: number): number => {
    const f = 1 / d.ropeTheta ** ((2 * j) / d.headDim);
    const s = d.ropeScaling;
    if (!s) return f;
    if (s.type === 'linear') return f / s.factor;
    const wavelength = (2 * Math.PI) / f;
    const scaled = wavelength > s.originalMaxPositions / s.lowFreqFactor ? f / s.factor : f;
    const smooth = (s.originalMaxPositions / wavelength - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    const medium = !(wavelength < s.originalMaxPositions / s.highFreqFactor) && !(wavelength > s.originalMaxPositions / s.lowFreqFactor);
    return medium ? ((1 - smooth) * scaled) / s.factor + smooth * scaled : scaled;
  };
  const rope = (x: number[], pos: number) =>
    x.map((v, j) => {
      const theta = pos * frequency(j % half);
      const rotated = j < half ? -x[j + half]! : x[j - half]!;
      return v * Math.cos(theta) + rotated * Math.sin(theta);
    });
  return ids.map((row) => {
    let h = row.map((t) => W('model.embed_tokens.weight').slice(t * d.hidden, (t + 1) * d.hidden));
    for (let l = 0; l < d.layers; l++) {
      const pre = `model.layers.${l}`;
      const b = (n: string) => (d.attentionBias ? `${pre}.self_attn.${n}.bias` : undefined);
      const x = h.map((v) => rms(v, W(`${pre}.input_layernorm.weight`)));
      const split = (v: number[], n: number) => Array.from({ length: n }, (_, k) => v.slice(k * d.headDim, (k + 1) * d.headDim));
      const q = x.map((v, pos) =>
        split(linear(v, `${pre}.self_attn.q_proj.weight`, d.heads * d.headDim, d.hidden, b('q_proj')), d.heads).map((hv) =>
          rope(d.qkNorm ? rms(hv, W(`${pre}.self_attn.q_norm.weight`)) : hv, pos),
        ),
      );
      const k = x.map((v, pos) =>
        split(linear(v, `${pre}.self_attn.k_proj.weight`, d.kvHeads * d.headDim, d.hidden, b('k_proj')), d.kvHeads).map((hv) =>
          rope(d.qkNorm ? rms(hv, W(`${pre}.self_attn.k_norm.weight`)) : hv, pos),
        ),
      );
      const vv = x.map((v) => split(linear(v, `${pre}.self_attn.v_proj.weight`, d.kvHeads * d.headDim, d.hidden, b('v_proj')), d.kvHeads));
      const rep = d.heads / d.kvHeads;
      const attn = q.map((qs, pos) =>
        qs.flatMap((qh, head) => {
          const kvh = Math.floor(head / rep);
          const seen = (t: number) => d.slidingWindow === undefined || pos - t < d.slidingWindow;
          const scores = Array.from({ length: pos + 1 }, (_, t) =>
            seen(t) ? qh.reduce((a, qv, j) => a + qv * k[t]![kvh]![j]!, 0) / Math.sqrt(d.headDim) : -Infinity,
          );
          const max = Math.max(...scores);
          const e = scores.map((s) => Math.exp(s - max));
          const z = e.reduce((a, b2) => a + b2, 0);
          return Array.from({ length: d.headDim }, (_, j) => e.reduce((a, ei, t) => a + (ei / z) * vv[t]![kvh]![j]!, 0));
        }),
      );
      h = h.map((v, pos) => {
        const o = linear(attn[pos]!, `${pre}.self_attn.o_proj.weight`, d.hidden, d.heads * d.headDim);
        return v.map((a, i) => a + o[i]!);
      });
      h = h.map((v) => {
        const y = rms(v, W(`${pre}.post_attention_layernorm.weight`));
        const gate = linear(y, `${pre}.mlp.gate_proj.weight`, d.intermediate, d.hidden).map(silu);
        const up = linear(y, `${pre}.mlp.up_proj.weight`, d.intermediate, d.hidden);
        const down = linear(
          gate.map((gv, i) => gv * up[i]!),
          `${pre}.mlp.down_proj.weight`,
          d.hidden,
          d.intermediate,
        );
        return v.map((a, i) => a + down[i]!);
      });
    }
    return h.map((v) => linear(rms(v, W('model.norm.weight')), d.tied ? 'model.embed_tokens.weight' : 'lm_head.weight', d.vocab, d.hidden));
  });
}

function buildGraph(d: ModelDims, batch: number, seq: number, dtype: 'float64' | 'float32' = 'float64') {
  const g = new Graph('llama-test');
  const params = new Map<string, Value>();
  for (const [name, shape] of parameterShapes(d)) params.set(name, g.input(name, dtype, shape));
  const ids = g.input('input_ids', 'int64', [batch, seq]);
  const targets = g.input('targets', 'int64', [batch, seq]);
  const mask = g.input('loss_mask', dtype, [batch, seq]);
  const logits = llamaForward(g, d, params, ids, { batch, seq, dtype });
  const loss = maskedCrossEntropy(g, logits, targets, mask);
  g.output(logits, 'logits');
  g.output(loss, 'loss');
  return { g, params, loss };
}

/** The graph's feeds: the weights, the token ids, next-token targets and a mask selecting every token. */
function feedsOf(d: ModelDims, w: Weights, ids: number[][], dtype: 'float64' | 'float32'): Record<string, ort.Tensor> {
  const [batch, seq] = [ids.length, ids[0]!.length];
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', ids.flat(), [batch, seq]),
    targets: new ort.Tensor(
      'int64',
      ids.flat().map((t) => (t + 1) % d.vocab),
      [batch, seq],
    ),
    loss_mask: new ort.Tensor(dtype, new Array<number>(batch * seq).fill(1), [batch, seq]),
  };
  for (const [name, { shape, data }] of w) feeds[name] = new ort.Tensor(dtype, data, shape);
  return feeds;
}

describe('Llama-family forward graph', () => {
  it.each(FLAVOURS)('matches a plain reference implementation: %s', async (_name, config) => {
    const d = modelDims(config);
    const [batch, seq] = [2, 5];
    const { g } = buildGraph(d, batch, seq);
    const w = randomWeights(d, 3);
    const rnd = seededStream(5);
    const ids = Array.from({ length: batch }, () => Array.from({ length: seq }, () => Math.floor((rnd() + 0.5) * d.vocab)));
    // 'basic': the extended optimisations fuse x * sigmoid(x) into QuickGelu, which has no float64 kernel.
    const session = await ort.InferenceSession.create(toOnnx(g), { graphOptimizationLevel: 'basic' });
    const out = await session.run(feedsOf(d, w, ids, 'float64'));
    const logits = Array.from((out.logits as ort.Tensor).data as Float64Array);
    const expected = referenceForward(d, w, ids).flat(2);
    expect(logits).toHaveLength(expected.length);
    const worst = Math.max(...logits.map((v, i) => Math.abs(v - expected[i]!)));
    expect(worst).toBeLessThan(1e-9);
    // The loss is the mean negative log-probability of the targets.
    let nll = 0;
    const ref = referenceForward(d, w, ids);
    ref.forEach((row, b) =>
      row.forEach((lg, s) => {
        const max = Math.max(...lg);
        const z = lg.reduce((a, v) => a + Math.exp(v - max), 0);
        nll -= lg[(ids[b]![s]! + 1) % d.vocab]! - max - Math.log(z);
      }),
    );
    expect(((out.loss as ort.Tensor).data as Float64Array)[0]).toBeCloseTo(nll / (batch * seq), 9);
    await session.release();
  });

  it.each(FLAVOURS)(
    "in float32 (rotary embedding, RMSNorm and SiLU as onnxruntime's kernels) matches the reference within rounding: %s",
    async (_name, config) => {
      const d = modelDims(config);
      const [batch, seq] = [2, 5];
      const { g } = buildGraph(d, batch, seq, 'float32');
      for (const kernel of ['RotaryEmbedding', 'SimplifiedLayerNormalization', 'QuickGelu']) expect(g.nodes.some((n) => n.op === kernel)).toBe(true);
      const w = randomWeights(d, 4);
      const rnd = seededStream(6);
      const ids = Array.from({ length: batch }, () => Array.from({ length: seq }, () => Math.floor((rnd() + 0.5) * d.vocab)));
      const session = await ort.InferenceSession.create(toOnnx(g), { graphOptimizationLevel: 'all' });
      const logits = Array.from(((await session.run(feedsOf(d, w, ids, 'float32'))).logits as ort.Tensor).data as Float32Array);
      const expected = referenceForward(d, w, ids).flat(2);
      const scale = Math.max(...expected.map(Math.abs));
      expect(Math.max(...logits.map((v, i) => Math.abs(v - expected[i]!))) / scale).toBeLessThan(1e-5);
      await session.release();
    },
  );

  it('reads the scaling and window fields, and refuses ones it would otherwise ignore', () => {
    const base = {
      model_type: 'mistral' as const,
      vocab_size: 5,
      hidden_size: 8,
      intermediate_size: 8,
      num_hidden_layers: 1,
      num_attention_heads: 2,
    };
    expect(modelDims({ ...base, sliding_window: null, rope_scaling: null })).not.toHaveProperty('slidingWindow');
    expect(modelDims({ ...base, sliding_window: 4096 }).slidingWindow).toBe(4096);
    // Qwen2 configs name a window they do not use unless use_sliding_window is set; with it set, refused.
    expect(modelDims({ ...base, model_type: 'qwen2', sliding_window: 4096, use_sliding_window: false })).not.toHaveProperty('slidingWindow');
    expect(() => modelDims({ ...base, model_type: 'qwen2', sliding_window: 4096, use_sliding_window: true })).toThrow(/max_window_layers/);
    expect(() => modelDims({ ...base, rope_scaling: { rope_type: 'yarn', factor: 4 } })).toThrow(/rope scaling 'yarn' is not supported/);
    expect(() => modelDims({ ...base, rope_scaling: { type: 'dynamic', factor: 2 } })).toThrow(/'dynamic' is not supported/);
    expect(() => modelDims({ ...base, rope_scaling: { rope_type: 'llama3', factor: 8 } })).toThrow(/needs low_freq_factor/);
    expect(() => modelDims({ ...base, rope_scaling: { rope_type: 'linear' } })).toThrow(/needs a factor/);
    expect(modelDims({ ...base, rope_scaling: { rope_type: 'default' } })).not.toHaveProperty('ropeScaling');
  });

  it('refuses a config whose heads do not divide, naming the field', () => {
    expect(() =>
      modelDims({
        model_type: 'llama',
        vocab_size: 5,
        hidden_size: 8,
        intermediate_size: 8,
        num_hidden_layers: 1,
        num_attention_heads: 4,
        num_key_value_heads: 3,
      }),
    ).toThrow(/num_key_value_heads/);
  });
});

describe('Llama-family gradients', () => {
  it.each(FLAVOURS)(
    'every parameter matches finite differences on a tiny model: %s',
    async (_name, config) => {
      const d = modelDims(config);
      const [batch, seq] = [1, 4];
      const { g, params, loss } = buildGraph(d, batch, seq);
      const names = [...params.keys()];
      gradients(g, loss, [...params.values()]).forEach((gr, i) => g.output(gr, `grad:${names[i]}`));
      const session = await ort.InferenceSession.create(toOnnx(g), { graphOptimizationLevel: 'basic' });
      const w = randomWeights(d, 9);
      const rnd = seededStream(13);
      const ids = Array.from({ length: seq }, () => Math.floor((rnd() + 0.5) * d.vocab));
      // Only some tokens count, as with an assistant-only loss mask.
      const base: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor('int64', ids, [batch, seq]),
        targets: new ort.Tensor(
          'int64',
          ids.map((t) => (t + 3) % d.vocab),
          [batch, seq],
        ),
        loss_mask: new ort.Tensor('float64', [0, 1, 1, 0], [batch, seq]),
      };
      const feeds = (override?: { name: string; k: number; delta: number }) => {
        const f = { ...base };
        for (const [name, { shape, data }] of w) {
          const values = override?.name === name ? data.map((v, k) => (k === override.k ? v + override.delta : v)) : data;
          f[name] = new ort.Tensor('float64', values, shape);
        }
        return f;
      };
      const out = await session.run(feeds());
      let worst = 0;
      const h = 1e-6;
      for (const name of names) {
        const analytic = (out[`grad:${name}`] as ort.Tensor).data as Float64Array;
        // Three elements of each parameter, spread over it.
        const n = w.get(name)!.data.length;
        for (const k of [0, Math.floor(n / 2), n - 1]) {
          const lp = ((await session.run(feeds({ name, k, delta: h }))).loss as ort.Tensor).data[0] as number;
          const lm = ((await session.run(feeds({ name, k, delta: -h }))).loss as ort.Tensor).data[0] as number;
          const numeric = (lp - lm) / (2 * h);
          worst = Math.max(worst, Math.abs(numeric - analytic[k]!) / Math.max(1e-4, Math.abs(numeric) + Math.abs(analytic[k]!)));
        }
      }
      expect(worst).toBeLessThan(1e-5);
      await session.release();
    },
    60_000,
  );
});
