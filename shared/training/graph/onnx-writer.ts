import { open } from 'node:fs/promises';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { replaceFile, writeFileReplacing } from '../../util/files';
import { initializerBytes, initializerData, type Attr, type DType, type Graph, type Initializer, type Shape, type Tensor } from './ir';

/** The opset Pixel's graphs use (onnxruntime 1.30 accepts 18-23 with IR version 8). */
export const OPSET = 18;
const IR_VERSION = 8;

const ELEM: Record<DType, onnx.TensorProto.DataType> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  uint8: onnx.TensorProto.DataType.UINT8,
  int8: onnx.TensorProto.DataType.INT8,
  bool: onnx.TensorProto.DataType.BOOL,
};

function tensorProto(name: string, t: Tensor | Initializer): onnx.ITensorProto {
  const data = initializerData(t);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  // raw_data is little-endian, which is what typed arrays are on every platform Node runs on.
  return { name, dims: [...t.dims], dataType: ELEM[t.dtype], rawData: bytes };
}

function attribute(name: string, a: Attr): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int':
      return { name, type: T.INT, i: a.value };
    case 'ints':
      return { name, type: T.INTS, ints: [...a.value] };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'floats':
      return { name, type: T.FLOATS, floats: [...a.value] };
    case 'string':
      return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
    case 'tensor':
      return { name, type: T.TENSOR, t: tensorProto('', a.value) };
  }
}

function valueInfo(name: string, dtype: DType, shape: Shape): onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: ELEM[dtype], shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

export interface ExternalDataOptions {
  /** File name of the data, stored beside the model (e.g. `model.onnx.data`). */
  location: string;
  /** Initializers of at least this many bytes go to the data file; smaller ones stay inline. */
  minBytes: number;
}

/**
 * An external data file being written: where the next tensor goes, and the tensors already in
 * it. Graphs that share weights (a LoRA train step and its eval graph hold the same frozen base)
 * can be written against one sink: a tensor another graph already wrote is referenced again, not
 * written twice.
 */
export interface ExternalDataSink extends ExternalDataOptions {
  offset: number;
  readonly written: Map<string, { offset: number; length: number; dtype: DType; dims: string }>;
  write(chunk: Buffer): Promise<void>;
}

export function externalDataSink(options: ExternalDataOptions, write: (chunk: Buffer) => Promise<void>): ExternalDataSink {
  return { ...options, offset: 0, written: new Map(), write };
}

const WRITE_CHUNK_BYTES = 256 * 1024 * 1024;

/**
 * Graphs whose initializers reach this many bytes keep them in a data file beside the model
 * (protobuf cannot hold 2 GB; large frozen weights load faster from a file anyway).
 */
export const EXTERNAL_DATA_BYTES = 256 * 1024 * 1024;

/**
 * Encodes a graph as an ONNX model (protobuf bytes) whose large initializers go to an external
 * data file instead (protobuf cannot hold a model over 2 GB; frozen weights of real models are
 * far larger): each gets `location`, `offset` and `length` entries, offsets aligned to 4 KiB as
 * onnxruntime prefers. Tensors are read (lazy ones loaded) and written one at a time, so the
 * model is never in memory whole. Open such a model by path (the data file beside it) or pass
 * the data through `externalData` in the session options.
 */
export async function writeOnnxWithExternalData(
  g: Graph,
  sink: ExternalDataSink,
  options: { producer?: string; docString?: string } = {},
): Promise<Uint8Array> {
  const external = new Map<string, onnx.ITensorProto>();
  const read = readValues(g);
  for (const [name, t] of g.initializers) {
    const length = initializerBytes(t);
    if (length < sink.minBytes || !read.has(name)) continue;
    let at = sink.written.get(name);
    if (at && (at.dtype !== t.dtype || at.dims !== t.dims.join() || at.length !== length))
      throw new Error(`external data ${sink.location} already holds a different tensor named ${name}`);
    if (!at) {
      const pad = (4096 - (sink.offset % 4096)) % 4096;
      if (pad > 0) await sink.write(Buffer.alloc(pad));
      sink.offset += pad;
      const data = initializerData(t);
      // In pieces: hashing and writing refuse single buffers over 2 GB (an embedding of 131k x 5120 is 2.7 GB).
      for (let from = 0; from < data.byteLength; from += WRITE_CHUNK_BYTES)
        await sink.write(Buffer.from(data.buffer, data.byteOffset + from, Math.min(WRITE_CHUNK_BYTES, data.byteLength - from)));
      at = { offset: sink.offset, length, dtype: t.dtype, dims: t.dims.join() };
      sink.written.set(name, at);
      sink.offset += length;
    }
    external.set(name, {
      name,
      dims: [...t.dims],
      dataType: ELEM[t.dtype],
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: sink.location },
        { key: 'offset', value: String(at.offset) },
        { key: 'length', value: String(length) },
      ],
    });
  }
  return encode(g, options, external);
}

/** {@link writeOnnxWithExternalData} into memory: the model and its data file's bytes. */
export async function toOnnxWithExternalData(
  g: Graph,
  externalData: ExternalDataOptions,
  options: { producer?: string; docString?: string } = {},
): Promise<{ model: Uint8Array; data: Buffer }> {
  const chunks: Buffer[] = [];
  const model = await writeOnnxWithExternalData(
    g,
    externalDataSink(externalData, async (chunk) => void chunks.push(Buffer.from(chunk))),
    options,
  );
  return { model, data: Buffer.concat(chunks) };
}

