import { Graph, initializerData, int, tensor, type Initializer, type Value } from '../graph/ir';
import * as op from '../graph/ops';
import { parameterShapes, type ModelDims } from '../model/config';
import { linear as hfLinear, rotaryCaches } from '../model/llama';
import { perTokenInt8MatMul, matMulNBits, quantizeBlockwise, quantizeColumns, type QuantScheme } from '../graph/quantize';

/**
 * How the KV cache crosses the graph's boundary. `batch-major` (transformers.js's layout): past
 * [batch, kv_heads, past, head_dim] in, the whole cache [.., total, ..] out. `time-major` (Pixel's
 * engine): past [past, batch, kv_heads, head_dim] in, only the new positions out, so a step copies
 * one position of the cache, not all of it, into and out of JavaScript; and a `logits_to_keep`
 * input says how many last positions get logits. `fused` (one stream, no padding): attention is
 * onnxruntime's GroupQueryAttention kernel (rotary, cache append and attention in one node per
 * layer instead of about twenty), the past batch-major as transformers.js has it (its buffer may
 * be longer than the cached length, which the kernel reads from the attention mask), the step's
 * own rows of every layer as one extra `new_rows` output (what the engine fetches instead of the
 * whole `present`), and `logits_to_keep` as in time-major. `slots` (continuous batching): the past
 * batch-major, [batch, kv_heads, capacity, head_dim], each row in a slot of a buffer longer than
 * any row's cache (positions a row has not filled are masked out by `attention_mask`, so rows of
 * different lengths share a step without padding or shifting), only the new positions out
 * ([batch, kv_heads, seq, head_dim]), and attention over the past and the new positions as two
 * products whose scores are joined before the softmax, so that no step copies or transposes the
 * cache (concatenating the past and transposing a time-major cache took a third of an eight-row
 * step); `logits_to_keep` as in time-major.
 */
export type InferenceCacheLayout = 'batch-major' | 'time-major' | 'fused' | 'slots';

/**
 * Weight quantization of an inference graph: every Linear layer (and the LM head) in blocks, as
 * MatMulNBits (weight-only), or with `activations: 'dynamic'` the layers in int8 with inputs
 * quantized per token as they come (`perTokenInt8MatMul`).
 */
export interface InferenceQuantization {
  bits: 4 | 8;
  /**
   * `dynamic` (8 bits only): each Linear layer with int8 weights (a scale per output column) and
   * its input quantized to 8 bits as it comes, a scale per token (`perTokenInt8MatMul`), for
   * compute-bound runs (a prompt's prefill) on CPUs with integer dot products; the LM head stays
   * float32 unless `headBits` is given. Otherwise weight-only blocks for MatMulNBits.
   */
  activations?: 'dynamic';
  blockSize?: number;
  /** onnxruntime's accuracy level for MatMulNBits: 4 computes with int8 activations (fastest on CPUs), 0 in float32. */
  accuracyLevel?: number;
  /** How block levels are placed (see {@link QuantScheme}); `asymmetric` unless given. */
  scheme?: QuantScheme;
  /** Bits of the LM head (the tied embedding in SmolLM2, which GGUF keeps at 8 bits); `bits` unless given. */
  headBits?: 4 | 8;
  /** Block size and scheme of the LM head; those of the layers unless given. */
  headBlockSize?: number;
  headScheme?: QuantScheme;
}

/**
 * The generation engine keeps an inference graph in memory below this many bytes of weights, and
 * writes a larger one with a data file (protobuf holds at most 2 GB) before opening it.
 */
export const ENGINE_IN_MEMORY_BYTES = 1024 * 1024 * 1024;

/** The `slots` graph's `top_logits` / `top_ids` per row: enough for top-k sampling with k up to this many. */
export const SAMPLING_CANDIDATES = 64;

/** The most positions an inference graph's rotary tables cover (Mistral-Nemo's config allows 1,024,000). */
export const INFERENCE_MAX_POSITIONS = 8192;

/** Positions of a model's inference graph: its config's maximum, at most {@link INFERENCE_MAX_POSITIONS}, at least `atLeast`. */
export function inferencePositions(config: { max_position_embeddings?: number | undefined }, atLeast = 1): number {
  return Math.max(atLeast, Math.min(Number(config.max_position_embeddings ?? 2048), INFERENCE_MAX_POSITIONS));
}

