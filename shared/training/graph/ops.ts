import { Graph, int, ints, isFloat, sameDim, tensor, type Attr, type Dim, type DType, type Node, type Shape, type Value } from './ir';

/**
 * The ops of Pixel's graphs: for each one, the forward builder (with shape inference) and its
 * gradient rule side by side. A gradient rule gets the node, its input and output values and
 * the gradient of its (first) output, and returns one gradient per input (undefined where an
 * input has none, e.g. indices). Broadcasting ops reduce their gradients back to each input's
 * shape with {@link unbroadcast}.
 */

export interface GradContext {
  g: Graph;
  node: Node;
  inputs: Value[];
  output: Value;
  grad: Value;
}

export type GradRule = (ctx: GradContext) => (Value | undefined)[];

const RULES = new Map<string, GradRule>();
/** Ops whose outputs carry no gradient at all (shape and index computations). */
const NON_DIFFERENTIABLE = new Set(['Shape', 'Constant', 'Equal', 'Less', 'Greater', 'Not', 'Cast_int', 'ArgMax', 'Trilu_mask']);

export function gradRule(op: string): GradRule | undefined {
  return RULES.get(op);
}
export function isDifferentiable(op: string): boolean {
  return RULES.has(op) && !NON_DIFFERENTIABLE.has(op);
}

// ---------------------------------------------------------------------------------------------
// Shape helpers

/** Numpy broadcasting of two shapes; throws on a mismatch it can see. */
export function broadcastShapes(a: Shape, b: Shape): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x === 1) out.push(y);
    else if (y === 1 || sameDim(x, y)) out.push(x);
    else throw new Error(`cannot broadcast [${a.join(', ')}] with [${b.join(', ')}]`);
  }
  return out;
}

function sameDtype(op: string, values: readonly Value[]): DType {
  const d = (values[0] as Value).dtype;
  for (const v of values) if (v.dtype !== d) throw new Error(`${op}: mixed dtypes ${values.map((x) => x.dtype).join(', ')}`);
  return d;
}

const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

// ---------------------------------------------------------------------------------------------
// Elementwise

function binary(op: string) {
  return (g: Graph, a: Value, b: Value): Value =>
    g.node(op, [a, b], {}, [{ dtype: sameDtype(op, [a, b]), shape: broadcastShapes(a.shape, b.shape) }])[0] as Value;
}
function unary(op: string) {
  return (g: Graph, a: Value): Value => g.node(op, [a], {}, [{ dtype: a.dtype, shape: a.shape }])[0] as Value;
}

export const add = binary('Add');
export const sub = binary('Sub');
export const mul = binary('Mul');
export const div = binary('Div');
export const neg = unary('Neg');
export const exp = unary('Exp');
export const log = unary('Log');
export const sqrt = unary('Sqrt');
export const sigmoid = unary('Sigmoid');
export const tanh = unary('Tanh');
export const identity = unary('Identity');

/**
 * Sums `grad` (shaped like a broadcast result) back to `shape`: over the leading axes `shape`
 * lacks and over the axes where `shape` has 1.
 */
export function unbroadcast(g: Graph, grad: Value, shape: Shape): Value {
  const r = grad.shape.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < grad.shape.length; i++) {
    if (i < r) axes.push(i);
    else if (shape[i - r] === 1 && grad.shape[i] !== 1) axes.push(i);
  }
  if (axes.length === 0 && r === 0) return grad;
  const summed = axes.length > 0 ? reduceSum(g, grad, axes, true) : grad;
  return sameShape(summed.shape, shape) ? summed : reshape(g, summed, shape);
}

const sameShape = (a: Shape, b: Shape) => a.length === b.length && a.every((d, i) => sameDim(d, b[i] as Dim));

