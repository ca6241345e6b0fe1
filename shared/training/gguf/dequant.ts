import { GGML_TYPES, GgufError } from './reader';

/**
 * Dequantisation of ggml tensor data to float32, for the block layouts of ggml (llama.cpp):
 *   F32, F16, BF16       plain little-endian values
 *   Q4_0  (32 per block, 18 bytes)  f16 d, 16 bytes of nibbles; low nibbles are elements 0..15,
 *                                    high nibbles 16..31; x = d * (q - 8)
 *   Q4_1  (32 per block, 20 bytes)  f16 d, f16 m, 16 bytes of nibbles (same order); x = d * q + m
 *   Q8_0  (32 per block, 34 bytes)  f16 d, 32 int8; x = d * q
 * Any other type is refused with the tensor's name and the type's name.
 */

export const DEQUANTISABLE = ['F32', 'F16', 'BF16', 'Q4_0', 'Q4_1', 'Q8_0'] as const;

let halfTable: Float32Array | undefined;
/** Every float16 bit pattern as float32 (256 KiB, built once). */
function halves(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) t[h] = sign * 2 ** -14 * (fraction / 1024);
    else if (exponent === 31) t[h] = fraction ? NaN : sign * Infinity;
    else t[h] = sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  halfTable = t;
  return t;
}

/** One float16 bit pattern as a number. */
export function halfToFloat(h: number): number {
  return halves()[h & 0xffff] as number;
}

/**
 * Decodes `bytes` of a tensor of ggml type `type` holding `elements` values. `name` names the
 * tensor in errors.
 */
export function dequantize(type: number, bytes: Uint8Array, elements: number, name: string): Float32Array {
  const info = GGML_TYPES[type];
  const typeName = info?.name ?? String(type);
  if (!info || !(DEQUANTISABLE as readonly string[]).includes(info.name)) {
    throw new GgufError(`tensor ${name}`, `ggml type ${typeName} cannot be dequantised here (supported: ${DEQUANTISABLE.join(', ')})`);
  }
  if (elements % info.blockSize !== 0)
    throw new GgufError(`tensor ${name}`, `${elements} elements is not a whole number of ${typeName} blocks of ${info.blockSize}`);
  const expected = (elements / info.blockSize) * info.blockBytes;
  if (bytes.byteLength !== expected)
    throw new GgufError(`tensor ${name}`, `${bytes.byteLength} bytes for ${elements} ${typeName} values, expected ${expected}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(elements);
  const h = halves();
  switch (info.name) {
    case 'F32':
      for (let i = 0; i < elements; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    case 'F16':
      for (let i = 0; i < elements; i++) out[i] = h[view.getUint16(i * 2, true)] as number;
      return out;
    case 'BF16': {
      // bfloat16 is the upper half of a float32.
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < elements; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    case 'Q4_0':
      for (let o = 0, p = 0; o < elements; o += 32, p += 18) {
        const d = h[view.getUint16(p, true)] as number;
        for (let j = 0; j < 16; j++) {
          const q = bytes[p + 2 + j] as number;
          out[o + j] = d * ((q & 0x0f) - 8);
          out[o + j + 16] = d * ((q >> 4) - 8);
        }
      }
      return out;
    case 'Q4_1':
      for (let o = 0, p = 0; o < elements; o += 32, p += 20) {
        const d = h[view.getUint16(p, true)] as number;
        const m = h[view.getUint16(p + 2, true)] as number;
        for (let j = 0; j < 16; j++) {
          const q = bytes[p + 4 + j] as number;
          out[o + j] = d * (q & 0x0f) + m;
          out[o + j + 16] = d * (q >> 4) + m;
        }
      }
      return out;
    case 'Q8_0':
      for (let o = 0, p = 0; o < elements; o += 32, p += 34) {
        const d = h[view.getUint16(p, true)] as number;
        for (let j = 0; j < 32; j++) out[o + j] = d * view.getInt8(p + 2 + j);
      }
      return out;
    default:
      throw new GgufError(`tensor ${name}`, `ggml type ${typeName} cannot be dequantised here`);
  }
}
