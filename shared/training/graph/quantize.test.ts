import * as ort from 'onnxruntime-node';
import { Graph, type Value } from './ir';
import { toOnnx } from './onnx-writer';
import { dequantizeBlockwise, dequantizeColumns, perTokenInt8MatMul, matMulNBits, quantizeBlockwise, quantizeColumns } from './quantize';

/** A deterministic pseudo-random matrix in [-1, 1). */
function matrix(n: number, k: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n * k }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/**
 * Runs x @ W^T through a one-node graph (`product` adds the node) and gives, for every row r of
 * x [3, k] and output o, onnxruntime's value and the float reference against `dequantized` W [n, k].
 */
async function products(
  product: (g: Graph, x: Value) => Value,
  dequantized: Float32Array,
  n: number,
  k: number,
): Promise<{ got: number; expected: number; magnitude: number }[]> {
  const g = new Graph('q');
  g.output(product(g, g.input('x', 'float32', [3, k])), 'y');
  const session = await ort.InferenceSession.create(toOnnx(g));
  const xs = matrix(3, k, 5);
  const y = (await session.run({ x: new ort.Tensor('float32', xs, [3, k]) })).y as ort.Tensor;
  await session.release();
  const out: { got: number; expected: number; magnitude: number }[] = [];
  for (let r = 0; r < 3; r++) {
    for (let o = 0; o < n; o++) {
      let expected = 0;
      let magnitude = 0;
      for (let i = 0; i < k; i++) {
        expected += (xs[r * k + i] as number) * (dequantized[o * k + i] as number);
        magnitude += Math.abs(dequantized[o * k + i] as number);
      }
      out.push({ got: (y.data as Float32Array)[r * n + o] as number, expected, magnitude });
    }
  }
  return out;
}

describe('block quantization', () => {
  it.each([
    [4, 32, 40, 96, 'asymmetric'],
    [4, 32, 7, 80, 'asymmetric'], // k not a multiple of the block: the last block is padded
    [8, 32, 12, 64, 'asymmetric'],
    [4, 64, 5, 128, 'asymmetric'],
    [4, 64, 5, 128, 'symmetric'],
    [4, 32, 7, 80, 'symmetric'],
    [8, 32, 12, 64, 'symmetric'],
  ] as const)('%i-bit blocks of %i round-trip within half a step, clipped ones within a step ([%i, %i], %s)', (bits, blockSize, n, k, scheme) => {
    const w = matrix(n, k, n * k);
    w[3] = 0;
    const q = quantizeBlockwise(w, n, k, bits, blockSize, scheme);
    const back = dequantizeBlockwise(q);
    const blocks = Math.ceil(k / blockSize);
    for (let row = 0; row < n; row++) {
      for (let i = 0; i < k; i++) {
        // A symmetric block keeps the sign of its largest value in the scale (Q4_0), so the step is its size.
        const step = Math.abs(q.scales[row * blocks + Math.floor(i / blockSize)] as number);
        // Symmetric blocks have one level fewer on the far side of their largest value: a value
        // there beyond 7/8 of it (4-bit) is clipped, by at most one step.
        const bound = scheme === 'symmetric' && Math.abs(w[row * k + i] as number) > step * ((1 << bits) / 2 - 1) ? step : step / 2;
        expect(Math.abs((back[row * k + i] as number) - (w[row * k + i] as number))).toBeLessThanOrEqual(bound + 1e-6);
      }
    }
    expect(back[3] === 0).toBe(true); // -0 from a negative scale is zero too
    if (scheme === 'symmetric') {
      // Every zero point is the middle level, so the graph can leave them out.
      expect(q.symmetric).toBe(true);
      expect(dequantizeBlockwise({ ...q, zeroPoints: q.zeroPoints.map(() => (bits === 4 ? 0x88 : 128)) })).toEqual(back);
    }
  });

  it('keeps a constant block exact and refuses a wrong size', () => {
    const w = new Float32Array(64).fill(0.25);
    expect([...dequantizeBlockwise(quantizeBlockwise(w, 2, 32))]).toEqual([...w]);
    expect(() => quantizeBlockwise(w, 3, 32)).toThrow(/64 values for a \[3, 32\] weight/);
  });

  it.each([
    [4, 'asymmetric'],
    [8, 'asymmetric'],
    [4, 'symmetric'],
    [8, 'symmetric'],
  ] as const)("matches onnxruntime's MatMulNBits kernel (%i-bit, %s): x @ dequant(W)^T", async (bits, scheme) => {
    const n = 24;
    const k = 80;
    const w = matrix(n, k, 11);
    const q = quantizeBlockwise(w, n, k, bits, 32, scheme);
    for (const p of await products((g, x) => matMulNBits(g, x, q, 'w', 0), dequantizeBlockwise(q), n, k)) expect(p.got).toBeCloseTo(p.expected, 3);
  });
});

describe('int8 columns, inputs quantized per token (MatMulIntegerToFloat)', () => {
  it('round-trip within half a step of each column, zero and the extremes exact, transposed to [k, n]', () => {
    const n = 9;
    const k = 40;
    const w = matrix(n, k, 21);
    w[5] = 0;
    w[k + 2] = 1.5; // row 1's largest magnitude: exactly 127 steps
    const q = quantizeColumns(w, n, k);
    const back = dequantizeColumns(q);
    const signed = new Int8Array(q.values.buffer);
    for (let row = 0; row < n; row++) {
      const scale = q.scales[row] as number;
      for (let i = 0; i < k; i++) expect(Math.abs((back[row * k + i] as number) - (w[row * k + i] as number))).toBeLessThanOrEqual(scale / 2 + 1e-7);
      expect(Math.max(...Array.from({ length: k }, (_, i) => Math.abs(signed[i * n + row] as number)))).toBe(127);
    }
    expect(back[5]).toBe(0);
    expect(back[k + 2]).toBeCloseTo(1.5, 6);
    expect(signed[2 * n + 1]).toBe(127);
    expect(() => quantizeColumns(w, n + 1, k)).toThrow(/values for a \[10, 40\] weight/);
    // A zero column keeps a usable scale.
    expect(dequantizeColumns(quantizeColumns(new Float32Array(8), 2, 4))).toEqual(new Float32Array(8));
  });

  it("matches the float product within each input row's quantization step", async () => {
    const n = 24;
    const k = 80;
    const w = matrix(n, k, 13);
    const q = quantizeColumns(w, n, k);
    // Each row of the input is quantized to 8 bits symmetrically over its own largest magnitude
    // (under 1: a step under 1/127), so each product may differ by up to half a step times the sum
    // of the weights' magnitudes.
    const all = await products((g, x) => perTokenInt8MatMul(g, x, q, 'w'), dequantizeColumns(q), n, k);
    for (const p of all) expect(Math.abs(p.got - p.expected)).toBeLessThanOrEqual(p.magnitude / 254 + 1e-4);
    // Not float32's exact product: the input really was quantized.
    expect(all.some((p) => Math.abs(p.got - p.expected) > 1e-4)).toBe(true);
  });
});
