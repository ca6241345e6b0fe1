import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  openSafetensors,
  readSafetensors,
  readSafetensorsFolder,
  readTensorBytes,
  toBfloat16,
  toFloat16,
  toFloat32,
  writeSafetensors,
  writeSafetensorsFile,
} from './safetensors';

/** A file written by hand: header JSON and data bytes as given (for malformed cases). */
function raw(header: unknown, data: number[] = []): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  Buffer.from(data).copy(out, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  it('round-trips tensors and metadata, with the data 8-byte aligned', () => {
    const w = Float32Array.from([1.5, -2, 3.25, 0]);
    const ids = BigInt64Array.from([1n, -7n]);
    const file = writeSafetensors(
      [
        { name: 'layers.0.w', dtype: 'F32', shape: [2, 2], data: w },
        { name: 'step', dtype: 'I64', shape: [2], data: ids },
      ],
      { format: 'pt', step: '12' },
    );
    expect((8 + Number(file.readBigUInt64LE(0))) % 8).toBe(0);
    const { tensors, metadata } = readSafetensors(file);
    expect(metadata).toEqual({ format: 'pt', step: '12' });
    expect(Array.from(toFloat32(tensors.get('layers.0.w')!))).toEqual([1.5, -2, 3.25, 0]);
    const step = tensors.get('step')!;
    expect(step.shape).toEqual([2]);
    expect(Array.from(new BigInt64Array(Uint8Array.from(step.bytes).buffer))).toEqual([1n, -7n]);
  });

  it.each([
    ['F16', [0x00, 0x3c, 0x00, 0xc0, 0x00, 0x35, 0x00, 0x7c], [1, -2, 0.3125, Infinity]],
    ['BF16', [0x80, 0x3f, 0x00, 0xc0, 0x49, 0x40, 0x00, 0x00], [1, -2, 3.140625, 0]],
  ] as const)('decodes %s to float32', (dtype, bytes, expected) => {
    const file = raw({ t: { dtype, shape: [4], data_offsets: [0, 8] } }, [...bytes]);
    expect(Array.from(toFloat32(readSafetensors(file).tensors.get('t')!))).toEqual(expected);
  });

  it.each([
    ['a file shorter than its header length', Buffer.from([1, 2, 3]), /too short/],
    ['a header length past the end', raw({}).fill(0xff, 0, 8), /does not fit the file/],
    ['a header that is not JSON', raw('{nope'), /header is not JSON/],
    ['a header that is an array', raw([]), /not a JSON object/],
    ['an unknown dtype', raw({ t: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, [0]), /tensor t: dtype/],
    ['a range past the data', raw({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, [0, 0, 0, 0]), /outside the data/],
    [
      'a size that does not match the shape',
      raw({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, [0, 0, 0, 0]),
      /4 bytes for F32 \[2\], expected 8/,
    ],
    [
      'overlapping tensors',
      raw({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [2, 6] } }, [0, 0, 0, 0, 0, 0]),
      /overlap/,
    ],
    ['metadata that is not strings', raw({ __metadata__: { n: 1 } }), /__metadata__/],
  ])('refuses %s with a clear message', (_name, file, message) => {
    expect(() => readSafetensors(file, 'model.safetensors')).toThrow(message);
  });

  it('reads a sharded folder through its index, and names a tensor the shards lack', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pixel-st-'));
    try {
      writeFileSync(
        path.join(dir, 'model-00001-of-00002.safetensors'),
        writeSafetensors([{ name: 'a', dtype: 'F32', shape: [1], data: Float32Array.from([1]) }]),
      );
      writeFileSync(
        path.join(dir, 'model-00002-of-00002.safetensors'),
        writeSafetensors([{ name: 'b', dtype: 'F32', shape: [1], data: Float32Array.from([2]) }]),
      );
      const index = { metadata: { total_size: 8 }, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } };
      writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
      const tensors = await readSafetensorsFolder(dir);
      expect([...tensors.keys()].sort()).toEqual(['a', 'b']);
      expect(toFloat32(tensors.get('b')!)[0]).toBe(2);
      writeFileSync(
        path.join(dir, 'model.safetensors.index.json'),
        JSON.stringify({ weight_map: { ...index.weight_map, c: 'model-00002-of-00002.safetensors' } }),
      );
      await expect(readSafetensorsFolder(dir)).rejects.toThrow(/tensor c is listed but not in model-00002-of-00002.safetensors/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('opens a file from its header alone and reads one tensor when asked, checking the header against the file size', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pixel-st-'));
    try {
      const file = path.join(dir, 'm.safetensors');
      writeFileSync(
        file,
        writeSafetensors([
          { name: 'a', dtype: 'F32', shape: [3], data: Float32Array.from([1, 2, 3]) },
          { name: 'b', dtype: 'BF16', shape: [2], data: toBfloat16(Float32Array.from([0.5, -4])) },
        ]),
      );
      const { tensors } = await openSafetensors(file);
      expect(tensors.get('a')).toMatchObject({ dtype: 'F32', shape: [3], length: 12 });
      expect(Array.from(toFloat32(readTensorBytes(tensors.get('b')!)))).toEqual([0.5, -4]);
      expect(Array.from(toFloat32(readTensorBytes(tensors.get('a')!)))).toEqual([1, 2, 3]);
      truncateSync(file, readFileSync(file).byteLength - 2);
      await expect(openSafetensors(file)).rejects.toThrow(/tensor b: bytes 12-16 are outside the data \(14 bytes\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes a file one lazily made tensor at a time, and leaves no file (and the old one intact) when a tensor fails', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pixel-st-'));
    try {
      const file = path.join(dir, 'out.safetensors');
      const made: string[] = [];
      const lazy = (name: string, values: number[]) => ({
        name,
        dtype: 'F32' as const,
        shape: [values.length],
        load: () => (made.push(name), Float32Array.from(values)),
      });
      await writeSafetensorsFile(file, [lazy('x', [1, 2]), lazy('y', [3])], { step: '3' });
      expect(made).toEqual(['x', 'y']);
      const { tensors, metadata } = readSafetensors(readFileSync(file));
      expect(metadata).toEqual({ step: '3' });
      expect(Array.from(toFloat32(tensors.get('y')!))).toEqual([3]);
      const before = readFileSync(file);
      const failing = {
        ...lazy('z', [1]),
        load: (): Float32Array => {
          throw new Error('disk on fire');
        },
      };
      await expect(writeSafetensorsFile(file, [lazy('x', [1, 2]), failing])).rejects.toThrow('disk on fire');
      expect(readFileSync(file).equals(before)).toBe(true);
      expect(readdirSync(dir)).toEqual(['out.safetensors']);
      // A tensor whose size does not match its shape is refused by name.
      await expect(writeSafetensorsFile(path.join(dir, 'bad.safetensors'), [{ ...lazy('w', [1, 2]), shape: [3] }])).rejects.toThrow(
        /tensor w: 8 bytes/,
      );
      expect(existsSync(path.join(dir, 'bad.safetensors'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rounds float32 to bfloat16 to nearest even, keeping NaN a NaN', () => {
    const words = toBfloat16(Float32Array.from([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -2.5, NaN, Infinity]));
    // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to even (1); 1 + 3 x 2^-8 halfway up: to even (1 + 2^-6).
    expect(Array.from(words.slice(0, 4))).toEqual([0x3f80, 0x3f80, 0x3f82, 0xc020]);
    expect(Number.isNaN(toFloat32({ dtype: 'BF16', shape: [1], bytes: new Uint8Array(words.slice(4, 5).buffer) })[0])).toBe(true);
    expect(words[5]).toBe(0x7f80);
  });

  it('rounds float32 to float16 to nearest even, with overflow to infinity and subnormals, and reads it back', () => {
    const values = [1, -0.5, 65504, 65520, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 1 + 2 ** -11, 0.1, NaN];
    const words = Array.from(toFloat16(Float32Array.from(values)));
    expect(words.slice(0, 8)).toEqual([0x3c00, 0xb800, 0x7bff, 0x7c00, 0x0001, 0x0000, 0x0002, 0x3c00]);
    const back = toFloat32({ dtype: 'F16', shape: [values.length], bytes: new Uint8Array(Uint16Array.from(words).buffer) });
    expect(Math.abs((back[8] as number) - 0.1)).toBeLessThan(0.1 * 2 ** -11);
    expect(Number.isNaN(back[9])).toBe(true);
  });
});