RULES.set('Add', ({ g, inputs: [a, b], grad }) => [unbroadcast(g, grad, (a as Value).shape), unbroadcast(g, grad, (b as Value).shape)]);
RULES.set('Sub', ({ g, inputs: [a, b], grad }) => [unbroadcast(g, grad, (a as Value).shape), unbroadcast(g, neg(g, grad), (b as Value).shape)]);
RULES.set('Mul', ({ g, inputs: [a, b], grad }) => [
  unbroadcast(g, mul(g, grad, b as Value), (a as Value).shape),
  unbroadcast(g, mul(g, grad, a as Value), (b as Value).shape),
]);
RULES.set('Div', ({ g, inputs: [a, b], output, grad }) => {
  const ga = div(g, grad, b as Value);
  // d(a/b)/db = -a/b^2 = -out/b
  const gb = neg(g, div(g, mul(g, grad, output), b as Value));
  return [unbroadcast(g, ga, (a as Value).shape), unbroadcast(g, gb, (b as Value).shape)];
});
RULES.set('Neg', ({ g, grad }) => [neg(g, grad)]);
RULES.set('Identity', ({ grad }) => [grad]);
RULES.set('Exp', ({ g, output, grad }) => [mul(g, grad, output)]);
RULES.set('Log', ({ g, inputs: [a], grad }) => [div(g, grad, a as Value)]);
RULES.set('Sqrt', ({ g, output, grad }) => [div(g, mul(g, grad, g.scalar(output.dtype, 0.5)), output)]);
RULES.set('Sigmoid', ({ g, output, grad }) => [mul(g, grad, mul(g, output, sub(g, g.scalar(output.dtype, 1), output)))]);
RULES.set('Tanh', ({ g, output, grad }) => [mul(g, grad, sub(g, g.scalar(output.dtype, 1), mul(g, output, output)))]);

// ---------------------------------------------------------------------------------------------
// Matrix product (batched, with broadcasting of the leading axes)

export function matmul(g: Graph, a: Value, b: Value): Value {
  const dtype = sameDtype('MatMul', [a, b]);
  if (a.shape.length < 2 || b.shape.length < 2) throw new Error('matmul needs inputs of rank 2 or more');
  const [m, k1] = a.shape.slice(-2) as [Dim, Dim];
  const [k2, n] = b.shape.slice(-2) as [Dim, Dim];
  if (!sameDim(k1, k2)) throw new Error(`matmul: inner dimensions differ (${k1} vs ${k2})`);
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
  return g.node('MatMul', [a, b], {}, [{ dtype, shape: [...batch, m, n] }])[0] as Value;
}

/**
 * x @ w^T for a weight in Hugging Face's [out, in] layout, as onnxruntime's FusedMatMul with
 * transB: no transposed copy of w is ever made (a Transpose of a frozen weight is constant-folded
 * into a second copy of it, which for a large base is gigabytes). Its gradient reads w as it is.
 */
export function matmulTransB(g: Graph, x: Value, w: Value): Value {
  const dtype = sameDtype('FusedMatMul', [x, w]);
  if (w.shape.length !== 2) throw new Error('matmulTransB needs a 2-D weight');
  const [out, inp] = w.shape as [Dim, Dim];
  if (!sameDim(x.shape[x.shape.length - 1] as Dim, inp))
    throw new Error(`matmulTransB: inner dimensions differ (${x.shape[x.shape.length - 1]} vs ${inp})`);
  return g.node(
    'FusedMatMul',
    [x, w],
    { transA: int(0), transB: int(1), alpha: { kind: 'float', value: 1 } },
    [{ dtype, shape: [...x.shape.slice(0, -1), out] }],
    'fmm',
    'com.microsoft',
  )[0] as Value;
}
/**
 * A weight's gradient dy^T x is taken as a plain product of an explicit transposed copy of dy
 * when x has at least this many columns and dy at most {@link PLAIN_WEIGHT_GRADIENT_MAX_ROWS}.
 * onnxruntime would otherwise fuse the Transpose into the product (transA), and MLAS then
 * transposes panels of dy again for every block of columns: measured on the 13.7M model's full
 * step (2 cores, AVX-512), those products took 4.0 ms each fused against 2.7 ms plain, for about
 * 0.3 ms of copying. A LoRA adapter's B (x of rank columns) keeps the fused product, where the
 * copy would cost more than the product; so does an LM head over a large vocabulary, where the
 * copy is as large as the logits (a 131k vocabulary's full fine-tuning peaked 5% higher).
 */
const PLAIN_WEIGHT_GRADIENT_MIN_COLUMNS = 256;
const PLAIN_WEIGHT_GRADIENT_MAX_ROWS = 16384;

