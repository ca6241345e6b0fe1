import * as ort from 'onnxruntime-node';
import { Graph } from './ir';
import { toOnnx } from './onnx-writer';
import { dequantizeBlockwise, matMulNBits, quantizeBlockwise } from './quantize';

/** A deterministic pseudo-random matrix in [-1, 1). */
function matrix(n: number, k: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n * k }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 31 - 1;
  });
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
    const g = new Graph('q');
    const x = g.input('x', 'float32', [3, k]);
    g.output(matMulNBits(g, x, q, 'w', 0), 'y');
    const session = await ort.InferenceSession.create(toOnnx(g));
    const xs = matrix(3, k, 5);
    const y = (await session.run({ x: new ort.Tensor('float32', xs, [3, k]) })).y as ort.Tensor;
    const dq = dequantizeBlockwise(q);
    for (let r = 0; r < 3; r++) {
      for (let o = 0; o < n; o++) {
        let expected = 0;
        for (let i = 0; i < k; i++) expected += (xs[r * k + i] as number) * (dq[o * k + i] as number);
        expect((y.data as Float32Array)[r * n + o]).toBeCloseTo(expected, 3);
      }
    }
    await session.release();
  });
});
