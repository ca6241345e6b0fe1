import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../../../test/helpers';
import { dequantize } from './dequant';
import { readGguf, readTensorBytes } from './reader';
import { buildGguf, str, type TestTensor } from './testing';

// float16 bit patterns of the block parameters below (exact in f16).
const F16 = {
  '0.5': 0x3800,
  '0.25': 0x3400,
  '-1': 0xbc00,
  '2': 0x4000,
  '-2': 0xc000,
  '0.125': 0x3000,
  '65504': 0x7bff,
  tiny: 0x0001,
  '-0.75': 0xba00,
};

const u16 = (values: number[]) => {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeUInt16LE(v, i * 2));
  return b;
};

/** A Q4_0 or Q4_1 block: scale(s) then 16 bytes, byte j = element j (low nibble) | element j+16 (high nibble). */
function nibbleBlock(head: number[], q: number[]): Buffer {
  const bytes = Buffer.alloc(16);
  for (let j = 0; j < 16; j++) bytes[j] = (q[j] as number) | ((q[j + 16] as number) << 4);
  return Buffer.concat([u16(head), bytes]);
}

// Block contents chosen by the test, and the values they stand for, computed here.
const q1 = Array.from({ length: 32 }, (_, j) => j % 16); // 0..15, 0..15
const q2 = Array.from({ length: 32 }, (_, j) => 15 - (j % 16)); // 15..0, 15..0
const q3 = Array.from({ length: 32 }, (_, j) => (j * 7) % 16);
const int8 = Array.from({ length: 32 }, (_, j) => (j % 2 === 0 ? -128 + j : 127 - j));

const CASES: { name: string; type: number; dims: number[]; data: Buffer; expected: number[] }[] = [
  {
    name: 'f32',
    type: 0,
    dims: [4],
    data: Buffer.from(new Float32Array([1.5, -2.25, 0, 3e-8]).buffer),
    expected: [1.5, -2.25, 0, Math.fround(3e-8)],
  },
  { name: 'f16', type: 1, dims: [4], data: u16([F16['0.5'], F16['-2'], F16['65504'], F16.tiny]), expected: [0.5, -2, 65504, 2 ** -24] },
  // bfloat16: the top 16 bits of float32 1.5 (0x3fc00000) and -2.25 (0xc0100000).
  { name: 'bf16', type: 30, dims: [2], data: u16([0x3fc0, 0xc010]), expected: [1.5, -2.25] },
  // Q4_0: x = d * (q - 8).
  {
    name: 'q4_0',
    type: 2,
    dims: [32, 2],
    data: Buffer.concat([nibbleBlock([F16['0.5']], q1), nibbleBlock([F16['-2']], q3)]),
    expected: [...q1.map((q) => 0.5 * (q - 8)), ...q3.map((q) => -2 * (q - 8))],
  },
  // Q4_1: x = d * q + m.
  {
    name: 'q4_1',
    type: 3,
    dims: [64],
    data: Buffer.concat([nibbleBlock([F16['0.25'], F16['-1']], q1), nibbleBlock([F16['0.125'], F16['2']], q2)]),
    expected: [...q1.map((q) => 0.25 * q - 1), ...q2.map((q) => 0.125 * q + 2)],
  },
  // Q8_0: x = d * q.
  {
    name: 'q8_0',
    type: 8,
    dims: [32],
    data: Buffer.concat([u16([F16['-0.75']]), Buffer.from(Int8Array.from(int8).buffer)]),
    expected: int8.map((q) => -0.75 * q),
  },
];

describe('GGUF dequantisation', () => {
  const t = tempDir('pixel-gguf-dequant-');
  afterAll(() => t.cleanup());
  const file = path.join(t.dir, 'types.gguf');
  const tensors: TestTensor[] = [
    ...CASES.map((c) => ({ name: c.name, dims: c.dims, type: c.type, data: c.data })),
    { name: 'q4_k', type: 12, dims: [256], data: Buffer.alloc(144) },
  ];
  writeFileSync(file, buildGguf({ metadata: [['general.architecture', str('test')]], tensors }));

  it.each(CASES.map((c) => [c.name, c] as const))('%s gives the values its blocks stand for', (_name, c) => {
    const gguf = readGguf(file);
    const info = gguf.tensors.find((x) => x.name === c.name)!;
    expect(info.elements).toBe(c.expected.length);
    const values = dequantize(info.type, readTensorBytes(gguf, info), info.elements, info.name);
    expect(Array.from(values)).toEqual(c.expected.map((x) => Math.fround(x)));
  });

  it('refuses a type it cannot decode, naming the tensor and the type', () => {
    const gguf = readGguf(file);
    const info = gguf.tensors.find((x) => x.name === 'q4_k')!;
    expect(info.typeName).toBe('Q4_K');
    expect(() => dequantize(info.type, readTensorBytes(gguf, info), info.elements, info.name)).toThrow(
      /tensor q4_k: ggml type Q4_K cannot be dequantised here \(supported: F32, F16, BF16, Q4_0, Q4_1, Q8_0\)/,
    );
    expect(() => dequantize(77, new Uint8Array(4), 1, 'odd')).toThrow(/tensor odd: ggml type 77 cannot be dequantised/);
  });

  it('refuses a byte count that does not match the type and element count', () => {
    expect(() => dequantize(3, new Uint8Array(19), 32, 'short')).toThrow(/tensor short: 19 bytes for 32 Q4_1 values, expected 20/);
    expect(() => dequantize(2, new Uint8Array(18), 31, 'ragged')).toThrow(/not a whole number of Q4_0 blocks/);
  });
});
