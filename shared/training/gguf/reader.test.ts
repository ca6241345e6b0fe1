import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../../../test/helpers';
import { GgufError, metaNumber, metaStrings, readGguf, readTensorBytes } from './reader';
import { T, buildGguf, f32Bytes, stream as seeded, str, u32, type TestGguf, type TypedValue } from './testing';

const EVERY_TYPE: [string, TypedValue, unknown][] = [
  ['t.u8', { type: T.UINT8, value: 200 }, 200],
  ['t.i8', { type: T.INT8, value: -100 }, -100],
  ['t.u16', { type: T.UINT16, value: 60000 }, 60000],
  ['t.i16', { type: T.INT16, value: -30000 }, -30000],
  ['t.u32', { type: T.UINT32, value: 4_000_000_000 }, 4_000_000_000],
  ['t.i32', { type: T.INT32, value: -2_000_000_000 }, -2_000_000_000],
  ['t.f32', { type: T.FLOAT32, value: 0.5 }, 0.5],
  ['t.bool', { type: T.BOOL, value: true }, true],
  ['t.string', { type: T.STRING, value: 'naïve ☕ {{ template }}' }, 'naïve ☕ {{ template }}'],
  ['t.u64', { type: T.UINT64, value: 2n ** 40n }, 2 ** 40],
  ['t.u64.big', { type: T.UINT64, value: 2n ** 63n + 5n }, 2n ** 63n + 5n],
  ['t.i64', { type: T.INT64, value: -(2n ** 50n) }, -(2 ** 50)],
  ['t.f64', { type: T.FLOAT64, value: Math.PI }, Math.PI],
  ['t.array.i32', { type: T.ARRAY, value: { elementType: T.INT32, items: [1, -2, 3] } }, [1, -2, 3]],
  ['t.array.empty', { type: T.ARRAY, value: { elementType: T.STRING, items: [] } }, []],
  [
    't.array.nested',
    {
      type: T.ARRAY,
      value: {
        elementType: T.ARRAY,
        items: [
          { elementType: T.STRING, items: ['a', 'b c'] },
          { elementType: T.ARRAY, items: [{ elementType: T.FLOAT64, items: [1.25] }] },
        ],
      },
    },
    [['a', 'b c'], [[1.25]]],
  ],
];

const tensor = (name: string, values: number[], offset?: number) => ({ name, dims: [values.length], type: 0, data: f32Bytes(values), offset });

