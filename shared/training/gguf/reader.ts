import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * A reader for GGUF files (llama.cpp's model format), versions 2 and 3, little-endian:
 *
 *   magic "GGUF" | u32 version | u64 tensor count | u64 metadata count
 *   metadata: (string key, u32 value type, value)*      strings are u64 length + UTF-8 bytes
 *   tensor table: (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset)*
 *   padding to `general.alignment` (default 32), then the tensor data; offsets are relative to it
 *
 * The file is read through a file descriptor in chunks (never into one JS string), and every
 * count, length and range is checked against the file's size and fixed limits before it is
 * trusted, so a hostile or damaged file gives a `GgufError` naming what is wrong instead of a
 * huge allocation, a hang or garbage.
 */

export class GgufError extends Error {
  constructor(where: string, problem: string) {
    super(`${where}: ${problem}`);
    this.name = 'GgufError';
  }
}

/** Metadata value types of the GGUF spec. */
export const GGUF_VALUE_TYPES = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
const VALUE_TYPE_NAMES = Object.fromEntries(Object.entries(GGUF_VALUE_TYPES).map(([k, v]) => [v, k])) as Record<number, string>;
/** Bytes of each fixed-size value type (strings and arrays: at least their 8-byte length). */
const VALUE_SIZES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: 8, 9: 12, 10: 8, 11: 8, 12: 8 };

/** A metadata value: 64-bit integers beyond 2^53 stay bigints; arrays may nest. */
export type GgufValue = number | bigint | boolean | string | GgufValue[];

/**
 * ggml tensor types: block size (elements) and bytes per block. Known here so every tensor's
 * byte range can be checked, including types the dequantiser does not decode.
 */
export const GGML_TYPES: Record<number, { name: string; blockSize: number; blockBytes: number }> = {
  0: { name: 'F32', blockSize: 1, blockBytes: 4 },
  1: { name: 'F16', blockSize: 1, blockBytes: 2 },
  2: { name: 'Q4_0', blockSize: 32, blockBytes: 18 },
  3: { name: 'Q4_1', blockSize: 32, blockBytes: 20 },
  6: { name: 'Q5_0', blockSize: 32, blockBytes: 22 },
  7: { name: 'Q5_1', blockSize: 32, blockBytes: 24 },
  8: { name: 'Q8_0', blockSize: 32, blockBytes: 34 },
  9: { name: 'Q8_1', blockSize: 32, blockBytes: 36 },
  10: { name: 'Q2_K', blockSize: 256, blockBytes: 84 },
  11: { name: 'Q3_K', blockSize: 256, blockBytes: 110 },
  12: { name: 'Q4_K', blockSize: 256, blockBytes: 144 },
  13: { name: 'Q5_K', blockSize: 256, blockBytes: 176 },
  14: { name: 'Q6_K', blockSize: 256, blockBytes: 210 },
  15: { name: 'Q8_K', blockSize: 256, blockBytes: 292 },
  16: { name: 'IQ2_XXS', blockSize: 256, blockBytes: 66 },
  17: { name: 'IQ2_XS', blockSize: 256, blockBytes: 74 },
  18: { name: 'IQ3_XXS', blockSize: 256, blockBytes: 98 },
  19: { name: 'IQ1_S', blockSize: 256, blockBytes: 50 },
  20: { name: 'IQ4_NL', blockSize: 32, blockBytes: 18 },
  21: { name: 'IQ3_S', blockSize: 256, blockBytes: 110 },
  22: { name: 'IQ2_S', blockSize: 256, blockBytes: 82 },
  23: { name: 'IQ4_XS', blockSize: 256, blockBytes: 136 },
  24: { name: 'I8', blockSize: 1, blockBytes: 1 },
  25: { name: 'I16', blockSize: 1, blockBytes: 2 },
  26: { name: 'I32', blockSize: 1, blockBytes: 4 },
  27: { name: 'I64', blockSize: 1, blockBytes: 8 },
  28: { name: 'F64', blockSize: 1, blockBytes: 8 },
  29: { name: 'IQ1_M', blockSize: 256, blockBytes: 56 },
  30: { name: 'BF16', blockSize: 1, blockBytes: 2 },
  34: { name: 'TQ1_0', blockSize: 256, blockBytes: 54 },
  35: { name: 'TQ2_0', blockSize: 256, blockBytes: 66 },
  39: { name: 'MXFP4', blockSize: 32, blockBytes: 17 },
};

