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
  for (const [name, t] of g.initializers) {
    if (t.data.byteLength < externalData.minBytes) continue;
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
  const readers = new Map<string, number>();
  for (const n of g.nodes) for (const i of n.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
  const kept = new Set([...g.inputs, ...g.initializers.keys(), ...g.outputs]);
  const rename = new Map<string, string>();
  const drop = new Set<Graph['nodes'][number]>();
  for (const n of g.nodes) {
    const from = n.inputs[0];
    if (n.op !== 'Identity' || from === undefined || kept.has(from) || readers.get(from) !== 1 || rename.has(from)) continue;
    rename.set(from, n.outputs[0] as string);
    drop.add(n);
  }
  return g.nodes
    .filter((n) => !drop.has(n))
    .map((n) => (n.outputs.some((o) => rename.has(o)) ? { ...n, outputs: n.outputs.map((o) => rename.get(o) ?? o) } : n));
}

function encode(g: Graph, options: { producer?: string; docString?: string }, external: ReadonlyMap<string, onnx.ITensorProto>): Uint8Array {
  const model: onnx.IModelProto = {
    irVersion: IR_VERSION,
    producerName: options.producer ?? 'pixel',
    opsetImport: [{ domain: '', version: OPSET }],
    docString: options.docString ?? '',
    graph: {
      name: g.name,
      node: elideIdentities(g).map((n) => ({
        opType: n.op,
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
      initializer: [...g.initializers].map(([name, t]) => external.get(name) ?? tensorProto(name, t)),
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}
