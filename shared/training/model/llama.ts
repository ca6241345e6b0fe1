import { tensor, type DType, type Graph, type Value } from '../graph/ir';
import * as op from '../graph/ops';
import { ropeInverseFrequencies, type ModelDims } from './config';

/**
 * The Llama-family forward pass as graph nodes, for a fixed [batch, seq] bucket (training and
 * evaluation use static shapes with a loss mask): embedding, per layer RMSNorm -> grouped-query
 * attention with rotary embeddings (Qwen3: RMSNorm on each head's q and k; Qwen2: biases) ->
 * residual -> RMSNorm -> SwiGLU MLP -> residual, then the final norm and the LM head (the
 * embedding matrix when tied). Weights use Hugging Face's names and layouts.
 */

/** Rotary tables for positions 0..seq-1, [seq, headDim], as Hugging Face computes them (rotate-half layout). */
export function ropeTables(d: ModelDims, seq: number): { cos: number[]; sin: number[] } {
  const half = d.headDim / 2;
  const inverse = ropeInverseFrequencies(d);
  const cos: number[] = [];
  const sin: number[] = [];
  for (let p = 0; p < seq; p++) {
    for (let j = 0; j < d.headDim; j++) {
      const invFreq = inverse[j % half] as number;
      cos.push(Math.cos(p * invFreq));
      sin.push(Math.sin(p * invFreq));
    }
  }
  return { cos, sin };
}

/**
 * The rotary tables onnxruntime's RotaryEmbedding and GroupQueryAttention take (rotate-half
 * layout), [positions, head_dim / 2] in float32: cos and sin of every position for the first half
 * of a head (the second half repeats them). The fused engine rotates the keys it caches with them.
 */
export function rotaryCaches(d: ModelDims, positions: number): { cos: Float32Array; sin: Float32Array } {
  const { cos, sin } = ropeTables(d, positions);
  const half = d.headDim / 2;
  const firstHalf = (table: number[]) =>
    Float32Array.from({ length: positions * half }, (_, k) => table[Math.floor(k / half) * d.headDim + (k % half)] as number);
  return { cos: firstHalf(cos), sin: firstHalf(sin) };
}

/** rotate_half as a matrix: x @ R = concat(-x[half:], x[:half]). */
export function rotateHalfMatrix(headDim: number): number[] {
  const half = headDim / 2;
  const r = new Array<number>(headDim * headDim).fill(0);
  for (let j = 0; j < half; j++) r[(j + half) * headDim + j] = -1;
  for (let j = half; j < headDim; j++) r[(j - half) * headDim + j] = 1;
  return r;
}

/** A LoRA adapter of one Linear weight W [out, in]: A [rank, in], B [out, rank], scale alpha / rank. */
export interface LoraAdapter {
  a: Value;
  b: Value;
  scale: number;
}

export interface ForwardOptions {
  batch: number;
  seq: number;
  dtype: DType;
  /** LoRA adapters by weight name: those Linear layers compute x W^T + scale (x A^T) B^T. */
  adapters?: ReadonlyMap<string, LoraAdapter>;
}

/**
 * A Linear layer with Hugging Face's [out, in] weight: x @ W^T (+ b), plus its LoRA adapter's
 * low-rank path when it has one. Keeping the adapter's path apart (rather than merging B A into
 * W) means training never forms a full [out, in] weight or its gradient: the backward pass of a
 * frozen W is the gradient of x alone.
 */
export function linear(g: Graph, x: Value, w: Value, b?: Value, adapter?: LoraAdapter): Value {
  // A frozen weight kept in float16 (a LoRA base on a GPU): the product runs in float16 and its
  // result comes back as float32, so the adapters, norms, loss and optimizer stay in float32.
  // Every weight is read as it is (FusedMatMul with transB) by both products, x W^T here and
  // dY W in the backward pass, and a trained one's gradient comes out in W's own layout: a
  // Transpose of a frozen weight would be folded into a second copy of the whole weight, and of
  // a trained one costs a copy of it and of its gradient every step.
  const product = (a: Value) => op.matmulTransB(g, a, w);
  let y = w.dtype === x.dtype ? product(x) : op.cast(g, product(op.cast(g, x, w.dtype)), x.dtype);
  if (adapter) {
    const low = op.matmulTransB(g, op.matmulTransB(g, x, adapter.a), adapter.b);
    y = op.add(g, y, op.mul(g, low, g.scalar(x.dtype, adapter.scale)));
  }
  return b ? op.add(g, y, b) : y;
}

/** Whether query position `q` attends to key position `k`: causal, and within the sliding window when there is one. */
export function visible(q: number, k: number, slidingWindow?: number): boolean {
  return k <= q && (slidingWindow === undefined || q - k < slidingWindow);
}

/**
 * The rotary embedding of [batch, heads, seq, headDim] queries or keys at positions 0..seq-1:
 * onnxruntime's RotaryEmbedding kernel where it takes the dtype (float32, float16), else
 * x cos + rotate_half(x) sin in plain nodes (float64, which the gradient tests use).
 */