export interface GgufTensorInfo {
  name: string;
  /** ggml's `ne`: innermost (fastest-varying) dimension first. ne=(576, 49152) is a row-major [49152, 576] matrix. */
  dims: number[];
  type: number;
  typeName: string;
  elements: number;
  /** Offset from the start of the tensor data section. */
  offset: number;
  /** Offset from the start of the file. */
  fileOffset: number;
  byteLength: number;
}

export interface GgufFile {
  path: string;
  version: number;
  fileSize: number;
  alignment: number;
  /** Where the tensor data section starts. */
  dataOffset: number;
  metadata: Map<string, GgufValue>;
  /** The type of each metadata value (and of array elements: `ARRAY<STRING>`), for tools that print them. */
  metadataTypes: Map<string, string>;
  tensors: GgufTensorInfo[];
}

export interface GgufLimits {
  maxTensors: number;
  maxMetadata: number;
  /** Longest metadata string (chat templates are the longest real ones, tens of KB). */
  maxStringBytes: number;
  maxKeyBytes: number;
  maxTensorNameBytes: number;
  /** Elements of all metadata arrays together. */
  maxArrayElements: number;
  maxArrayDepth: number;
}

export const DEFAULT_GGUF_LIMITS: GgufLimits = {
  maxTensors: 100_000,
  maxMetadata: 100_000,
  maxStringBytes: 16 * 1024 * 1024,
  maxKeyBytes: 65_535,
  maxTensorNameBytes: 1024,
  maxArrayElements: 50_000_000,
  maxArrayDepth: 8,
};

const CHUNK = 1 << 20;

/** Sequential little-endian reads through a file descriptor, one chunk buffered at a time. */
class Cursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;
  constructor(
    private readonly fd: number,
    readonly size: number,
    private readonly where: string,
  ) {}

  remaining(): number {
    return this.size - this.pos;
  }

  /** Makes `n` bytes at `pos` available in `buf`; returns their offset in it. */
  private take(n: number, what: string): number {
    if (n > this.remaining())
      throw new GgufError(this.where, `truncated file: ${what} needs ${n} bytes at offset ${this.pos}, but the file ends at ${this.size}`);
    let at = this.pos - this.bufStart;
    if (at < 0 || at + n > this.buf.length) {
      const length = Math.min(Math.max(n, CHUNK), this.size - this.pos);
      const fresh = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const r = readSync(this.fd, fresh, got, length - got, this.pos + got);
        if (r === 0) throw new GgufError(this.where, `truncated file: could not read ${what} at offset ${this.pos + got}`);
        got += r;
      }
      this.buf = fresh;
      this.bufStart = this.pos;
      at = 0;
    }
    this.pos += n;
    return at;
  }

  u8(what: string): number {
    const at = this.take(1, what);
    return this.buf.readUInt8(at);
  }
  i8(what: string): number {
    const at = this.take(1, what);
    return this.buf.readInt8(at);
  }
  u16(what: string): number {
    const at = this.take(2, what);
    return this.buf.readUInt16LE(at);
  }
  i16(what: string): number {
    const at = this.take(2, what);
    return this.buf.readInt16LE(at);
  }
  u32(what: string): number {
    const at = this.take(4, what);
    return this.buf.readUInt32LE(at);
  }
  i32(what: string): number {
    const at = this.take(4, what);
    return this.buf.readInt32LE(at);
  }
  f32(what: string): number {
    const at = this.take(4, what);
    return this.buf.readFloatLE(at);
  }
  f64(what: string): number {
    const at = this.take(8, what);
    return this.buf.readDoubleLE(at);
  }
  u64(what: string): bigint {
    const at = this.take(8, what);
    return this.buf.readBigUInt64LE(at);
  }
  i64(what: string): bigint {
    const at = this.take(8, what);
    return this.buf.readBigInt64LE(at);
  }
  /**
   * A u64 count or size: at most `limit` (the reader's own bound) and at most `fileMax` (what
   * the rest of the file can hold), so it is a safe JS number and no allocation follows a lie.
   */
  count(what: string, fileMax: number, limit = Number.MAX_SAFE_INTEGER): number {
    const at = this.pos;
    const v = this.u64(what);
    if (v > BigInt(limit)) throw new GgufError(this.where, `${what} is ${v} (at offset ${at}), more than the limit of ${limit}`);
    if (v > BigInt(Math.max(0, fileMax)))
      throw new GgufError(
        this.where,
        `${what} is ${v} (at offset ${at}), more than the rest of the file can hold (${this.remaining()} bytes): truncated or damaged file`,
      );
    return Number(v);
  }
  string(what: string, maxBytes: number): string {
    const length = this.count(`length of ${what}`, this.remaining() - 8, maxBytes);
    const at = this.take(length, what);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.buf.subarray(at, at + length));
    } catch {
      throw new GgufError(this.where, `${what} (at offset ${this.pos - length}) is not valid UTF-8`);
    }
  }
}

