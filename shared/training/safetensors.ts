import { closeSync, openSync, readSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { replaceFile } from '../util/files';

/**
 * Reading and writing the safetensors format (what Hugging Face model folders hold): an
 * 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and
 * byte range, then the bytes. Every header is checked before a byte is trusted: ranges inside
 * the file, no overlaps, sizes that match dtype x shape.
 */

export const SAFETENSORS_DTYPES = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 } as const;
export type SafetensorsDType = keyof typeof SAFETENSORS_DTYPES;

export interface SafetensorsEntry {
  dtype: SafetensorsDType;
  shape: number[];
  /** The tensor's bytes (a view into the file's buffer, not a copy). */
  bytes: Uint8Array;
}

export class SafetensorsError extends Error {
  constructor(where: string, problem: string) {
    super(`${where}: ${problem}`);
    this.name = 'SafetensorsError';
  }
}

const EntrySchema = z.object({
  dtype: z.enum(Object.keys(SAFETENSORS_DTYPES) as [SafetensorsDType, ...SafetensorsDType[]]),
  shape: z.array(z.number().int().min(0)),
  data_offsets: z.tuple([z.number().int().min(0), z.number().int().min(0)]),
});

interface HeaderEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/** Parses and checks a header: every range inside the `dataLength` bytes after it, no overlaps, sizes that match dtype x shape. */
function parseHeader(headerBytes: Uint8Array, dataLength: number, where: string): { entries: HeaderEntry[]; metadata: Record<string, string> } {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(headerBytes));
  } catch (err) {
    throw new SafetensorsError(where, `header is not JSON (${(err as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new SafetensorsError(where, 'header is not a JSON object');
  const entries: HeaderEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      const m = z.record(z.string(), z.string()).safeParse(raw);
      if (!m.success) throw new SafetensorsError(where, '__metadata__ must map strings to strings');
      metadata = m.data;
      continue;
    }
    const entry = EntrySchema.safeParse(raw);
    if (!entry.success)
      throw new SafetensorsError(
        where,
        `tensor ${name}: ${entry.error.issues.map((i) => `${i.path.join('.') || '(entry)'} ${i.message}`).join('; ')}`,
      );
    const {
      dtype,
      shape,
      data_offsets: [begin, end],
    } = entry.data;
    const expected = shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPES[dtype];
    if (end < begin || end > dataLength)
      throw new SafetensorsError(where, `tensor ${name}: bytes ${begin}-${end} are outside the data (${dataLength} bytes)`);
    if (end - begin !== expected)
      throw new SafetensorsError(where, `tensor ${name}: ${end - begin} bytes for ${dtype} [${shape.join(', ')}], expected ${expected}`);
    entries.push({ name, dtype, shape, begin, end });
  }
  const ranges = [...entries].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < ranges.length; i++) {
    const prev = ranges[i - 1] as HeaderEntry;
    const cur = ranges[i] as HeaderEntry;
    if (cur.begin < prev.end && prev.end > prev.begin) throw new SafetensorsError(where, `tensors ${prev.name} and ${cur.name} overlap`);
  }
  return { entries, metadata };
}

const MAX_HEADER_BYTES = 100_000_000;

/** Parses a safetensors file held in memory. `where` names it in error messages. */
export function readSafetensors(
  buffer: Uint8Array,
  where = 'safetensors',
): { tensors: Map<string, SafetensorsEntry>; metadata: Record<string, string> } {
  if (buffer.byteLength < 8) throw new SafetensorsError(where, `${buffer.byteLength} bytes is too short for a header`);
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > buffer.byteLength - 8 || headerLength > MAX_HEADER_BYTES)
    throw new SafetensorsError(where, `header length ${headerLength} does not fit the file (${buffer.byteLength} bytes)`);
  const dataStart = 8 + headerLength;
  const { entries, metadata } = parseHeader(buffer.subarray(8, dataStart), buffer.byteLength - dataStart, where);
  const tensors = new Map<string, SafetensorsEntry>();
  for (const e of entries) tensors.set(e.name, { dtype: e.dtype, shape: e.shape, bytes: buffer.subarray(dataStart + e.begin, dataStart + e.end) });
  return { tensors, metadata };
}

/** A tensor of a safetensors file on disk, read only when asked for ({@link readTensorBytes}). */
export interface SafetensorsRef {
  dtype: SafetensorsDType;
  shape: number[];
  file: string;
  /** Byte offset of the tensor in the file, and its length. */
  offset: number;
  length: number;
}

/** Reads only the header of a safetensors file (checked as {@link readSafetensors} checks it): where each tensor is, not its bytes. */
export async function openSafetensors(file: string): Promise<{ tensors: Map<string, SafetensorsRef>; metadata: Record<string, string> }> {
  const handle = await open(file, 'r');
  try {
    const size = (await handle.stat()).size;
    if (size < 8) throw new SafetensorsError(file, `${size} bytes is too short for a header`);
    const first = Buffer.alloc(8);
    await handle.read(first, 0, 8, 0);
    const headerLength = Number(first.readBigUInt64LE(0));
    if (headerLength > size - 8 || headerLength > MAX_HEADER_BYTES)
      throw new SafetensorsError(file, `header length ${headerLength} does not fit the file (${size} bytes)`);
    const headerBytes = Buffer.alloc(headerLength);
    await handle.read(headerBytes, 0, headerLength, 8);
    const dataStart = 8 + headerLength;
    const { entries, metadata } = parseHeader(headerBytes, size - dataStart, file);
    const tensors = new Map<string, SafetensorsRef>();
    for (const e of entries) tensors.set(e.name, { dtype: e.dtype, shape: e.shape, file, offset: dataStart + e.begin, length: e.end - e.begin });
    return { tensors, metadata };
  } finally {
    await handle.close();
  }
}

/** A tensor's bytes, read from its file now (into a buffer of its own, aligned for typed arrays). */
export function readTensorBytes(ref: SafetensorsRef): SafetensorsEntry {
  const bytes = new Uint8Array(new ArrayBuffer(ref.length));
  const fd = openSync(ref.file, 'r');
  try {
    let done = 0;
    while (done < ref.length) {
      const n = readSync(fd, bytes, done, Math.min(ref.length - done, 1 << 30), ref.offset + done);
      if (n === 0) throw new SafetensorsError(ref.file, `ended inside a tensor at byte ${ref.offset + done}`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return { dtype: ref.dtype, shape: ref.shape, bytes };
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

let halfTable: Float32Array | undefined;

/** A float tensor's values as float32 (F32 as is; F16, BF16 and F64 converted). */
export function toFloat32(entry: SafetensorsEntry): Float32Array {
  const { bytes, dtype } = entry;
  const n = bytes.byteLength / SAFETENSORS_DTYPES[dtype];
  const aligned = bytes.byteOffset % SAFETENSORS_DTYPES[dtype] === 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32':
      if (aligned) out.set(new Float32Array(bytes.buffer, bytes.byteOffset, n));
      else for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    case 'F16': {
      halfTable ??= Float32Array.from({ length: 65536 }, (_, h) => halfToFloat(h));
      const table = halfTable;
      if (aligned) {
        const half = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
        for (let i = 0; i < n; i++) out[i] = table[half[i] as number] as number;
      } else for (let i = 0; i < n; i++) out[i] = table[view.getUint16(i * 2, true)] as number;
      return out;
    }
    case 'BF16': {
      // bfloat16 is the upper half of a float32.
      const words = new Uint32Array(out.buffer);
      if (aligned) {
        const half = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
        for (let i = 0; i < n; i++) words[i] = (half[i] as number) << 16;
      } else for (let i = 0; i < n; i++) words[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    default:
      throw new SafetensorsError('toFloat32', `${dtype} is not a float type`);
  }
}

/** float32 values as IEEE half-precision words, rounded to nearest even (overflow to infinity, tiny values to subnormals or zero). */
export function toFloat16(values: Float32Array): Uint16Array {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const w = words[i] as number;
    const sign = (w >>> 16) & 0x8000;
    const exp = (w >>> 23) & 0xff;
    let mant = w & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 31) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      const half = 1 << (shift - 1);
      const rest = mant & ((1 << shift) - 1);
      let m = mant >>> shift;
      if (rest > half || (rest === half && m & 1)) m += 1;
      out[i] = sign | m;
      continue;
    }
    let h = (e << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h += 1; // may carry into the exponent: still right
    out[i] = sign | h;
  }
  return out;
}

/** float32 values as bfloat16 words, rounded to nearest even (NaN stays NaN). */
export function toBfloat16(values: Float32Array): Uint16Array {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const w = words[i] as number;
    if ((w & 0x7f800000) === 0x7f800000 && (w & 0x7fffff) !== 0) out[i] = (w >>> 16) | 0x40;
    else out[i] = (w + 0x7fff + ((w >>> 16) & 1)) >>> 16;
  }
  return out;
}

type WrittenData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;

export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
  data: WrittenData;
}

/** A tensor to write whose values are made when its turn comes ({@link writeSafetensorsFile}). */
export interface LazyTensorToWrite {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
  load(): WrittenData;
}

/** The header bytes (padded so the data starts on an 8-byte boundary) and each tensor's size. */
function encodeHeader(tensors: readonly { name: string; dtype: SafetensorsDType; shape: readonly number[] }[], metadata: Record<string, string>) {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const sizes: number[] = [];
  for (const t of tensors) {
    if (t.name in header) throw new SafetensorsError('writeSafetensors', `tensor ${t.name} appears twice`);
    const expected = t.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + expected] };
    sizes.push(expected);
    offset += expected;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const body = Buffer.from(json, 'utf8');
  const head = Buffer.alloc(8 + body.byteLength);
  head.writeBigUInt64LE(BigInt(body.byteLength), 0);
  body.copy(head, 8);
  return { head, sizes, dataBytes: offset };
}

const checkSize = (t: { name: string; dtype: SafetensorsDType; shape: readonly number[] }, data: WrittenData, expected: number) => {
  if (data.byteLength !== expected)
    throw new SafetensorsError(
      'writeSafetensors',
      `tensor ${t.name}: ${data.byteLength} bytes for ${t.dtype} [${t.shape.join(', ')}], expected ${expected}`,
    );
};
const bytesOf = (data: WrittenData) => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/** Encodes tensors (and string metadata) as one safetensors file. */
export function writeSafetensors(tensors: readonly TensorToWrite[], metadata: Record<string, string> = {}): Buffer {
  const { head, sizes, dataBytes } = encodeHeader(tensors, metadata);
  tensors.forEach((t, i) => checkSize(t, t.data, sizes[i] as number));
  const out = Buffer.alloc(head.byteLength + dataBytes);
  head.copy(out, 0);
  let at = head.byteLength;
  for (const t of tensors) {
    bytesOf(t.data).copy(out, at);
    at += t.data.byteLength;
  }
  return out;
}

/**
 * Writes a safetensors file one tensor at a time (each made by its `load` when its turn comes,
 * and dropped after): a model of several gigabytes is never in memory whole. The file appears
 * only when complete ({@link replaceFile}).
 */
export async function writeSafetensorsFile(
  file: string,
  tensors: readonly LazyTensorToWrite[],
  metadata: Record<string, string> = {},
): Promise<void> {
  const { head, sizes } = encodeHeader(tensors, metadata);
  await replaceFile(file, 'safetensors file', async (target) => {
    const handle = await open(target.path, target.flags);
    try {
      await handle.write(head);
      for (const [i, t] of tensors.entries()) {
        const data = t.load();
        checkSize(t, data, sizes[i] as number);
        const bytes = bytesOf(data);
        // In pieces: a single write of over 2 GB is refused.
        for (let from = 0; from < bytes.byteLength; from += 1 << 28)
          await handle.write(bytes.subarray(from, Math.min(bytes.byteLength, from + (1 << 28))));
      }
    } finally {
      await handle.close();
    }
  });
}

const IndexSchema = z.object({ weight_map: z.record(z.string(), z.string()), metadata: z.record(z.string(), z.unknown()).optional() });

/** The index of a sharded folder (`model.safetensors.index.json`), or undefined for a single `model.safetensors`. */
async function readIndex(dir: string): Promise<z.infer<typeof IndexSchema> | undefined> {
  const indexFile = path.join(dir, 'model.safetensors.index.json');
  try {
    const parsed = IndexSchema.safeParse(JSON.parse(await readFile(indexFile, 'utf8')));
    if (!parsed.success) throw new SafetensorsError(indexFile, 'not a safetensors index (needs a "weight_map" of tensor name to file)');
    for (const shard of new Set(Object.values(parsed.data.weight_map)))
      if (shard.includes('/') || shard.includes('\\')) throw new SafetensorsError(indexFile, `shard ${shard} is not a file name in the folder`);
    return parsed.data;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Where every tensor of a model folder is (`model.safetensors`, or the shards its index lists),
 * from the headers alone: nothing is read until a tensor is asked for, so a folder of any size
 * opens in milliseconds and its weights can be streamed one at a time.
 */
export async function openSafetensorsFolder(dir: string): Promise<Map<string, SafetensorsRef>> {
  const index = await readIndex(dir);
  if (!index) return (await openSafetensors(path.join(dir, 'model.safetensors'))).tensors;
  const out = new Map<string, SafetensorsRef>();
  for (const shard of new Set(Object.values(index.weight_map))) {
    const { tensors } = await openSafetensors(path.join(dir, shard));
    for (const [name, ref] of tensors) if (index.weight_map[name] === shard) out.set(name, ref);
  }
  const indexFile = path.join(dir, 'model.safetensors.index.json');
  for (const name of Object.keys(index.weight_map))
    if (!out.has(name)) throw new SafetensorsError(indexFile, `tensor ${name} is listed but not in ${index.weight_map[name]}`);
  return out;
}

/** The tensors of a model folder, read into memory (small folders and tests; large ones use {@link openSafetensorsFolder}). */
export async function readSafetensorsFolder(dir: string): Promise<Map<string, SafetensorsEntry>> {
  const refs = await openSafetensorsFolder(dir);
  return new Map([...refs].map(([name, ref]) => [name, readTensorBytes(ref)]));
}
