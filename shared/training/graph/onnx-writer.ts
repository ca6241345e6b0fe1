import { onnx } from 'onnx-proto';
import type { Attr, DType, Graph, Shape, Tensor } from './ir';

/** The opset Pixel's graphs use (onnxruntime 1.30 accepts 18-23 with IR version 8). */
export const OPSET = 18;
const IR_VERSION = 8;

const ELEM: Record<DType, onnx.TensorProto.DataType> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  uint8: onnx.TensorProto.DataType.UINT8,
  bool: onnx.TensorProto.DataType.BOOL,
};

function tensorProto(name: string, t: Tensor): onnx.ITensorProto {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
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
 * Encodes a graph as an ONNX model (protobuf bytes). With `externalData`, large initializers
 * are written to a separate data file instead (protobuf cannot hold a model over 2 GB; frozen
 * weights of real models are far larger): each gets `location`, `offset` and `length` entries,
 * offsets aligned to 4 KiB as onnxruntime prefers. Open such a model by path (the data file
 * beside it) or pass the data through `externalData` in the session options.
 */
export function toOnnxWithExternalData(
  g: Graph,
  externalData: ExternalDataOptions,
  options: { producer?: string; docString?: string } = {},
): { model: Uint8Array; data: Buffer } {
  const chunks: Buffer[] = [];
  let offset = 0;
  const external = new Map<string, onnx.ITensorProto>();
  const read = readValues(g);
  for (const [name, t] of g.initializers) {
    if (t.data.byteLength < externalData.minBytes || !read.has(name)) continue;
    const pad = (4096 - (offset % 4096)) % 4096;
    if (pad > 0) chunks.push(Buffer.alloc(pad));
    offset += pad;
    chunks.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    external.set(name, {
      name,
      dims: [...t.dims],
      dataType: ELEM[t.dtype],
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: externalData.location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(t.data.byteLength) },
      ],
    });
    offset += t.data.byteLength;
  }
  return { model: encode(g, options, external), data: Buffer.concat(chunks) };
}

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