const asNumber = (v: bigint): number | bigint => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

/** Reads a GGUF file's header: metadata and tensor table (not the tensor data). */
export function readGguf(file: string, limits: Partial<GgufLimits> = {}): GgufFile {
  const lim = { ...DEFAULT_GGUF_LIMITS, ...limits };
  const where = `GGUF ${file}`;
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new GgufError(where, `cannot open (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    const size = fstatSync(fd).size;
    const c = new Cursor(fd, size, where);
    if (size < 4) throw new GgufError(where, `truncated file: ${size} bytes is too short for the magic`);
    const magic = [c.u8('magic'), c.u8('magic'), c.u8('magic'), c.u8('magic')];
    if (String.fromCharCode(...magic) !== 'GGUF') {
      const shown = magic.map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
      throw new GgufError(where, `bad magic "${shown}": not a GGUF file (expected "GGUF")`);
    }
    const version = c.u32('version');
    if (version !== 2 && version !== 3) {
      const swapped = Buffer.alloc(4);
      swapped.writeUInt32BE(version);
      const be = swapped.readUInt32LE();
      if (be === 2 || be === 3) throw new GgufError(where, `big-endian GGUF (version ${be}) is not supported`);
      throw new GgufError(where, `GGUF version ${version} is not supported (versions 2 and 3 are)`);
    }
    // The smallest tensor entry: name length, n_dims, type, offset (24 bytes); metadata entry: key length, type, one byte.
    const tensorCount = c.count('tensor count', Math.floor((c.remaining() - 8) / 24), lim.maxTensors);
    const metadataCount = c.count('metadata count', Math.floor((c.remaining() - 8) / 13), lim.maxMetadata);

    const metadata = new Map<string, GgufValue>();
    const metadataTypes = new Map<string, string>();
    let arrayElements = 0;
    const readValue = (type: number, key: string, depth: number): GgufValue => {
      switch (type) {
        case 0:
          return c.u8(key);
        case 1:
          return c.i8(key);
        case 2:
          return c.u16(key);
        case 3:
          return c.i16(key);
        case 4:
          return c.u32(key);
        case 5:
          return c.i32(key);
        case 6:
          return c.f32(key);
        case 7: {
          const b = c.u8(key);
          if (b > 1) throw new GgufError(where, `metadata ${key}: bool value ${b} is neither 0 nor 1`);
          return b === 1;
        }
        case 8:
          return c.string(`metadata ${key} string`, lim.maxStringBytes);
        case 10:
          return asNumber(c.u64(key));
        case 11:
          return asNumber(c.i64(key));
        case 12:
          return c.f64(key);
        case 9: {
          if (depth >= lim.maxArrayDepth) throw new GgufError(where, `metadata ${key}: arrays nested more than ${lim.maxArrayDepth} deep`);
          const elementType = c.u32(`metadata ${key} array element type`);
          const size = VALUE_SIZES[elementType];
          if (size === undefined) throw new GgufError(where, `metadata ${key}: unknown array element type ${elementType}`);
          const n = c.count(`metadata ${key} array length`, Math.floor((c.remaining() - 8) / size));
          arrayElements += n;
          if (arrayElements > lim.maxArrayElements)
            throw new GgufError(where, `metadata arrays hold more than ${lim.maxArrayElements} elements in all (at ${key})`);
          const out = new Array<GgufValue>(n);
          for (let i = 0; i < n; i++) out[i] = readValue(elementType, key, depth + 1);
          return out;
        }
        default:
          throw new GgufError(where, `metadata ${key}: unknown value type ${type}`);
      }
    };
    const arrayTypeNames = new Map<string, string>();
    const typeName = (type: number, key: string): string =>
      type === 9 ? `ARRAY<${arrayTypeNames.get(key) ?? '?'}>` : (VALUE_TYPE_NAMES[type] ?? String(type));
    for (let i = 0; i < metadataCount; i++) {
      const key = c.string(`metadata key ${i}`, lim.maxKeyBytes);
      if (metadata.has(key)) throw new GgufError(where, `metadata key ${key} appears twice`);
      const type = c.u32(`metadata ${key} type`);
      if (type === 9) {
        // Peek the element type for the type description (readValue reads it again).
        const at = c.pos;
        arrayTypeNames.set(key, VALUE_TYPE_NAMES[c.u32(`metadata ${key} array element type`)] ?? '?');
        c.pos = at;
      }
      metadata.set(key, readValue(type, key, 0));
      metadataTypes.set(key, typeName(type, key));
    }

    let alignment = 32;
    const rawAlignment = metadata.get('general.alignment');
    if (rawAlignment !== undefined) {
      if (
        typeof rawAlignment !== 'number' ||
        !Number.isInteger(rawAlignment) ||
        rawAlignment < 1 ||
        rawAlignment > 1 << 30 ||
        (rawAlignment & (rawAlignment - 1)) !== 0
      ) {
        throw new GgufError(where, `general.alignment ${String(rawAlignment)} is not a power of two`);
      }
      alignment = rawAlignment;
    }

    const pending: Omit<GgufTensorInfo, 'fileOffset'>[] = [];
    const names = new Set<string>();
    for (let i = 0; i < tensorCount; i++) {
      const name = c.string(`tensor ${i} name`, lim.maxTensorNameBytes);
      if (names.has(name)) throw new GgufError(where, `tensor ${name} appears twice`);
      names.add(name);
      const nDims = c.u32(`tensor ${name} n_dims`);
      if (nDims < 1 || nDims > 4) throw new GgufError(where, `tensor ${name}: ${nDims} dimensions (ggml allows 1 to 4)`);
      const dims: number[] = [];
      let elements = 1;
      for (let d = 0; d < nDims; d++) {
        const n = c.count(`tensor ${name} dimension ${d}`, Number.MAX_SAFE_INTEGER);
        if (n < 1) throw new GgufError(where, `tensor ${name}: dimension ${d} is ${n}`);
        elements *= n;
        if (elements > size * 8)
          throw new GgufError(where, `tensor ${name}: ${dims.concat(n).join(' x ')} elements cannot fit in a ${size}-byte file`);
        dims.push(n);
      }
      const type = c.u32(`tensor ${name} type`);
      const t = GGML_TYPES[type];
      if (!t) throw new GgufError(where, `tensor ${name}: unknown ggml type ${type}`);
      if ((dims[0] as number) % t.blockSize !== 0)
        throw new GgufError(where, `tensor ${name}: first dimension ${dims[0]} is not a multiple of the ${t.name} block size ${t.blockSize}`);
      const offset = c.count(`tensor ${name} offset`, Number.MAX_SAFE_INTEGER);
      if (offset % alignment !== 0)
        throw new GgufError(where, `tensor ${name}: data offset ${offset} is not a multiple of the alignment ${alignment}`);
      pending.push({ name, dims, type, typeName: t.name, elements, offset, byteLength: (elements / t.blockSize) * t.blockBytes });
    }
    const dataOffset = Math.ceil(c.pos / alignment) * alignment;
    if (dataOffset > size && tensorCount > 0)
      throw new GgufError(where, `truncated file: the tensor data would start at ${dataOffset}, past the end of the file (${size} bytes)`);
    const tensors = pending.map((t) => ({ ...t, fileOffset: dataOffset + t.offset }));
    for (const t of tensors) {
      if (t.fileOffset + t.byteLength > size) {
        throw new GgufError(
          where,
          `tensor ${t.name}: bytes ${t.fileOffset}-${t.fileOffset + t.byteLength} (${t.typeName} [${t.dims.join(', ')}]) lie outside the file (${size} bytes): truncated or damaged`,
        );
      }
    }
    const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1] as GgufTensorInfo;
      const cur = sorted[i] as GgufTensorInfo;
      if (cur.offset < prev.offset + prev.byteLength)
        throw new GgufError(
          where,
          `tensors ${prev.name} (bytes ${prev.offset}-${prev.offset + prev.byteLength}) and ${cur.name} (from ${cur.offset}) overlap`,
        );
    }
    return { path: file, version, fileSize: size, alignment, dataOffset, metadata, metadataTypes, tensors };
  } finally {
    closeSync(fd);
  }
}

/** A tensor's raw bytes, read from the file. */
export function readTensorBytes(gguf: GgufFile, tensor: GgufTensorInfo): Uint8Array {
  const fd = openSync(gguf.path, 'r');
  try {
    if (fstatSync(fd).size !== gguf.fileSize) throw new GgufError(`GGUF ${gguf.path}`, 'the file changed size since its header was read');
    const out = Buffer.allocUnsafe(tensor.byteLength);
    let got = 0;
    while (got < out.length) {
      const r = readSync(fd, out, got, out.length - got, tensor.fileOffset + got);
      if (r === 0) throw new GgufError(`GGUF ${gguf.path}`, `truncated file: tensor ${tensor.name} ends early`);
      got += r;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** A metadata value as a number (integers of any width, floats), or undefined when absent. */
export function metaNumber(gguf: GgufFile, key: string): number | undefined {
  const v = gguf.metadata.get(key);
  if (v === undefined) return undefined;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') throw new GgufError(`GGUF ${gguf.path}`, `metadata ${key} is ${v}, too large`);
  throw new GgufError(`GGUF ${gguf.path}`, `metadata ${key} should be a number, not ${describeValue(v)}`);
}

export function metaString(gguf: GgufFile, key: string): string | undefined {
  const v = gguf.metadata.get(key);
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  throw new GgufError(`GGUF ${gguf.path}`, `metadata ${key} should be a string, not ${describeValue(v)}`);
}

export function metaBool(gguf: GgufFile, key: string): boolean | undefined {
  const v = gguf.metadata.get(key);
  if (v === undefined) return undefined;
  if (typeof v === 'boolean') return v;
  throw new GgufError(`GGUF ${gguf.path}`, `metadata ${key} should be a bool, not ${describeValue(v)}`);
}

/** An array of strings (token lists, merges). */
export function metaStrings(gguf: GgufFile, key: string): string[] | undefined {
  const v = gguf.metadata.get(key);
  if (v === undefined) return undefined;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  throw new GgufError(`GGUF ${gguf.path}`, `metadata ${key} should be an array of strings, not ${describeValue(v)}`);
}

/** An array of numbers (token types, scores). */
export function metaNumbers(gguf: GgufFile, key: string): number[] | undefined {
  const v = gguf.metadata.get(key);
  if (v === undefined) return undefined;
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return v;
  throw new GgufError(`GGUF ${gguf.path}`, `metadata ${key} should be an array of numbers, not ${describeValue(v)}`);
}

function describeValue(v: GgufValue): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return `${typeof v} ${JSON.stringify(typeof v === 'bigint' ? v.toString() : v).slice(0, 40)}`;
}
