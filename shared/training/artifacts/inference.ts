import { Graph, int, tensor, type Tensor, type Value } from '../graph/ir';
import * as op from '../graph/ops';
import { parameterShapes, type ModelDims } from '../model/config';
import { linear as hfLinear, ropeTables, rotateHalfMatrix } from '../model/llama';

/**
 * The inference artifact: the same Llama-family forward pass with a KV cache and dynamic
 * shapes, under the input and output names `@huggingface/transformers` uses for decoder-only
 * models, so transformers.js can load it and `generate()` with it:
 *   inputs  `input_ids` [batch, seq], `attention_mask` [batch, total], `position_ids` [batch, seq],
 *           `past_key_values.<i>.key` / `.value` [batch, kv_heads, past, head_dim]
 *   outputs `logits` [batch, seq, vocab], `present.<i>.key` / `.value` [batch, kv_heads, total, head_dim]
 * Weights are initializers (float32). Keys are cached after the rotary embedding, as Hugging
 * Face's models do.
 */
export function buildInference(dims: ModelDims, weights: ReadonlyMap<string, Tensor>, maxPositions: number): Graph {
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
  const past = Array.from({ length: d.layers }, (_, i) => ({
    key: g.input(`past_key_values.${i}.key`, f, [B, d.kvHeads, P, d.headDim]),
    value: g.input(`past_key_values.${i}.value`, f, [B, d.kvHeads, P, d.headDim]),
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
  const linear = (x: Value, name: string, bias?: string) => hfLinear(g, x, w(name), bias ? w(bias) : undefined);

  // Rotary tables for every position, picked by position_ids: [B, 1, S, head_dim].
  const { cos, sin } = ropeTables(d, maxPositions);
  const cosTable = g.initializer('rope.cos', tensor(f, [maxPositions, d.headDim], cos));
  const sinTable = g.initializer('rope.sin', tensor(f, [maxPositions, d.headDim], sin));
  const cosAt = op.unsqueeze(g, op.gather(g, cosTable, positions), [1]);
  const sinAt = op.unsqueeze(g, op.gather(g, sinTable, positions), [1]);
  const rotate = g.constant(tensor(f, [d.headDim, d.headDim], rotateHalfMatrix(d.headDim)), 'rope_rotate');
  const rope = (x: Value) => op.add(g, op.mul(g, x, cosAt), op.mul(g, op.matmul(g, x, rotate), sinAt));

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
  const causal = node('LessOrEqual', [op.unsqueeze(g, kIndex, [0]), op.unsqueeze(g, qIndex, [1])], [S, T], 'bool');
  const notPad = node('Cast', [op.unsqueeze(g, attentionMask, [1, 2])], [B, 1, 1, T], 'bool', { to: int(9) });
  const allowed = node('And', [causal, notPad], [B, 1, S, T], 'bool');
  const bias = node('Where', [allowed, g.scalar(f, 0), g.scalar(f, -1e9)], [B, 1, S, T]);

  const scale = g.scalar(f, 1 / Math.sqrt(d.headDim));
  const rep = d.heads / d.kvHeads;
  const toHeads = (x: Value, n: number) => op.transpose(g, reshape(x, [0, 0, n, d.headDim], [B, S, n, d.headDim]), [0, 2, 1, 3]);

  let h = op.gather(g, w('model.embed_tokens.weight'), ids);
  for (let i = 0; i < d.layers; i++) {
    const pre = `model.layers.${i}`;
    const x = op.rmsNorm(g, h, w(`${pre}.input_layernorm.weight`), d.eps);
    const b = (n: string) => (d.attentionBias ? `${pre}.self_attn.${n}.bias` : undefined);
    let q = toHeads(linear(x, `${pre}.self_attn.q_proj.weight`, b('q_proj')), d.heads);
    let k = toHeads(linear(x, `${pre}.self_attn.k_proj.weight`, b('k_proj')), d.kvHeads);
    const v = toHeads(linear(x, `${pre}.self_attn.v_proj.weight`, b('v_proj')), d.kvHeads);
    if (d.qkNorm) {
      q = op.rmsNorm(g, q, w(`${pre}.self_attn.q_norm.weight`), d.eps);
      k = op.rmsNorm(g, k, w(`${pre}.self_attn.k_norm.weight`), d.eps);
    }
    q = rope(q);
    k = rope(k);
    const pastLayer = past[i] as { key: Value; value: Value };
    const keys = node('Concat', [pastLayer.key, k], [B, d.kvHeads, T, d.headDim], f, { axis: int(2) });
    const values = node('Concat', [pastLayer.value, v], [B, d.kvHeads, T, d.headDim], f, { axis: int(2) });
    g.output(keys, `present.${i}.key`);
    g.output(values, `present.${i}.value`);
    let attended: Value;
    if (rep === 1) {
      const scores = op.add(g, op.mul(g, op.matmul(g, q, op.transposeLast(g, keys)), scale), bias);
      attended = op.matmul(g, op.softmax(g, scores, -1), values);
    } else {
      // Grouped-query attention without copying keys and values per head: the `rep` query heads
      // of one kv head are stacked as rows ([B, kv_heads, rep * S, head_dim]), so each step reads
      // the cache as it is rather than an expanded copy of it.
      const grouped = reshape(q, [0, d.kvHeads, -1, d.headDim], [B, d.kvHeads, 'rep_seq', d.headDim]);
      const tiledBias = node('Tile', [bias, g.ints([1, 1, rep, 1])], [B, 1, 'rep_seq', T]);
      const scores = op.add(g, op.mul(g, op.matmul(g, grouped, op.transposeLast(g, keys)), scale), tiledBias);
      attended = reshape(op.matmul(g, op.softmax(g, scores, -1), values), [0, d.heads, -1, d.headDim], [B, d.heads, S, d.headDim]);
    }
    const merged = reshape(op.transpose(g, attended, [0, 2, 1, 3]), [0, 0, d.heads * d.headDim], [B, S, d.heads * d.headDim]);
    h = op.add(g, h, linear(merged, `${pre}.self_attn.o_proj.weight`));
    const y = op.rmsNorm(g, h, w(`${pre}.post_attention_layernorm.weight`), d.eps);
    const gate = op.silu(g, linear(y, `${pre}.mlp.gate_proj.weight`));
    h = op.add(g, h, linear(op.mul(g, gate, linear(y, `${pre}.mlp.up_proj.weight`)), `${pre}.mlp.down_proj.weight`));
  }
  h = op.rmsNorm(g, h, w('model.norm.weight'), d.eps);
  g.output(linear(h, d.tied ? 'model.embed_tokens.weight' : 'lm_head.weight'), 'logits');
  return g;
}
