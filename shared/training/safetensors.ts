import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';

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

/** Parses a safetensors file held in memory. `where` names it in error messages. */
export function readSafetensors(
  buffer: Uint8Array,
  where = 'safetensors',
): { tensors: Map<string, SafetensorsEntry>; metadata: Record<string, string> } {
  if (buffer.byteLength < 8) throw new SafetensorsError(where, `${buffer.byteLength} bytes is too short for a header`);
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > buffer.byteLength - 8 || headerLength > 100_000_000)
    throw new SafetensorsError(where, `header length ${headerLength} does not fit the file (${buffer.byteLength} bytes)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(buffer.subarray(8, 8 + headerLength)));
  } catch (err) {
    throw new SafetensorsError(where, `header is not JSON (${(err as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new SafetensorsError(where, 'header is not a JSON object');
  const dataStart = 8 + headerLength;
  const dataLength = buffer.byteLength - dataStart;
  const tensors = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  const ranges: [number, number, string][] = [];
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
    ranges.push([begin, end, name]);
    tensors.set(name, { dtype, shape, bytes: buffer.subarray(dataStart + begin, dataStart + end) });
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    const [prevStart, prevEnd, prevName] = ranges[i - 1] as [number, number, string];
    const [start, , name] = ranges[i] as [number, number, string];
    if (start < prevEnd && prevEnd > prevStart) throw new SafetensorsError(where, `tensors ${prevName} and ${name} overlap`);
  }
  return { tensors, metadata };
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** A float tensor's values as float32 (F32 as is; F16, BF16 and F64 converted). */
export function toFloat32(entry: SafetensorsEntry): Float32Array {
  const { bytes, dtype } = entry;
  const n = bytes.byteLength / SAFETENSORS_DTYPES[dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return out;
    case 'BF16': {
      // bfloat16 is the upper half of a float32.
      const word = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < n; i++) {
        word.setUint32(0, view.getUint16(i * 2, true) << 16, true);
        out[i] = word.getFloat32(0, true);
      }
      return out;
    }
    default:
      throw new SafetensorsError('toFloat32', `${dtype} is not a float type`);
  }
}

export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;
}

/** Encodes tensors (and string metadata) as one safetensors file. */
export function writeSafetensors(tensors: readonly TensorToWrite[], metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new SafetensorsError('writeSafetensors', `tensor ${t.name} appears twice`);
    names.add(t.name);
    const expected = t.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPES[t.dtype];
    if (t.data.byteLength !== expected)
      throw new SafetensorsError(
        'writeSafetensors',
        `tensor ${t.name}: ${t.data.byteLength} bytes for ${t.dtype} [${t.shape.join(', ')}], expected ${expected}`,
      );
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + expected] };
    offset += expected;
  }
  // The header is padded with spaces so the data starts on an 8-byte boundary.
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.byteLength + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.byteLength), 0);
  headerBytes.copy(out, 8);
  let at = 8 + headerBytes.byteLength;
  for (const t of tensors) {
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, at);
    at += t.data.byteLength;
  }
  return out;
}

const IndexSchema = z.object({ weight_map: z.record(z.string(), z.string()), metadata: z.record(z.string(), z.unknown()).optional() });

/**
 * The tensors of a model folder: `model.safetensors`, or the shards a
 * `model.safetensors.index.json` lists (each shard read once).
 */
export async function readSafetensorsFolder(dir: string): Promise<Map<string, SafetensorsEntry>> {
  const indexFile = path.join(dir, 'model.safetensors.index.json');
  let index: z.infer<typeof IndexSchema> | undefined;
  try {
    const parsed = IndexSchema.safeParse(JSON.parse(await readFile(indexFile, 'utf8')));
    if (!parsed.success) throw new SafetensorsError(indexFile, 'not a safetensors index (needs a "weight_map" of tensor name to file)');
    index = parsed.data;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (!index) {
    const file = path.join(dir, 'model.safetensors');
    return readSafetensors(await readFile(file), file).tensors;
  }
  const out = new Map<string, SafetensorsEntry>();
  const files = [...new Set(Object.values(index.weight_map))];
  for (const shard of files) {
    if (shard.includes('/') || shard.includes('\\')) throw new SafetensorsError(indexFile, `shard ${shard} is not a file name in the folder`);
    const file = path.join(dir, shard);
    const { tensors } = readSafetensors(await readFile(file), file);
    for (const [name, entry] of tensors) if (index.weight_map[name] === shard) out.set(name, entry);
  }
  for (const name of Object.keys(index.weight_map))
    if (!out.has(name)) throw new SafetensorsError(indexFile, `tensor ${name} is listed but not in ${index.weight_map[name]}`);
  return out;
}
