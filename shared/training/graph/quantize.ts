import { int, tensor, type Graph, type Value } from './ir';

/**
 * A Linear weight W [n, k] quantized in blocks of `blockSize` along k, asymmetric (a scale and a
 * zero point per block): w = (q - zp) * scale with q in [0, 2^bits). The layout is the one
 * onnxruntime's MatMulNBits takes: `packed` [n, blocks, blockSize * bits / 8] (4-bit: element 2j
 * in the low nibble of byte j), `scales` [n * blocks], `zeroPoints` [n * ceil(blocks * bits / 8)]
 * (4-bit: two per byte, low nibble first).
 */
export interface BlockQuantized {
  n: number;
  k: number;
  bits: 4 | 8;
  blockSize: number;
  packed: Uint8Array;
  scales: Float32Array;
  zeroPoints: Uint8Array;
  /** Every zero point is the middle level (2^(bits-1)), onnxruntime's default: the graph carries no zero points. */
  symmetric?: boolean;
}

/**
 * How a block's levels are placed. `asymmetric`: from the block's range widened to hold 0 (a zero
 * weight stays exactly zero), an integer zero point. `symmetric`: the value of largest magnitude
 * maps to the lowest level, zero point 2^(bits-1) (llama.cpp's Q4_0; the graph carries no zero
 * points). (Float zero points would represent GGUF's Q4_1 blocks exactly, but onnxruntime's CPU
 * kernel runs them about 15 times slower: measured 5 against 90 tokens/s.)
 */
export type QuantScheme = 'asymmetric' | 'symmetric';