RULES.set('FusedMatMul', ({ g, inputs: [x, w], grad }) => {
  const X = x as Value;
  const W = w as Value;
  const [out, inp] = W.shape as [number, number];
  // dx = dy @ w; dw = dy^T @ x over every leading position.
  const dx = matmul(g, grad, W);
  // The transposed copy goes through a rank-3 view so that it is no longer a Transpose of the
  // last two axes feeding a MatMul, which is what onnxruntime fuses.
  const dyT =
    inp >= PLAIN_WEIGHT_GRADIENT_MIN_COLUMNS && out <= PLAIN_WEIGHT_GRADIENT_MAX_ROWS
      ? reshape(g, transpose(g, reshape(g, grad, [-1, 1, out]), [2, 0, 1]), [out, -1])
      : transpose(g, reshape(g, grad, [-1, out]), [1, 0]);
  const dw = matmul(g, dyT, reshape(g, X, [-1, inp]));
  return [dx, dw];
});

/**
 * Rotary position embedding in the rotate-half layout as onnxruntime's RotaryEmbedding
 * (com.microsoft): x [batch, heads, seq, headDim], positions [batch, seq] (int64), cos and sin
 * [positions, headDim / 2] (the first half of each head's table; the second half repeats it).
 * One kernel each way instead of x cos + rotate_half(x) sin, which is four nodes forward and as
 * many back. The kernel takes float32 and float16.
 */
export function rotaryEmbedding(g: Graph, x: Value, positions: Value, cos: Value, sin: Value): Value {
  if (x.dtype !== 'float32' && x.dtype !== 'float16') throw new Error(`rotaryEmbedding takes float32 or float16, not ${x.dtype}`);
  if (x.shape.length !== 4) throw new Error('rotaryEmbedding takes x as [batch, heads, seq, headDim]');
  return g.node(
    'RotaryEmbedding',
    [x, positions, cos, sin],
    { interleaved: int(0) },
    [{ dtype: x.dtype, shape: x.shape }],
    'rope',
    'com.microsoft',
  )[0] as Value;
}
// Each pair (j, j + headDim/2) is rotated by its position's angle, an orthogonal map: its
// gradient rotates back by the negated angle, the same kernel with the sine table negated.
RULES.set('RotaryEmbedding', ({ g, inputs: [, positions, cos, sin], grad }) => [
  rotaryEmbedding(g, grad, positions as Value, cos as Value, neg(g, sin as Value)),
  undefined,
  undefined,
  undefined,
]);

/** Swaps the last two axes. */
export function transposeLast(g: Graph, a: Value): Value {
  const r = a.shape.length;
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [perm[r - 1] as number, perm[r - 2] as number];
  return transpose(g, a, perm);
}

RULES.set('MatMul', ({ g, inputs: [a, b], grad }) => {
  const A = a as Value;
  const B = b as Value;
  const gA = unbroadcast(g, matmul(g, grad, transposeLast(g, B)), A.shape);
  // A shared weight ([k, n]) under batched activations ([..., m, k]): one large product over all
  // rows, x^T g with x as [rows, k], instead of one per batch element summed afterwards.
  if (B.shape.length === 2 && A.shape.length > 2 && A.shape.every((d) => typeof d === 'number') && grad.shape.every((d) => typeof d === 'number')) {
    const k = A.shape[A.shape.length - 1] as number;
    const n = grad.shape[grad.shape.length - 1] as number;
    return [gA, matmul(g, transposeLast(g, reshape(g, A, [-1, k])), reshape(g, grad, [-1, n]))];
  }
  return [gA, unbroadcast(g, matmul(g, transposeLast(g, A), grad), B.shape)];
});

// ---------------------------------------------------------------------------------------------
// Layout

export function transpose(g: Graph, a: Value, perm: readonly number[]): Value {
  if (perm.length !== a.shape.length) throw new Error(`transpose: perm of length ${perm.length} for rank ${a.shape.length}`);
  return g.node('Transpose', [a], { perm: ints(perm) }, [{ dtype: a.dtype, shape: perm.map((p) => a.shape[p] as Dim) }])[0] as Value;
}
RULES.set('Transpose', ({ g, node, grad }) => {
  const perm = (node.attrs.perm as Extract<Attr, { kind: 'ints' }>).value;
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  return [transpose(g, grad, inverse)];
});