/** Whether the `fused` layout (onnxruntime's GroupQueryAttention) can run this model: no per-head q/k norm, heads a multiple of 16 wide. */
export function fusedAttentionSupported(d: ModelDims): boolean {
  return !d.qkNorm && d.headDim % 16 === 0;
}

/**
 * The inference artifact: the same Llama-family forward pass with a KV cache and dynamic
 * shapes, under the input and output names `@huggingface/transformers` uses for decoder-only
 * models, so transformers.js can load it and `generate()` with it:
 *   inputs  `input_ids` [batch, seq], `attention_mask` [batch, total], `position_ids` [batch, seq],
 *           `past_key_values.<i>.key` / `.value` [batch, kv_heads, past, head_dim]
 *   outputs `logits` [batch, seq, vocab], `present.<i>.key` / `.value` [batch, kv_heads, total, head_dim]
 * Weights are initializers (float32), or with `quantize` every Linear layer's weight is packed in
 * blocks for onnxruntime's MatMulNBits (a quarter of the memory at 4 bits, and so about four
 * times the one-stream decoding speed of a CPU, which reads every weight once per token). Keys
 * are cached after the rotary embedding, as Hugging Face's models do.
 */
export function buildInference(
  dims: ModelDims,
  weights: ReadonlyMap<string, Initializer>,
  maxPositions: number,
  options: { quantize?: InferenceQuantization; cache?: InferenceCacheLayout; fuseResidual?: boolean } = {},
): Graph {
  if (options.quantize?.activations === 'dynamic' && options.quantize.bits !== 8) throw new Error('dynamic activation quantization is 8-bit only');
  const d = dims;
  const g = new Graph('inference');
  const f = 'float32' as const;
  const B = 'batch_size';
  const S = 'sequence_length';
  const P = 'past_sequence_length';
  const T = 'total_sequence_length';
  const ids = g.input('input_ids', 'int64', [B, S]);
  const attentionMask = g.input('attention_mask', 'int64', [B, T]);
  const positions = g.input('position_ids', 'int64', [B, S]);
  const timeMajor = options.cache === 'time-major';
  const fused = options.cache === 'fused';
  const slots = options.cache === 'slots';
  if (fused && d.qkNorm) throw new Error('the fused attention path has no per-head q/k norm (Qwen3): use the time-major cache');
  if (fused && d.headDim % 16 !== 0)
    throw new Error(`the fused attention kernel needs a head size that is a multiple of 16 (this model's is ${d.headDim})`);
  const pastInput = (name: string) =>
    timeMajor ? op.transpose(g, g.input(name, f, [P, B, d.kvHeads, d.headDim]), [1, 2, 0, 3]) : g.input(name, f, [B, d.kvHeads, P, d.headDim]);
  const past = Array.from({ length: d.layers }, (_, i) => ({
    key: pastInput(`past_key_values.${i}.key`),
    value: pastInput(`past_key_values.${i}.value`),
  }));
  const w = (name: string): Value => {
    const t = weights.get(name);
    if (!t) throw new Error(`missing weight ${name}`);
    return g.values.get(name) ?? g.initializer(name, t);
  };
  for (const [name] of parameterShapes(d)) w(name);

  const node = (opType: string, inputs: Value[], shape: (number | string)[], dtype: 'float32' | 'int64' | 'bool' = f, attrs = {}) =>
    g.node(opType, inputs, attrs, [{ dtype, shape }])[0] as Value;
  // Reshape with 0 (copy that dimension) and -1 (the rest): works for any batch and length.
  const reshape = (x: Value, spec: number[], shape: (number | string)[]) => node('Reshape', [x, g.ints(spec)], shape, x.dtype as 'float32');
  const quantize = options.quantize;
  // How Linear layers and the LM head multiply: float32, MatMulNBits blocks, or int8 with inputs quantized per token.
  type LinearPrecision = 'float32' | 'dynamic' | { bits: 4 | 8; blockSize: number; scheme: QuantScheme | undefined; accuracyLevel: number };
  const layerPrecision: LinearPrecision = !quantize
    ? 'float32'
    : quantize.activations === 'dynamic'
      ? 'dynamic'
      : { bits: quantize.bits, blockSize: quantize.blockSize ?? 32, scheme: quantize.scheme, accuracyLevel: quantize.accuracyLevel ?? 0 };
  const headBits = quantize?.activations === 'dynamic' ? quantize.headBits : (quantize?.headBits ?? quantize?.bits);
  const headPrecision: LinearPrecision =
    !quantize || !headBits
      ? 'float32'
      : {
          bits: headBits,
          blockSize: quantize.headBlockSize ?? quantize.blockSize ?? 32,
          scheme: quantize.headScheme ?? quantize.scheme,
          accuracyLevel: quantize.accuracyLevel ?? 0,
        };
  // Inference-only fused kernels of onnxruntime: one node per RMSNorm (SimplifiedLayerNormalization)
  // instead of six, which matters when one token's step is a thousand tiny nodes.
  const rmsNorm = (x: Value, weight: string) =>
    node('SimplifiedLayerNormalization', [x, w(weight)], x.shape as (number | string)[], f, {
      axis: int(-1),
      epsilon: { kind: 'float', value: d.eps },
    });
  // The residual add and the next RMSNorm as one node (SkipSimplifiedLayerNormalization), for the
  // fused layout: its fourth output is the sum, the residual stream the layer carries on with.
  const skipNorm = (x: Value, residual: Value, weight: string): [Value, Value] => {
    const stats = [...(residual.shape as (number | string)[]).slice(0, -1), 1];
    const [normed, , , sum] = g.node(
      'SkipSimplifiedLayerNormalization',
      [x, residual, w(weight)],
      { epsilon: { kind: 'float', value: d.eps } },
      [
        { dtype: f, shape: residual.shape },
        { dtype: f, shape: stats },
        { dtype: f, shape: stats },
        { dtype: f, shape: residual.shape },
      ],
      'skipnorm',
      'com.microsoft',
    ) as [Value, Value, Value, Value];
    return [normed, sum];
  };
  const matrix = (name: string): { n: number; k: number; load: () => Float32Array } => {
    const t = weights.get(name);
    if (!t || t.dtype !== 'float32' || t.dims.length !== 2) throw new Error(`inference needs a float32 matrix ${name}`);
    return { n: t.dims[0] as number, k: t.dims[1] as number, load: () => initializerData(t) as Float32Array };
  };
  /**
   * Linear layers that read the same input, as one product whose output is split again: q, k
   * and v, and gate and up. Their weights are stacked ([sum of outs, in]); one MatMul (or
   * MatMulNBits) per group instead of one per layer saves most of a small step's dispatch time.
   * The stacked float weight is lazy (made from its parts when the graph is written), so a large
   * model's weights pass through memory one group at a time.
   */
  const linears = (
    x: Value,
    names: readonly string[],
    biases: readonly (string | undefined)[] = [],
    scales: readonly number[] = [],
    split = true,
    precision: LinearPrecision = layerPrecision,
  ): Value[] => {
    const parts = names.map(matrix);
    const k = (parts[0] as { k: number }).k;
    const rows = parts.reduce((sum, p) => sum + p.n, 0);
    const stack = (): Float32Array => {
      const stacked = new Float32Array(rows * k);
      let at = 0;
      parts.forEach((p, i) => {
        const factor = scales[i] ?? 1;
        const data = p.load();
        if (factor === 1) stacked.set(data, at);
        else for (let j = 0; j < data.length; j++) stacked[at + j] = (data[j] as number) * factor;
        at += data.length;
      });
      return stacked;
    };
    const plain = names.length === 1 && (scales[0] ?? 1) === 1;
    const key = plain ? (names[0] as string) : `${names[0]}+${names.length - 1}`;
    let y =
      precision === 'dynamic'
        ? perTokenInt8MatMul(g, x, quantizeColumns(stack(), rows, k), key)
        : precision !== 'float32'
          ? matMulNBits(
              g,
              x,
              quantizeBlockwise(stack(), rows, k, precision.bits, precision.blockSize, precision.scheme),
              key,
              precision.accuracyLevel,
            )
          : hfLinear(g, x, plain ? w(key) : g.initializer(key, { dtype: f, dims: [rows, k], load: stack }));
    if (biases.some((b) => b !== undefined)) {
      const bias = new Float32Array(rows);
      let offset = 0;
      parts.forEach((p, i) => {
        const b = biases[i];
        const factor = scales[i] ?? 1;
        const t = b ? weights.get(b) : undefined;
        if (t)
          bias.set(
            (initializerData(t) as Float32Array).map((v) => v * factor),
            offset,
          );
        offset += p.n;
      });
      y = op.add(g, y, g.initializer(`${key}.bias`, tensor(f, [rows], bias)));
    }
    if (names.length === 1 || !split) return [y];
    const shape = (n: number) => [...x.shape.slice(0, -1), n];
    return g.node(
      'Split',
      [y, g.ints(parts.map((p) => p.n))],
      { axis: int(-1) },
      parts.map((p) => ({ dtype: f, shape: shape(p.n) })),
    );
  };
  const linear = (x: Value, name: string, bias?: string) => linears(x, [name], [bias])[0] as Value;
  const lmHead = (x: Value) => linears(x, [head], [], [], true, headPrecision)[0] as Value;
  const head = d.tied ? 'model.embed_tokens.weight' : 'lm_head.weight';

  // Rotary embedding as onnxruntime's RotaryEmbedding (rotate-half layout).
  const half = d.headDim / 2;
  const caches = rotaryCaches(d, maxPositions);
  const cosCache = g.initializer('rope.cos', tensor(f, [maxPositions, half], caches.cos));
  const sinCache = g.initializer('rope.sin', tensor(f, [maxPositions, half], caches.sin));
  const rope = (x: Value) =>
    g.node(
      'RotaryEmbedding',
      [x, positions, cosCache, sinCache],
      { interleaved: int(0) },
      [{ dtype: f, shape: x.shape }],
      'rope',
      'com.microsoft',
    )[0] as Value;

  // Attention bias [B, 1, S, T]: 0 where query i (at absolute index past + i) may see key j
  // (j <= past + i and the key is not padding), -1e9 elsewhere.
  const shapeOf = (x: Value) => node('Shape', [x], [x.shape.length], 'int64');
  const dimOf = (x: Value, axis: number) => node('Gather', [shapeOf(x), g.ints([axis])], [1], 'int64', { axis: int(0) });
  const seqLen = dimOf(ids, 1);
  const totalLen = dimOf(attentionMask, 1);
  const pastLen = node('Sub', [totalLen, seqLen], [1], 'int64');
  const zero = g.constant(tensor('int64', [], [0]));
  const one = g.constant(tensor('int64', [], [1]));
  const scalarOf = (x: Value) => node('Squeeze', [x, g.ints([0])], [], 'int64');
  const qIndex = node('Add', [node('Range', [zero, scalarOf(seqLen), one], [S], 'int64'), pastLen], [S], 'int64');
  const kIndex = node('Range', [zero, scalarOf(totalLen), one], [T], 'int64');
  let causal = node('LessOrEqual', [op.unsqueeze(g, kIndex, [0]), op.unsqueeze(g, qIndex, [1])], [S, T], 'bool');
  if (d.slidingWindow !== undefined && !slots) {
    // Mistral's sliding window: key k is visible from query q only when q - k < window.
    const reach = node('Sub', [op.unsqueeze(g, qIndex, [1]), op.unsqueeze(g, kIndex, [0])], [S, T], 'int64');
    const inWindow = node('Less', [reach, g.constant(tensor('int64', [], [d.slidingWindow]))], [S, T], 'bool');
    causal = node('And', [causal, inWindow], [S, T], 'bool');
  }
  const notPad = node('Cast', [op.unsqueeze(g, attentionMask, [1, 2])], [B, 1, 1, T], 'bool', { to: int(9) });
  let allowed = node('And', [causal, notPad], [B, 1, S, T], 'bool');
  if (d.slidingWindow !== undefined && slots) {
    // The window by positions: a row's cached keys sit at their positions in its slot, whatever
    // the buffer's length, and the new ones are at `position_ids`.
    const cachedAt = node(
      'Expand',
      [
        op.unsqueeze(g, node('Range', [zero, scalarOf(pastLen), one], [P], 'int64'), [0]),
        node('Concat', [dimOf(ids, 0), pastLen], [2], 'int64', { axis: int(0) }),
      ],
      [B, P],
      'int64',
    );
    const keyAt = node('Concat', [cachedAt, positions], [B, T], 'int64', { axis: int(1) });
    const reach = node('Sub', [op.unsqueeze(g, positions, [2]), op.unsqueeze(g, keyAt, [1])], [B, S, T], 'int64');
    const inWindow = node('Less', [reach, g.constant(tensor('int64', [], [d.slidingWindow]))], [B, S, T], 'bool');
    allowed = node('And', [allowed, op.unsqueeze(g, inWindow, [1])], [B, 1, S, T], 'bool');
  }
  const bias = node('Where', [allowed, g.scalar(f, 0), g.scalar(f, -1e9)], [B, 1, S, T]);

  const scale = g.scalar(f, 1 / Math.sqrt(d.headDim));
  const scaled = (scores: Value) => (d.qkNorm ? op.mul(g, scores, scale) : scores);
  const rep = d.heads / d.kvHeads;
  // The bias of the `rep` query heads stacked per kv head (grouped-query attention), once for all layers.
  const tiledBias = rep === 1 ? undefined : node('Tile', [bias, g.ints([1, 1, rep, 1])], [B, 1, 'rep_seq', T]);
  const toHeads = (x: Value, n: number) => op.transpose(g, reshape(x, [0, 0, n, d.headDim], [B, S, n, d.headDim]), [0, 2, 1, 3]);

  // The fused kernel takes the cache's length per row (minus one) and the total, as int32.
  const seqlensK = fused
    ? node(
        'Cast',
        [node('Sub', [node('ReduceSum', [attentionMask, g.ints([1])], [B], 'int64', { keepdims: int(0) }), one], [B], 'int64')],
        [B],
        'int64',
        { to: int(6) },
      )
    : undefined;
  const totalLength = fused ? node('Cast', [scalarOf(totalLen)], [], 'int64', { to: int(6) }) : undefined;

  const fuseResidual = fused && options.fuseResidual !== false;
  const newRows: Value[] = [];
  // slots: every layer's new keys and values, for one `new_kv` output.
  const newKv: Value[] = [];
  let h = op.gather(g, w('model.embed_tokens.weight'), ids);
  // With fuseResidual, the MLP's output waits to be added by the next norm's node.
  let pending: Value | undefined;
  for (let i = 0; i < d.layers; i++) {
    const pre = `model.layers.${i}`;
    let x: Value;
    if (pending) [x, h] = skipNorm(pending, h, `${pre}.input_layernorm.weight`);
    else x = rmsNorm(h, `${pre}.input_layernorm.weight`);
    pending = undefined;
    const b = (n: string) => (d.attentionBias ? `${pre}.self_attn.${n}.bias` : undefined);
    if (fused) {
      const packed = linears(
        x,
        [`${pre}.self_attn.q_proj.weight`, `${pre}.self_attn.k_proj.weight`, `${pre}.self_attn.v_proj.weight`],
        [b('q_proj'), b('k_proj'), b('v_proj')],
        [],
        false,
      )[0] as Value;
      const pastLayer = past[i] as { key: Value; value: Value };
      const empty = g.absent(f);
      const [attention, presentKey, presentValue] = g.node(
        'GroupQueryAttention',
        [packed, empty, empty, pastLayer.key, pastLayer.value, seqlensK as Value, totalLength as Value, cosCache, sinCache],
        {
          num_heads: int(d.heads),
          kv_num_heads: int(d.kvHeads),
          do_rotary: int(1),
          rotary_interleaved: int(0),
          // The same count as Mistral's (the query's own key included): checked against the unfused graph in the tests.
          ...(d.slidingWindow !== undefined ? { local_window_size: int(d.slidingWindow) } : {}),
        },
        [
          { dtype: f, shape: [B, S, d.heads * d.headDim] },
          { dtype: f, shape: [B, d.kvHeads, T, d.headDim] },
          { dtype: f, shape: [B, d.kvHeads, T, d.headDim] },
        ],
        'gqa',
        'com.microsoft',
      ) as [Value, Value, Value];
      g.output(presentKey, `present.${i}.key`);
      g.output(presentValue, `present.${i}.value`);
      newRows.push(packed);
      const projected = linear(attention, `${pre}.self_attn.o_proj.weight`);
      let y: Value;
      if (fuseResidual) [y, h] = skipNorm(projected, h, `${pre}.post_attention_layernorm.weight`);
      else {
        h = op.add(g, h, projected);
        y = rmsNorm(h, `${pre}.post_attention_layernorm.weight`);
      }
      const [gateX, up] = linears(y, [`${pre}.mlp.gate_proj.weight`, `${pre}.mlp.up_proj.weight`]) as [Value, Value];
      const mlp = linear(op.mul(g, op.silu(g, gateX), up), `${pre}.mlp.down_proj.weight`);
      if (fuseResidual) pending = mlp;
      else h = op.add(g, h, mlp);
      continue;
    }
    // Queries come out already scaled by 1/sqrt(head_dim) (the rotary embedding is linear), except
    // where a per-head norm follows the projection and would undo it.
    const [qx, kx, vx] = linears(
      x,
      [`${pre}.self_attn.q_proj.weight`, `${pre}.self_attn.k_proj.weight`, `${pre}.self_attn.v_proj.weight`],
      [b('q_proj'), b('k_proj'), b('v_proj')],
      [d.qkNorm ? 1 : 1 / Math.sqrt(d.headDim)],
    ) as [Value, Value, Value];
    let q = toHeads(qx, d.heads);
    let k = toHeads(kx, d.kvHeads);
    const v = toHeads(vx, d.kvHeads);
    if (d.qkNorm) {
      q = op.rmsNorm(g, q, w(`${pre}.self_attn.q_norm.weight`), d.eps);
      k = op.rmsNorm(g, k, w(`${pre}.self_attn.k_norm.weight`), d.eps);
    }
    q = rope(q);
    k = rope(k);
    const pastLayer = past[i] as { key: Value; value: Value };
    let attended: Value;
    if (slots) {
      newKv.push(op.unsqueeze(g, k, [0]), op.unsqueeze(g, v, [0]));
      // Scores against the cached keys and against this step's own, joined along the keys (the
      // bias and softmax as below), then the two products with the values added.
      const grouped = rep === 1 ? q : reshape(q, [0, d.kvHeads, -1, d.headDim], [B, d.kvHeads, 'rep_seq', d.headDim]);
      const rows = rep === 1 ? S : 'rep_seq';
      const scores = node(
        'Concat',
        [op.matmul(g, grouped, op.transposeLast(g, pastLayer.key)), op.matmul(g, grouped, op.transposeLast(g, k))],
        [B, d.kvHeads, rows, T],
        f,
        { axis: int(-1) },
      );
      const probs = op.softmax(g, op.add(g, scaled(scores), rep === 1 ? bias : (tiledBias as Value)), -1);
      const last = g.ints([-1]);
      const toPast = node('Slice', [probs, g.ints([0]), pastLen, last], [B, d.kvHeads, rows, P]);
      const toNew = node('Slice', [probs, pastLen, g.ints([Number.MAX_SAFE_INTEGER]), last], [B, d.kvHeads, rows, S]);
      const both = op.add(g, op.matmul(g, toPast, pastLayer.value), op.matmul(g, toNew, v));
      attended = rep === 1 ? both : reshape(both, [0, d.heads, -1, d.headDim], [B, d.heads, S, d.headDim]);
    } else {
      const keys = node('Concat', [pastLayer.key, k], [B, d.kvHeads, T, d.headDim], f, { axis: int(2) });
      const values = node('Concat', [pastLayer.value, v], [B, d.kvHeads, T, d.headDim], f, { axis: int(2) });
      if (timeMajor) {
        // Only this step's keys and values go out, time first: the caller appends them to its
        // own buffer, whose first `total` rows are the next step's past as they are (no copy).
        g.output(op.transpose(g, k, [2, 0, 1, 3]), `present.${i}.key`);
        g.output(op.transpose(g, v, [2, 0, 1, 3]), `present.${i}.value`);
      } else {
        g.output(keys, `present.${i}.key`);
        g.output(values, `present.${i}.value`);
      }
      if (rep === 1) {
        const scores = op.add(g, scaled(op.matmul(g, q, op.transposeLast(g, keys))), bias);
        attended = op.matmul(g, op.softmax(g, scores, -1), values);
      } else {
        // Grouped-query attention without copying keys and values per head: the `rep` query heads
        // of one kv head are stacked as rows ([B, kv_heads, rep * S, head_dim]), so each step reads
        // the cache as it is rather than an expanded copy of it.
        const grouped = reshape(q, [0, d.kvHeads, -1, d.headDim], [B, d.kvHeads, 'rep_seq', d.headDim]);
        const scores = op.add(g, scaled(op.matmul(g, grouped, op.transposeLast(g, keys))), tiledBias as Value);
        attended = reshape(op.matmul(g, op.softmax(g, scores, -1), values), [0, d.heads, -1, d.headDim], [B, d.heads, S, d.headDim]);
      }
    }
    const merged = reshape(op.transpose(g, attended, [0, 2, 1, 3]), [0, 0, d.heads * d.headDim], [B, S, d.heads * d.headDim]);
    h = op.add(g, h, linear(merged, `${pre}.self_attn.o_proj.weight`));
    const y = rmsNorm(h, `${pre}.post_attention_layernorm.weight`);
    const [gateX, up] = linears(y, [`${pre}.mlp.gate_proj.weight`, `${pre}.mlp.up_proj.weight`]) as [Value, Value];
    h = op.add(g, h, linear(op.mul(g, op.silu(g, gateX), up), `${pre}.mlp.down_proj.weight`));
  }
  if (fused)
    // The step's own cache rows, for the engine to append: every layer's packed q|k|v projection
    // in one output, [layers * batch, seq, (heads + 2 * kv_heads) * head_dim], keys before the
    // rotary embedding (the engine applies it with the same tables). Fetching the whole `present`
    // would cost a copy of the cache into JavaScript every step, and each fetched output costs
    // the binding a tensor of its own.
    g.output(node('Concat', newRows, ['rows', S, (d.heads + 2 * d.kvHeads) * d.headDim], f, { axis: int(0) }), 'new_rows');
  if (slots)
    // [layers * 2, batch, kv_heads, seq, head_dim]: layer i's keys at 2i, its values at 2i + 1. One
    // output instead of two per layer (each fetched output costs the binding a tensor of its own).
    g.output(node('Concat', newKv, ['kv', B, d.kvHeads, S, d.headDim], f, { axis: int(0) }), 'new_kv');
  if (pending) [h] = skipNorm(pending, h, 'model.norm.weight');
  else h = rmsNorm(h, 'model.norm.weight');
  if (timeMajor || fused || slots) {
    // `logits_to_keep` (a scalar): the LM head runs on the last positions only (1 when decoding),
    // so a prompt's prefill does not compute, and copy out, logits nobody reads.
    const keep = g.input('logits_to_keep', 'int64', []);
    const last = node(
      'Slice',
      [h, node('Neg', [op.unsqueeze(g, keep, [0])], [1], 'int64'), g.ints([Number.MAX_SAFE_INTEGER]), g.ints([1])],
      [B, 'kept', d.hidden],
    );
    const logits = lmHead(last);
    g.output(logits, 'logits');
    if (slots) {
      // The most likely tokens of each row, highest first (ties to the lower id), for samplers
      // that keep at most that many: fetched instead of the logits, they spare a step the copy of
      // a vocabulary per row into JavaScript and the search through it.
      const k = Math.min(SAMPLING_CANDIDATES, d.vocab);
      const [top, ids] = g.node('TopK', [logits, g.ints([k])], { axis: int(-1), largest: int(1), sorted: int(1) }, [
        { dtype: f, shape: [B, 'kept', k] },
        { dtype: 'int64', shape: [B, 'kept', k] },
      ]) as [Value, Value];
      g.output(top, 'top_logits');
      g.output(ids, 'top_ids');
    }
  } else {
    g.output(lmHead(h), 'logits');
  }
  return g;
}