function ropeOf(g: Graph, d: ModelDims, batch: number, seq: number, dtype: DType): (x: Value) => Value {
  if (dtype === 'float32' || dtype === 'float16') {
    const caches = rotaryCaches(d, seq);
    const half = d.headDim / 2;
    const cos = g.constant(tensor(dtype, [seq, half], caches.cos), 'rope_cos');
    const sin = g.constant(tensor(dtype, [seq, half], caches.sin), 'rope_sin');
    const positions = g.constant(
      tensor(
        'int64',
        [batch, seq],
        Array.from({ length: batch * seq }, (_, k) => k % seq),
      ),
      'rope_positions',
    );
    return (x) => op.rotaryEmbedding(g, x, positions, cos, sin);
  }
  const { cos, sin } = ropeTables(d, seq);
  const cosT = g.constant(tensor(dtype, [seq, d.headDim], cos), 'rope_cos');
  const sinT = g.constant(tensor(dtype, [seq, d.headDim], sin), 'rope_sin');
  const rot = g.constant(tensor(dtype, [d.headDim, d.headDim], rotateHalfMatrix(d.headDim)), 'rope_rotate');
  return (x) => op.add(g, op.mul(g, x, cosT), op.mul(g, op.matmul(g, x, rot), sinT));
}

export function llamaForward(
  g: Graph,
  d: ModelDims,
  params: ReadonlyMap<string, Value>,
  ids: Value,
  { batch, seq, dtype, adapters }: ForwardOptions,
): Value {
  const p = (name: string): Value => {
    const v = params.get(name);
    if (!v) throw new Error(`missing parameter ${name}`);
    return v;
  };
  /** The Linear layer of weight `name` (with its adapter, if any). */
  const lin = (x: Value, name: string, b?: Value) => linear(g, x, p(name), b, adapters?.get(name));
  const rope = ropeOf(g, d, batch, seq, dtype);
  const mask = g.constant(
    tensor(
      dtype,
      [seq, seq],
      Array.from({ length: seq * seq }, (_, k) => (visible(Math.floor(k / seq), k % seq, d.slidingWindow) ? 0 : -1e9)),
    ),
    'causal_mask',
  );
  const scale = g.scalar(dtype, 1 / Math.sqrt(d.headDim));
  const heads = (x: Value, n: number) => op.transpose(g, op.reshape(g, x, [batch, seq, n, d.headDim]), [0, 2, 1, 3]);
  const rep = d.heads / d.kvHeads;
  const repeatKv = (x: Value): Value => {
    if (rep === 1) return x;
    const five = op.reshape(g, x, [batch, d.kvHeads, 1, seq, d.headDim]);
    return op.reshape(g, op.expand(g, five, [batch, d.kvHeads, rep, seq, d.headDim]), [batch, d.heads, seq, d.headDim]);
  };

  let h = op.cast(g, op.gather(g, p('model.embed_tokens.weight'), ids), dtype);
  for (let i = 0; i < d.layers; i++) {
    const pre = `model.layers.${i}`;
    const x = op.rmsNorm(g, h, p(`${pre}.input_layernorm.weight`), d.eps);
    const bias = (name: string) => (d.attentionBias ? p(`${pre}.self_attn.${name}.bias`) : undefined);
    let q = heads(lin(x, `${pre}.self_attn.q_proj.weight`, bias('q_proj')), d.heads);
    let k = heads(lin(x, `${pre}.self_attn.k_proj.weight`, bias('k_proj')), d.kvHeads);
    const v = heads(lin(x, `${pre}.self_attn.v_proj.weight`, bias('v_proj')), d.kvHeads);
    if (d.qkNorm) {
      q = op.rmsNorm(g, q, p(`${pre}.self_attn.q_norm.weight`), d.eps);
      k = op.rmsNorm(g, k, p(`${pre}.self_attn.k_norm.weight`), d.eps);
    }
    q = rope(q);
    k = rope(k);
    const scores = op.add(g, op.mul(g, op.matmul(g, q, op.transposeLast(g, repeatKv(k))), scale), mask);
    const attended = op.matmul(g, op.softmax(g, scores, -1), repeatKv(v));
    const merged = op.reshape(g, op.transpose(g, attended, [0, 2, 1, 3]), [batch, seq, d.heads * d.headDim]);
    h = op.add(g, h, lin(merged, `${pre}.self_attn.o_proj.weight`));
    const y = op.rmsNorm(g, h, p(`${pre}.post_attention_layernorm.weight`), d.eps);
    const gate = op.silu(g, lin(y, `${pre}.mlp.gate_proj.weight`));
    const up = lin(y, `${pre}.mlp.up_proj.weight`);
    h = op.add(g, h, lin(op.mul(g, gate, up), `${pre}.mlp.down_proj.weight`));
  }
  h = op.rmsNorm(g, h, p('model.norm.weight'), d.eps);
  return linear(g, h, d.tied ? p('model.embed_tokens.weight') : p('lm_head.weight'));
}

/**
 * Next-token cross-entropy averaged over the tokens the mask selects (assistant tokens in
 * training): logits [b, s, V], targets [b, s] (int64), mask [b, s] (1 = counts).
 */
export function maskedCrossEntropy(g: Graph, logits: Value, targets: Value, mask: Value): Value {
  const logp = op.logSoftmax(g, logits, -1);
  const picked = op.gatherElements(g, logp, op.unsqueeze(g, targets, [-1]), -1);
  const tokenLogp = op.reshape(g, picked, targets.shape);
  const total = op.sumAll(g, op.mul(g, tokenLogp, mask));
  const count = g.node('Max', [op.sumAll(g, mask), g.scalar(mask.dtype, 1)], {}, [{ dtype: mask.dtype, shape: [] }])[0] as Value;
  return op.neg(g, op.div(g, total, count));
}