/** Reshape to a static shape (numbers; -1 once for "the rest"). */
export function reshape(g: Graph, a: Value, shape: Shape): Value {
  if (!shape.every((d) => typeof d === 'number')) throw new Error('reshape takes a static shape; use reshapeLike for symbolic ones');
  const dims = shape as number[];
  let out: Dim[] = dims;
  if (dims.includes(-1)) {
    const total = a.shape.every((d) => typeof d === 'number') ? (a.shape as number[]).reduce((x, y) => x * y, 1) : undefined;
    const known = dims.filter((d) => d !== -1).reduce((x, y) => x * y, 1);
    out = dims.map((d) => (d === -1 ? (total !== undefined ? total / known : 'reshaped') : d));
  }
  return g.node('Reshape', [a, g.ints(dims)], {}, [{ dtype: a.dtype, shape: out }])[0] as Value;
}

/** Reshape `a` to the runtime shape of `like` (works with symbolic dimensions). */
export function reshapeLike(g: Graph, a: Value, like: Value): Value {
  const shape = g.node('Shape', [like], {}, [{ dtype: 'int64', shape: [like.shape.length] }])[0] as Value;
  return g.node('Reshape', [a, shape], {}, [{ dtype: a.dtype, shape: like.shape }])[0] as Value;
}

RULES.set('Reshape', ({ g, inputs: [a], grad }) => [reshapeLike(g, grad, a as Value), undefined]);

// ---------------------------------------------------------------------------------------------
// Reductions

function reduced(shape: Shape, axes: readonly number[], keepdims: boolean): Dim[] {
  const set = new Set(axes.map((x) => norm(x, shape.length)));
  return shape.flatMap((d, i) => (set.has(i) ? (keepdims ? [1] : []) : [d]));
}

export function reduceSum(g: Graph, a: Value, axes: readonly number[], keepdims = false): Value {
  return g.node('ReduceSum', [a, g.ints(axes)], { keepdims: int(keepdims ? 1 : 0) }, [
    { dtype: a.dtype, shape: reduced(a.shape, axes, keepdims) },
  ])[0] as Value;
}
export function reduceMean(g: Graph, a: Value, axes: readonly number[], keepdims = false): Value {
  return g.node('ReduceMean', [a, g.ints(axes)], { keepdims: int(keepdims ? 1 : 0) }, [
    { dtype: a.dtype, shape: reduced(a.shape, axes, keepdims) },
  ])[0] as Value;
}
/** Sum of every element (a scalar). */
export function sumAll(g: Graph, a: Value): Value {
  return reduceSum(g, a, [...a.shape.keys()], false);
}

/** Gradient of a reduction: back to the input's shape (reinserting dropped axes), times `scale`. */
function expandBack(g: Graph, grad: Value, input: Value, axes: readonly number[], keepdims: boolean): Value {
  let gk = grad;
  if (!keepdims) {
    const shape = reduced(input.shape, axes, true);
    gk = g.node('Unsqueeze', [grad, g.ints(axes.map((x) => norm(x, input.shape.length)).sort((x, y) => x - y))], {}, [
      { dtype: grad.dtype, shape },
    ])[0] as Value;
  }
  const target = g.node('Shape', [input], {}, [{ dtype: 'int64', shape: [input.shape.length] }])[0] as Value;
  return g.node('Expand', [gk, target], {}, [{ dtype: grad.dtype, shape: input.shape }])[0] as Value;
}

function reductionAxes(g: Graph, node: Node): { axes: number[]; keepdims: boolean } {
  const axesValue = node.inputs[1];
  const keepdims = ((node.attrs.keepdims as Extract<Attr, { kind: 'int' }> | undefined)?.value ?? 1) === 1;
  const producer = axesValue ? g.producers().get(axesValue) : undefined;
  const t = producer?.op === 'Constant' ? (producer.attrs.value as Extract<Attr, { kind: 'tensor' }>).value : undefined;
  if (!t) throw new Error(`${node.op}: the gradient needs constant axes`);
  return { axes: Array.from(t.data as BigInt64Array, Number), keepdims };
}

RULES.set('ReduceSum', ({ g, node, inputs: [a], grad }) => {
  const { axes, keepdims } = reductionAxes(g, node);
  return [expandBack(g, grad, a as Value, axes, keepdims), undefined];
});
RULES.set('ReduceMean', ({ g, node, inputs: [a], grad }) => {
  const { axes, keepdims } = reductionAxes(g, node);
  const A = a as Value;
  const count = axes
    .map((x) => A.shape[norm(x, A.shape.length)])
    .reduce<number>((p, d) => {
      if (typeof d !== 'number') throw new Error('ReduceMean: the gradient needs static reduced dimensions');
      return p * d;
    }, 1);
  return [expandBack(g, div(g, grad, g.scalar(grad.dtype, count)), A, axes, keepdims), undefined];
});