describe('GGUF reader', () => {
  const t = tempDir('pixel-gguf-reader-');
  afterAll(() => t.cleanup());
  let n = 0;
  const write = (bytes: Buffer) => {
    const file = path.join(t.dir, `f${n++}.gguf`);
    writeFileSync(file, bytes);
    return file;
  };
  const good: TestGguf = { metadata: [['general.architecture', str('test')]], tensors: [tensor('a', [1, 2, 3]), tensor('b', [4, 5])] };

  it.each([2, 3])('reads version %i: metadata of every value type, the tensor table and the data', (version) => {
    const file = write(
      buildGguf({
        version,
        metadata: EVERY_TYPE.map(([k, v]) => [k, v]),
        tensors: [tensor('x', [1, 2, 3, 4]), { name: 'm', dims: [2, 3], type: 0, data: f32Bytes([1, 2, 3, 4, 5, 6]) }],
      }),
    );
    const g = readGguf(file);
    expect(g.version).toBe(version);
    for (const [key, , expected] of EVERY_TYPE) expect(g.metadata.get(key)).toEqual(expected);
    expect(g.metadataTypes.get('t.array.nested')).toBe('ARRAY<ARRAY>');
    expect(g.metadataTypes.get('t.u8')).toBe('UINT8');
    expect(g.alignment).toBe(32);
    expect(g.dataOffset % 32).toBe(0);
    expect(g.tensors.map((x) => [x.name, x.dims, x.typeName, x.offset, x.byteLength])).toEqual([
      ['x', [4], 'F32', 0, 16],
      ['m', [2, 3], 'F32', 32, 24],
    ]);
    expect(Array.from(new Float32Array(Uint8Array.from(readTensorBytes(g, g.tensors[1]!)).buffer))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(metaNumber(g, 't.u32')).toBe(4_000_000_000);
    expect(() => metaStrings(g, 't.array.i32')).toThrow(/should be an array of strings/);
  });

  it('honours general.alignment for the data offset and tensor offsets', () => {
    const file = write(buildGguf({ alignment: 64, metadata: [['general.alignment', u32(64)]], tensors: [tensor('a', [1]), tensor('b', [2, 3])] }));
    const g = readGguf(file);
    expect(g.alignment).toBe(64);
    expect(g.dataOffset % 64).toBe(0);
    expect(g.tensors[1]!.offset).toBe(64);
    expect(Array.from(new Float32Array(Uint8Array.from(readTensorBytes(g, g.tensors[1]!)).buffer))).toEqual([2, 3]);
    expect(() => readGguf(write(buildGguf({ metadata: [['general.alignment', u32(48)]], tensors: [] })))).toThrow(
      /general.alignment 48 is not a power of two/,
    );
  });

  const refusals: [string, () => Buffer, RegExp][] = [
    ['bad magic', () => Buffer.concat([Buffer.from('GGML'), buildGguf(good).subarray(4)]), /bad magic "GGML": not a GGUF file/],
    ['an empty file', () => Buffer.alloc(0), /truncated file: 0 bytes is too short/],
    [
      'version 1',
      () => {
        const b = buildGguf(good);
        b.writeUInt32LE(1, 4);
        return b;
      },
      /GGUF version 1 is not supported \(versions 2 and 3 are\)/,
    ],
    [
      'a big-endian file',
      () => {
        const b = buildGguf(good);
        b.writeUInt32BE(3, 4);
        return b;
      },
      /big-endian GGUF \(version 3\) is not supported/,
    ],
    [
      'a file cut inside the metadata',
      () =>
        buildGguf({
          metadata: [
            ['general.architecture', str('test')],
            ['k', u32(5)],
          ],
          tensors: [],
        }).subarray(0, 62),
      /truncated file: length of metadata general.architecture string needs 8 bytes at offset 56, but the file ends at 62/,
    ],
    [
      'a header whose counts the file cannot hold',
      () => buildGguf(good).subarray(0, 40),
      /tensor count is 2 \(at offset 8\), more than the rest of the file can hold \(24 bytes\): truncated or damaged file/,
    ],
    [
      'a file cut inside the tensor data',
      () => {
        const b = buildGguf(good);
        return b.subarray(0, b.length - 40);
      },
      /tensor (a|b): bytes \d+-\d+ \(F32 \[\d\]\) lie outside the file .*truncated or damaged/,
    ],
    [
      'a tensor whose offset points past the end',
      () => buildGguf({ ...good, tensors: [tensor('a', [1, 2, 3]), tensor('far', [4], 1 << 20)] }).subarray(0, 512),
      /tensor far: bytes \d+-\d+ .* lie outside the file/,
    ],
    [
      'overlapping tensors',
      () =>
        buildGguf({
          ...good,
          tensors: [
            tensor(
              'a',
              Array.from({ length: 16 }, () => 1),
            ),
            tensor('b', [1, 2], 32),
          ],
        }),
      /tensors a \(bytes 0-64\) and b \(from 32\) overlap/,
    ],
    [
      'a misaligned tensor',
      () => buildGguf({ ...good, tensors: [tensor('a', [1, 2, 3], 8)] }),
      /tensor a: data offset 8 is not a multiple of the alignment 32/,
    ],
    [
      'an absurd tensor count',
      () => {
        const b = buildGguf(good);
        b.writeBigUInt64LE(2n ** 40n, 8);
        return b;
      },
      /tensor count is 1099511627776 \(at offset 8\), more than the limit of 100000/,
    ],
    [
      'an absurd metadata count',
      () => {
        const b = buildGguf(good);
        b.writeBigUInt64LE(2n ** 62n, 16);
        return b;
      },
      /metadata count is 4611686018427387904 \(at offset 16\), more than the limit of 100000/,
    ],
    [
      'an absurd string length',
      () => {
        const b = buildGguf(good);
        b.writeBigUInt64LE(2n ** 50n, 24); // the first key's length
        return b;
      },
      /length of metadata key 0 is 1125899906842624 \(at offset 24\), more than the limit of 65535/,
    ],
    [
      'an absurd array length',
      () => {
        const b = buildGguf({ metadata: [['big', { type: T.ARRAY, value: { elementType: T.UINT64, items: [1] } }]], tensors: [] });
        b.writeBigUInt64LE(10n ** 12n, 24 + 8 + 3 + 4 + 4); // key length, key, value type, element type, then the length
        return b;
      },
      /metadata big array length is 1000000000000 \(at offset 43\), more than the rest of the file can hold \(\d+ bytes\): truncated or damaged file/,
    ],
    [
      'an array length beyond 2^53',
      () => {
        const b = buildGguf({ metadata: [['big', { type: T.ARRAY, value: { elementType: T.UINT64, items: [1] } }]], tensors: [] });
        b.fill(0xff, 43, 51);
        return b;
      },
      /metadata big array length is 18446744073709551615 \(at offset 43\), more than the limit of 9007199254740991/,
    ],
    [
      'an unknown value type',
      () => {
        const b = buildGguf({ metadata: [['odd', u32(0)]], tensors: [] });
        b.writeUInt32LE(13, 24 + 8 + 3); // the value type after the key
        return b;
      },
      /metadata odd: unknown value type 13/,
    ],
    [
      'an unknown tensor type',
      () => buildGguf({ ...good, tensors: [{ name: 'w', dims: [4], type: 99, data: new Uint8Array(16) }] }),
      /tensor w: unknown ggml type 99/,
    ],
    [
      'too many dimensions',
      () => buildGguf({ ...good, tensors: [{ name: 'w', dims: [1, 1, 1, 1, 1], type: 0, data: new Uint8Array(4) }] }),
      /tensor w: 5 dimensions \(ggml allows 1 to 4\)/,
    ],
    [
      'a block-size mismatch',
      () => buildGguf({ ...good, tensors: [{ name: 'q', dims: [30], type: 2, data: new Uint8Array(18) }] }),
      /tensor q: first dimension 30 is not a multiple of the Q4_0 block size 32/,
    ],
    ['a duplicate tensor', () => buildGguf({ ...good, tensors: [tensor('a', [1]), tensor('a', [2])] }), /tensor a appears twice/],
    [
      'a duplicate key',
      () =>
        buildGguf({
          metadata: [
            ['k', u32(1)],
            ['k', u32(2)],
          ],
          tensors: [],
        }),
      /metadata key k appears twice/,
    ],
    [
      'invalid UTF-8',
      () => {
        const b = buildGguf({ metadata: [['k', str('ab')]], tensors: [] });
        b[b.indexOf('ab', 24, 'latin1')] = 0xff;
        return b;
      },
      /metadata k string .* is not valid UTF-8/,
    ],
    [
      'arrays nested too deep',
      () => {
        let v: TypedValue = { type: T.ARRAY, value: { elementType: T.UINT8, items: [1] } };
        for (let i = 0; i < 9; i++) v = { type: T.ARRAY, value: { elementType: T.ARRAY, items: [v.value] } };
        return buildGguf({ metadata: [['deep', v]], tensors: [] });
      },
      /metadata deep: arrays nested more than 8 deep/,
    ],
  ];

  it.each(refusals)('refuses %s with a GgufError that says what is wrong', (_name, bytes, message) => {
    const file = write(bytes());
    let error: unknown;
    try {
      readGguf(file);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(GgufError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message.startsWith(`GGUF ${file}: `)).toBe(true);
  });

  it('gives only GgufErrors (or a valid header) for every truncation and for random byte damage', () => {
    const bytes = buildGguf({
      metadata: EVERY_TYPE.map(([k, v]) => [k, v]),
      tensors: [tensor('a', [1, 2, 3]), { name: 'q', dims: [32, 2], type: 2, data: new Uint8Array(36) }],
    });
    const file = path.join(t.dir, 'damaged.gguf');
    const outcome = (b: Buffer): string => {
      writeFileSync(file, b);
      try {
        readGguf(file);
        return 'ok';
      } catch (err) {
        if (err instanceof GgufError) return 'GgufError';
        return `${(err as Error).name}: ${(err as Error).message}`;
      }
    };
    const others: string[] = [];
    for (let cut = 0; cut < bytes.length; cut++) {
      const r = outcome(bytes.subarray(0, cut));
      if (r !== 'ok' && r !== 'GgufError') others.push(`cut at ${cut}: ${r}`);
    }
    const rnd = seeded(11);
    for (let i = 0; i < 400; i++) {
      const b = Buffer.from(bytes);
      for (let k = 0; k < 3; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      const r = outcome(b);
      if (r !== 'ok' && r !== 'GgufError') others.push(`mutation ${i}: ${r}`);
    }
    expect(others).toEqual([]);
  });

  it('bounds what it reads by configurable limits', () => {
    const file = write(buildGguf({ metadata: [['s', str('x'.repeat(100))]], tensors: [] }));
    expect(() => readGguf(file, { maxStringBytes: 50 })).toThrow(/length of metadata s string is 100 \(at offset \d+\), more than the limit of 50/);
    const many = write(
      buildGguf({ metadata: [['a', { type: T.ARRAY, value: { elementType: T.UINT8, items: Array.from({ length: 100 }, () => 1) } }]], tensors: [] }),
    );
    expect(() => readGguf(many, { maxArrayElements: 10 })).toThrow(/metadata arrays hold more than 10 elements/);
    expect(() => readGguf(path.join(t.dir, 'missing.gguf'))).toThrow(/cannot open \(ENOENT\)/);
  });
});