/** Bytes of the graph's initializers (lazy ones not read). */
export const graphWeightBytes = (g: Graph): number => [...g.initializers.values()].reduce((n, t) => n + initializerBytes(t), 0);

/** Encodes a graph as an ONNX model (protobuf bytes), every initializer inline. */
export function toOnnx(g: Graph, options: { producer?: string; docString?: string } = {}): Uint8Array {
  return encode(g, options, new Map());
}

/**
 * The graph's nodes with needless copies removed: an Identity that only renames a computed
 * value nothing else reads (how outputs get their names) is dropped, and the producer writes
 * the output name directly. A train step would otherwise copy every updated parameter.
 */
function elideIdentities(g: Graph): Graph['nodes'] {
  const kept = new Set([...g.inputs, ...g.initializers.keys(), ...g.outputs]);
  const rename = new Map<string, string>();
  const drop = new Set<Graph['nodes'][number]>();
  for (const n of g.nodes) {
    const from = n.inputs[0];
    const to = n.outputs[0] as string;
    // An output that copies a computed value: the producer writes the output's name instead, and
    // every other reader reads it under that name (the KV cache is not copied per step).
    if (n.op !== 'Identity' || from === undefined || kept.has(from) || rename.has(from) || !g.outputs.includes(to)) continue;
    rename.set(from, to);
    drop.add(n);
  }
  const renamed = (names: readonly string[]) => (names.some((x) => rename.has(x)) ? names.map((x) => rename.get(x) ?? x) : names);
  return g.nodes.filter((n) => !drop.has(n)).map((n) => ({ ...n, inputs: renamed(n.inputs), outputs: renamed(n.outputs) }));
}

/**
 * The nodes the graph's outputs need, in order: gradient rules build the gradient of every
 * input of an op, and the ones of frozen weights and constants lead nowhere. Dropping them here
 * keeps them out of the file, the session and its memory.
 */
function liveNodes(nodes: Graph['nodes'], outputs: readonly string[]): Graph['nodes'] {
  const needed = new Set(outputs);
  const live: Graph['nodes'] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i] as Graph['nodes'][number];
    if (!n.outputs.some((o) => needed.has(o))) continue;
    live.push(n);
    for (const input of n.inputs) needed.add(input);
  }
  return live.reverse();
}

/** Values the live nodes read, the outputs and the inputs: initializers outside it are left out. */
function readValues(g: Graph): Set<string> {
  return new Set([...liveNodes(elideIdentities(g), g.outputs).flatMap((n) => n.inputs), ...g.outputs, ...g.inputs]);
}

function encode(g: Graph, options: { producer?: string; docString?: string }, external: ReadonlyMap<string, onnx.ITensorProto>): Uint8Array {
  const nodes = liveNodes(elideIdentities(g), g.outputs);
  const read = new Set([...nodes.flatMap((n) => n.inputs), ...g.outputs, ...g.inputs]);
  const model: onnx.IModelProto = {
    irVersion: IR_VERSION,
    producerName: options.producer ?? 'pixel',
    // onnxruntime's contrib ops (MatMulNBits) live in their own domain, version 1.
    opsetImport: [
      { domain: '', version: OPSET },
      ...(nodes.some((n) => n.domain === 'com.microsoft') ? [{ domain: 'com.microsoft', version: 1 }] : []),
    ],
    docString: options.docString ?? '',
    graph: {
      name: g.name,
      node: nodes.map((n) => ({
        opType: n.op,
        ...(n.domain ? { domain: n.domain } : {}),
        name: n.name,
        input: [...n.inputs],
        output: [...n.outputs],
        attribute: Object.entries(n.attrs).map(([k, a]) => attribute(k, a)),
      })),
      input: g.inputs.map((name) => {
        const v = g.value(name);
        return valueInfo(name, v.dtype, v.shape);
      }),
      output: g.outputs.map((name) => {
        const v = g.value(name);
        return valueInfo(name, v.dtype, v.shape);
      }),
      // Initializers only dead nodes read are left out too (graph inputs stay, read or not).
      initializer: [...g.initializers].filter(([name]) => read.has(name)).map(([name, t]) => external.get(name) ?? tensorProto(name, t)),
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/**
 * Writes a graph to a local file, its weights to `<dataName>` beside it when they reach
 * `externalBytes` (else inline), one tensor at a time. Each file appears only when complete
 * ({@link replaceFile}). Returns whether a data file was written.
 */
export async function writeOnnxFile(
  g: Graph,
  file: string,
  options: { dataName?: string; externalBytes?: number; producer?: string; docString?: string } = {},
): Promise<{ external: boolean }> {
  if (graphWeightBytes(g) < (options.externalBytes ?? EXTERNAL_DATA_BYTES)) {
    await writeFileReplacing(file, 'ONNX model', toOnnx(g, options));
    return { external: false };
  }
  const dataName = options.dataName ?? `${path.basename(file)}.data`;
  const model = await replaceFile(path.join(path.dirname(file), dataName), 'ONNX external data', async (target) => {
    const handle = await open(target.path, target.flags);
    try {
      return await writeOnnxWithExternalData(
        g,
        externalDataSink({ location: dataName, minBytes: 1024 }, async (chunk) => void (await handle.write(chunk))),
        options,
      );
    } finally {
      await handle.close();
    }
  });
  await writeFileReplacing(file, 'ONNX model', model);
  return { external: true };
}