// ---------------------------------------------------------------------------------------------
// Softmax and gather

export function softmax(g: Graph, a: Value, axis = -1): Value {
  return g.node('Softmax', [a], { axis: int(axis) }, [{ dtype: a.dtype, shape: a.shape }])[0] as Value;
}
RULES.set('Softmax', ({ g, node, output, grad }) => {
  const axis = (node.attrs.axis as Extract<Attr, { kind: 'int' }>).value;
  // gx = y * (gy - sum(gy * y, axis))
  const dot = reduceSum(g, mul(g, grad, output), [axis], true);
  return [mul(g, output, sub(g, grad, dot))];
});

export function logSoftmax(g: Graph, a: Value, axis = -1): Value {
  return g.node('LogSoftmax', [a], { axis: int(axis) }, [{ dtype: a.dtype, shape: a.shape }])[0] as Value;
}
RULES.set('LogSoftmax', ({ g, node, output, grad }) => {
  const axis = (node.attrs.axis as Extract<Attr, { kind: 'int' }>).value;
  // gx = gy - softmax(x) * sum(gy, axis)
  return [sub(g, grad, mul(g, exp(g, output), reduceSum(g, grad, [axis], true)))];
});

/** Rows of `table` ([V, d]) picked by integer `ids` (any shape): an embedding lookup. */
const ONNX_TYPE: Partial<Record<DType, number>> = { float32: 1, float16: 10, float64: 11 };

/** Converts a float value to another float type (the frozen float16 base of a LoRA graph to and from float32). */
export function cast(g: Graph, x: Value, to: DType): Value {
  if (x.dtype === to) return x;
  const code = ONNX_TYPE[to];
  if (code === undefined || !isFloat(x.dtype)) throw new Error(`cast: ${x.dtype} to ${to} is not a float conversion`);
  return g.node('Cast', [x], { to: int(code) }, [{ dtype: to, shape: x.shape }])[0] as Value;
}
RULES.set('Cast', ({ g, inputs: [x], grad }) => [cast(g, grad, (x as Value).dtype)]);

export function gather(g: Graph, table: Value, ids: Value): Value {
  if (isFloat(ids.dtype)) throw new Error('gather: ids must be integers');
  return g.node('Gather', [table, ids], { axis: int(0) }, [{ dtype: table.dtype, shape: [...ids.shape, ...table.shape.slice(1)] }])[0] as Value;
}
RULES.set('Gather', ({ g, inputs: [table, ids], grad }) => {
  const T = table as Value;
  const I = ids as Value;
  // Scatter-add the rows' gradients into a zero table: correct with repeated ids.
  const zeros = g.node('Sub', [T, T], {}, [{ dtype: T.dtype, shape: T.shape }])[0] as Value;
  const index = g.node('Unsqueeze', [I, g.ints([-1])], {}, [{ dtype: I.dtype, shape: [...I.shape, 1] }])[0] as Value;
  const scattered = g.node('ScatterND', [zeros, index, grad], { reduction: { kind: 'string', value: 'add' } }, [
    { dtype: T.dtype, shape: T.shape },
  ])[0] as Value;
  return [scattered, undefined];
});

/** Broadcasts `a` to a static `shape` (numpy rules). */
export function expand(g: Graph, a: Value, shape: readonly number[]): Value {
  return g.node('Expand', [a, g.ints(shape)], {}, [{ dtype: a.dtype, shape: broadcastShapes(a.shape, shape) }])[0] as Value;
}
RULES.set('Expand', ({ g, inputs: [a], grad }) => [unbroadcast(g, grad, (a as Value).shape), undefined]);

/** `data` values picked along `axis` by integer `indices` of the same rank (per-token log-probabilities). */
export function gatherElements(g: Graph, data: Value, indices: Value, axis: number): Value {
  if (isFloat(indices.dtype)) throw new Error('gatherElements: indices must be integers');
  return g.node('GatherElements', [data, indices], { axis: int(axis) }, [{ dtype: data.dtype, shape: indices.shape }])[0] as Value;
}
RULES.set('GatherElements', ({ g, node, inputs: [data, indices], grad }) => {
  const D = data as Value;
  const axis = (node.attrs.axis as Extract<Attr, { kind: 'int' }>).value;
  const zeros = g.node('Sub', [D, D], {}, [{ dtype: D.dtype, shape: D.shape }])[0] as Value;
  const scattered = g.node('ScatterElements', [zeros, indices as Value, grad], { axis: int(axis), reduction: { kind: 'string', value: 'add' } }, [
    { dtype: D.dtype, shape: D.shape },
  ])[0] as Value;
  return [scattered, undefined];
});

