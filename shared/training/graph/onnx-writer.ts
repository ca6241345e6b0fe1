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

/** Encodes a graph as an ONNX model (protobuf bytes). */
export function toOnnx(g: Graph, options: { producer?: string; docString?: string } = {}): Uint8Array {
  const model: onnx.IModelProto = {
    irVersion: IR_VERSION,
    producerName: options.producer ?? 'pixel',
    opsetImport: [{ domain: '', version: OPSET }],
    docString: options.docString ?? '',
    graph: {
      name: g.name,
      node: g.nodes.map((n) => ({
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
      initializer: [...g.initializers].map(([name, t]) => tensorProto(name, t)),
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}