/** Quantizes W [n, k] (row-major, Hugging Face's [out, in] layout) block by block along k. */
export function quantizeBlockwise(
  w: Float32Array,
  n: number,
  k: number,
  bits: 4 | 8 = 4,
  blockSize = 32,
  scheme: QuantScheme = 'asymmetric',
): BlockQuantized {
  if (w.length !== n * k) throw new Error(`quantizeBlockwise: ${w.length} values for a [${n}, ${k}] weight`);
  if (blockSize < 16 || (blockSize & (blockSize - 1)) !== 0)
    throw new Error(`quantizeBlockwise: block size ${blockSize} must be a power of two of at least 16`);
  const levels = (1 << bits) - 1;
  const middle = 1 << (bits - 1);
  const blocks = Math.ceil(k / blockSize);
  const blob = (blockSize * bits) / 8;
  const packed = new Uint8Array(n * blocks * blob);
  const scales = new Float32Array(n * blocks);
  const zpBytes = Math.ceil((blocks * bits) / 8);
  const zeroPoints = new Uint8Array(n * zpBytes);
  const put = (base: number, j: number, q: number) => {
    if (bits === 8) packed[base + j] = q;
    else packed[base + (j >> 1)]! |= q << ((j & 1) * 4);
  };
  for (let row = 0; row < n; row++) {
    for (let b = 0; b < blocks; b++) {
      const start = row * k + b * blockSize;
      const end = row * k + Math.min(k, (b + 1) * blockSize);
      let lo = 0;
      let hi = 0;
      for (let i = start; i < end; i++) {
        const v = w[i] as number;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const extreme = -lo > hi ? lo : hi;
      const scale = scheme === 'symmetric' ? (extreme !== 0 ? -extreme / middle : 1) : hi > lo ? (hi - lo) / levels : 1;
      const zpValue = scheme === 'symmetric' ? middle : Math.min(levels, Math.max(0, Math.round(-lo / scale)));
      scales[row * blocks + b] = scale;
      if (bits === 8) zeroPoints[row * zpBytes + b] = zpValue;
      else zeroPoints[row * zpBytes + (b >> 1)]! |= zpValue << ((b & 1) * 4);
      const base = (row * blocks + b) * blob;
      for (let i = start; i < end; i++) {
        const q = Math.round((w[i] as number) / scale) + zpValue;
        put(base, i - start, Math.min(levels, Math.max(0, q)));
      }
      // Padding past k (none for k a multiple of the block size) dequantizes to 0.
      for (let j = end - start; j < blockSize; j++) put(base, j, zpValue);
    }
  }
  return {
    n,
    k,
    bits,
    blockSize,
    packed,
    scales,
    zeroPoints,
    ...(scheme === 'symmetric' ? { symmetric: true } : {}),
  };
}

/** The float weights a {@link BlockQuantized} stands for, [n, k] row-major. */
export function dequantizeBlockwise(q: BlockQuantized): Float32Array {
  const blocks = Math.ceil(q.k / q.blockSize);
  const blob = (q.blockSize * q.bits) / 8;
  const zpBytes = Math.ceil((blocks * q.bits) / 8);
  const out = new Float32Array(q.n * q.k);
  for (let row = 0; row < q.n; row++) {
    for (let i = 0; i < q.k; i++) {
      const b = Math.floor(i / q.blockSize);
      const j = i % q.blockSize;
      const base = (row * blocks + b) * blob;
      const value = q.bits === 8 ? (q.packed[base + j] as number) : ((q.packed[base + (j >> 1)] as number) >> ((j & 1) * 4)) & 15;
      const zp =
        q.bits === 8 ? (q.zeroPoints[row * zpBytes + b] as number) : ((q.zeroPoints[row * zpBytes + (b >> 1)] as number) >> ((b & 1) * 4)) & 15;
      out[row * q.k + i] = (value - zp) * (q.scales[row * blocks + b] as number);
    }
  }
  return out;
}

/**
 * x @ W^T with W block-quantized, as onnxruntime's MatMulNBits (com.microsoft): the weights stay
 * packed in memory, a quarter (4-bit) or half (8-bit) of what float16 takes, which is what makes
 * one-stream decoding fast on a CPU (it reads every weight once per token). `accuracyLevel` 4
 * lets onnxruntime compute with int8 activations (fastest on CPUs), 0 in float32.
 */
export function matMulNBits(g: Graph, x: Value, q: BlockQuantized, name: string, accuracyLevel = 0): Value {
  const blocks = Math.ceil(q.k / q.blockSize);
  const packed = g.initializer(`${name}.q${q.bits}`, tensor('uint8', [q.n, blocks, (q.blockSize * q.bits) / 8], q.packed));
  const scales = g.initializer(`${name}.scales`, tensor('float32', [q.n * blocks], q.scales));
  // Symmetric blocks leave the zero points out: onnxruntime's default is the middle level.
  const zeroPoints = q.symmetric ? [] : [g.initializer(`${name}.zero_points`, tensor('uint8', [q.zeroPoints.length], q.zeroPoints))];
  const shape = [...x.shape.slice(0, -1), q.n];
  return g.node(
    'MatMulNBits',
    [x, packed, scales, ...zeroPoints],
    { K: int(q.k), N: int(q.n), bits: int(q.bits), block_size: int(q.blockSize), accuracy_level: int(accuracyLevel) },
    [{ dtype: x.dtype, shape }],
    'matmulnbits',
    'com.microsoft',
  )[0] as Value;
}

/**
 * A Linear weight W [n, k] in signed 8 bits, one symmetric scale per output column (w = q * scale,
 * q in [-127, 127]), stored transposed ([k, n], two's-complement bytes) as onnxruntime's
 * MatMulIntegerToFloat takes its B.
 */
export interface ColumnQuantized {
  n: number;
  k: number;
  /** [k, n] int8 values as bytes. */
  values: Uint8Array;
  scales: Float32Array;
}

/** Quantizes W [n, k] (Hugging Face's [out, in] layout) to {@link ColumnQuantized}. */
export function quantizeColumns(w: Float32Array, n: number, k: number): ColumnQuantized {
  if (w.length !== n * k) throw new Error(`quantizeColumns: ${w.length} values for a [${n}, ${k}] weight`);
  const values = new Uint8Array(k * n);
  const signed = new Int8Array(values.buffer);
  const scales = new Float32Array(n);
  for (let row = 0; row < n; row++) {
    let max = 0;
    for (let i = row * k; i < (row + 1) * k; i++) max = Math.max(max, Math.abs(w[i] as number));
    const scale = max > 0 ? max / 127 : 1;
    scales[row] = scale;
    for (let i = 0; i < k; i++) signed[i * n + row] = Math.round((w[row * k + i] as number) / scale);
  }
  return { n, k, values, scales };
}

/** The float weights a {@link ColumnQuantized} stands for, [n, k] row-major. */
export function dequantizeColumns(q: ColumnQuantized): Float32Array {
  const signed = new Int8Array(q.values.buffer, q.values.byteOffset, q.values.byteLength);
  const out = new Float32Array(q.n * q.k);
  for (let row = 0; row < q.n; row++)
    for (let i = 0; i < q.k; i++) out[row * q.k + i] = (signed[i * q.n + row] as number) * (q.scales[row] as number);
  return out;
}

/**
 * x @ W^T with W in int8 columns and each row of x (each token) quantized to 8 bits with its own
 * scale as it comes: QuantizeLinear by rows, onnxruntime's MatMulIntegerToFloat (integer products
 * on the CPU's VNNI units, the columns' scales applied as it writes), then the rows' scales. A
 * scale per token, not one for the whole input (onnxruntime's DynamicQuantizeMatMul), keeps a few
 * tokens of large activations from coarsening every other token: measured on a fine-tuned
 * SmolLM2, answers' perplexity after an int8 prefill 0.8% above float32's with scales per token,
 * 3.0% with one scale, for 1.5 against 1.65 times float32's prefill speed.
 */
export function perTokenInt8MatMul(g: Graph, x: Value, q: ColumnQuantized, name: string): Value {
  const f = 'float32' as const;
  const one = (
    op: string,
    inputs: Value[],
    shape: readonly (string | number)[],
    dtype: 'float32' | 'uint8' | 'int64' = f,
    attrs = {},
    domain?: string,
  ) => g.node(op, inputs, attrs, [{ dtype, shape }], op.toLowerCase(), domain)[0] as Value;
  const rows = one('Reshape', [x, g.ints([-1, q.k])], ['rows', q.k]);
  const absmax = one('ReduceMax', [one('Abs', [rows], ['rows', q.k]), g.ints([-1])], ['rows'], f, { keepdims: int(0) });
  const scale = one('Mul', [one('Max', [absmax, g.scalar(f, 1e-8)], ['rows']), g.scalar(f, 1 / 127)], ['rows']);
  const zero = one('Expand', [g.constant(tensor('uint8', [], [128])), one('Shape', [scale], [1], 'int64')], ['rows'], 'uint8');
  const qx = one('QuantizeLinear', [rows, scale, zero], ['rows', q.k], 'uint8', { axis: int(0) });
  const values = g.initializer(`${name}.int8`, tensor('int8', [q.k, q.n], q.values));
  const product = one(
    'MatMulIntegerToFloat',
    [
      qx,
      values,
      g.scalar(f, 1),
      g.initializer(`${name}.scales`, tensor('float32', [q.n], q.scales)),
      g.constant(tensor('uint8', [], [128])),
      g.initializer(`${name}.zero_points`, tensor('int8', [q.n], new Uint8Array(q.n))),
    ],
    ['rows', q.n],
    f,
    {},
    'com.microsoft',
  );
  const scaled = one('Mul', [product, one('Unsqueeze', [scale, g.ints([1])], ['rows', 1])], ['rows', q.n]);
  const outShape = one(
    'Concat',
    [one('Slice', [one('Shape', [x], [x.shape.length], 'int64'), g.ints([0]), g.ints([-1])], [x.shape.length - 1], 'int64'), g.ints([q.n])],
    [x.shape.length],
    'int64',
    { axis: int(0) },
  );
  return one('Reshape', [scaled, outShape], [...x.shape.slice(0, -1), q.n]);
}