/** Adds axes of size 1 at `axes` (of the output). */
export function unsqueeze(g: Graph, a: Value, axes: readonly number[]): Value {
  const rank = a.shape.length + axes.length;
  const at = new Set(axes.map((x) => norm(x, rank)));
  const shape: Dim[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) shape.push(at.has(i) ? 1 : (a.shape[k++] as Dim));
  return g.node('Unsqueeze', [a, g.ints(axes)], {}, [{ dtype: a.dtype, shape }])[0] as Value;
}
RULES.set('Unsqueeze', ({ g, inputs: [a], grad }) => [reshapeLike(g, grad, a as Value), undefined]);

// ---------------------------------------------------------------------------------------------
// Composites (built from the ops above, so their gradients come for free)

// Composites with a kernel of their own: in float32, one onnxruntime kernel forward and a
// hand-written backward of fewer passes than the composite's own rules would make (each pass
// reads and writes a whole activation: at 2 cores these element-wise passes were a quarter of
// a full fine-tuning step). In other dtypes (float64, which the finite-difference tests use;
// float16) they are built from the ops above, whose gradients come for free.

/** SiLU (swish): x * sigmoid(x); in float32 onnxruntime's QuickGelu with alpha 1, which is exactly that. */
export function silu(g: Graph, x: Value): Value {
  if (x.dtype !== 'float32') return mul(g, x, sigmoid(g, x));
  return g.node('QuickGelu', [x], { alpha: { kind: 'float', value: 1 } }, [{ dtype: x.dtype, shape: x.shape }], 'silu', 'com.microsoft')[0] as Value;
}
// d/dx x s(x) = s + x s (1 - s) = s (1 + x - y), with s = sigmoid(x) computed again (not kept
// from the forward pass) and y = x s the output.
RULES.set('QuickGelu', ({ g, node, inputs: [x], output, grad }) => {
  const alpha = node.attrs.alpha as Extract<Attr, { kind: 'float' }> | undefined;
  if (alpha?.value !== 1) throw new Error('QuickGelu has a gradient rule only for alpha 1 (SiLU)');
  const X = x as Value;
  return [mul(g, grad, mul(g, sigmoid(g, X), add(g, sub(g, X, output), g.scalar(X.dtype, 1))))];
});

/**
 * RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * weight; in float32 onnxruntime's
 * SimplifiedLayerNormalization, whose second output (1 / rms per row) the backward pass reads.
 */
export function rmsNorm(g: Graph, x: Value, weight: Value, eps: number): Value {
  if (x.dtype === 'float32' && weight.dtype === 'float32') {
    const stats = [...x.shape.slice(0, -1), 1];
    return g.node(
      'SimplifiedLayerNormalization',
      [x, weight],
      { axis: int(-1), epsilon: { kind: 'float', value: eps }, stash_type: int(1) },
      [
        { dtype: x.dtype, shape: x.shape },
        { dtype: 'float32', shape: stats },
      ],
      'rmsnorm',
    )[0] as Value;
  }
  const ms = reduceMean(g, mul(g, x, x), [-1], true);
  const inv = div(g, g.scalar(x.dtype, 1), sqrt(g, add(g, ms, g.scalar(x.dtype, eps))));
  return mul(g, mul(g, x, inv), weight);
}
// With r = 1 / rms (per row), xn = x r and gw = dy w:
//   dx = r (gw - xn mean(gw xn)),   dw = sum over rows of dy xn.
RULES.set('SimplifiedLayerNormalization', ({ g, node, inputs: [x, w], grad }) => {
  const X = x as Value;
  const W = w as Value;
  const r = g.value(node.outputs[1] as string);
  const xn = mul(g, X, r);
  const gw = mul(g, grad, W);
  const dx = mul(g, sub(g, gw, mul(g, xn, reduceMean(g, mul(g, gw, xn), [-1], true))), r);
  return [dx, unbroadcast(g, mul(g, grad, xn), W.shape)];
});

export { tensor };
