/**
 * A typed graph IR for Pixel's training artifacts: every value has a dtype and a shape (numbers,
 * or names for symbolic dimensions), every node an ONNX op type, inputs, outputs and attributes.
 * Op builders (ops.ts) infer the output types, so the autodiff can reason about shapes
 * (broadcast reduction) without running anything; the writer (onnx-writer.ts) turns it into
 * an ONNX ModelProto.
 */

export type DType = 'float32' | 'float64' | 'float16' | 'int64' | 'int32' | 'uint8' | 'int8' | 'bool';
export type Dim = number | string;
export type Shape = readonly Dim[];

export interface Value {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

/** float16 values are their IEEE half-precision bit patterns in a Uint16Array, int8 values their two's-complement bytes in a Uint8Array. */
export type TensorData = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

export interface Tensor {
  dtype: DType;
  dims: readonly number[];
  data: TensorData;
}

export type Attr =
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'float'; value: number }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: Tensor };

export interface Node {
  readonly op: string;
  /** The op's domain when it is not a standard ONNX op (`com.microsoft` for onnxruntime's contrib ops). */
  readonly domain?: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, Attr>>;
  readonly name: string;
}

/**
 * A weight whose values are read only when the graph is written (from a safetensors shard, or
 * stacked from others): a model of several gigabytes goes to its ONNX data file one tensor at a
 * time instead of being held in memory whole. `load` may be called more than once; nothing keeps
 * what it returns.
 */
export interface LazyTensor {
  dtype: DType;
  dims: readonly number[];
  load(): TensorData;
}

/** A stored weight: its values, or how to read them. */
export type Initializer = Tensor | LazyTensor;

const BYTES: Record<DType, number> = { float32: 4, float64: 8, float16: 2, int64: 8, int32: 4, uint8: 1, int8: 1, bool: 1 };

export const isLazy = (t: Initializer): t is LazyTensor => typeof (t as LazyTensor).load === 'function';
/** The tensor's size in bytes, without reading a lazy one. */
export const initializerBytes = (t: Initializer): number => t.dims.reduce((a, b) => a * b, 1) * BYTES[t.dtype];
/** The tensor's values (a lazy one is read now; the caller should not keep it longer than needed). */
export function initializerData(t: Initializer): TensorData {
  if (!isLazy(t)) return t.data;
  const data = t.load();
  if (data.byteLength !== initializerBytes(t))
    throw new Error(`a lazy tensor of ${t.dtype} [${t.dims.join(', ')}] read ${data.byteLength} bytes, expected ${initializerBytes(t)}`);
  return data;
}
/** The tensor with its values in memory. */
export const materialize = (t: Initializer): Tensor => (isLazy(t) ? { dtype: t.dtype, dims: t.dims, data: initializerData(t) } : t);

export const int = (value: number): Attr => ({ kind: 'int', value });
export const ints = (value: readonly number[]): Attr => ({ kind: 'ints', value });
export const float = (value: number): Attr => ({ kind: 'float', value });
export const str = (value: string): Attr => ({ kind: 'string', value });
export const tensorAttr = (value: Tensor): Attr => ({ kind: 'tensor', value });

const ARRAYS: Record<DType, (n: number) => TensorData> = {
  float32: (n) => new Float32Array(n),
  float64: (n) => new Float64Array(n),
  float16: (n) => new Uint16Array(n),
  int64: (n) => new BigInt64Array(n),
  int32: (n) => new Int32Array(n),
  uint8: (n) => new Uint8Array(n),
  int8: (n) => new Uint8Array(n),
  bool: (n) => new Uint8Array(n),
};

/** A tensor of `dims` filled from `values` (numbers; converted to the dtype's array type). */
export function tensor(dtype: DType, dims: readonly number[], values: readonly number[] | TensorData): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  if (values.length !== n) throw new Error(`tensor of shape [${dims.join(', ')}] needs ${n} values, got ${values.length}`);
  if (!Array.isArray(values)) return { dtype, dims, data: values as TensorData };
  const data = ARRAYS[dtype](n);
  values.forEach((v, i) => {
    if (data instanceof BigInt64Array) data[i] = BigInt(Math.trunc(v as number));
    else data[i] = v as number;
  });
  return { dtype, dims, data };
}

export const isFloat = (dtype: DType): boolean => dtype === 'float32' || dtype === 'float64' || dtype === 'float16';
export const sameDim = (a: Dim, b: Dim): boolean => a === b;
export const numel = (shape: Shape): number | undefined =>
  shape.every((d) => typeof d === 'number') ? (shape as number[]).reduce((a, b) => a * b, 1) : undefined;

/** A graph under construction. Names are unique; builders ask for fresh ones. */
export class Graph {
  readonly values = new Map<string, Value>();
  readonly nodes: Node[] = [];
  readonly inputs: string[] = [];
  readonly outputs: string[] = [];
  readonly initializers = new Map<string, Initializer>();
  private counter = 0;

  constructor(readonly name = 'pixel') {}

  fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.values.has(name));
    return name;
  }

  private declare(name: string, dtype: DType, shape: Shape): Value {
    if (this.values.has(name)) throw new Error(`value ${name} is defined twice`);
    const v: Value = { name, dtype, shape: [...shape] };
    this.values.set(name, v);
    return v;
  }

  value(name: string): Value {
    const v = this.values.get(name);
    if (!v) throw new Error(`unknown value ${name}`);
    return v;
  }

  input(name: string, dtype: DType, shape: Shape): Value {
    const v = this.declare(name, dtype, shape);
    this.inputs.push(name);
    return v;
  }

  /** A named constant stored in the model (weights; small constants go through {@link constant}). */
  initializer(name: string, t: Initializer): Value {
    const v = this.declare(name, t.dtype, t.dims);
    this.initializers.set(name, t);
    return v;
  }

  /** An anonymous constant (a Constant node). */
  constant(t: Tensor, prefix = 'const'): Value {
    const [v] = this.node('Constant', [], { value: tensorAttr(t) }, [{ dtype: t.dtype, shape: t.dims }], prefix);
    return v as Value;
  }

  scalar(dtype: DType, x: number): Value {
    return this.constant(tensor(dtype, [], [x]), 'scalar');
  }

  /** An optional input left out (ONNX's empty name), for ops whose later inputs are given. */
  absent(dtype: DType = 'float32'): Value {
    return { name: '', dtype, shape: [] };
  }

  ints(values: readonly number[]): Value {
    return this.constant(tensor('int64', [values.length], values), 'ints');
  }

  /** Adds a node; `outs` are the output types (inferred by the op builders). */
  node(
    op: string,
    inputs: readonly Value[],
    attrs: Record<string, Attr>,
    outs: readonly { dtype: DType; shape: Shape }[],
    prefix = op.toLowerCase(),
    domain?: string,
  ): Value[] {
    for (const i of inputs)
      if (i.name !== '' && this.values.get(i.name) !== i && !this.values.has(i.name)) throw new Error(`${op}: input ${i.name} is not in this graph`);
    const outputs = outs.map((o) => this.declare(this.fresh(prefix), o.dtype, o.shape));
    this.nodes.push({
      op,
      ...(domain ? { domain } : {}),
      inputs: inputs.map((i) => i.name),
      outputs: outputs.map((o) => o.name),
      attrs,
      name: this.fresh(`n_${op}`),
    });
    return outputs;
  }

  /** Marks a value as a graph output, under `name` when given (an Identity node renames it). */
  output(v: Value, name?: string): Value {
    let out = v;
    if (name && name !== v.name) {
      out = this.declare(name, v.dtype, v.shape);
      this.nodes.push({ op: 'Identity', inputs: [v.name], outputs: [name], attrs: {}, name: this.fresh('n_Identity') });
    }
    this.outputs.push(out.name);
    return out;
  }

  /** The node that produces each value. */
  producers(): Map<string, Node> {
    const m = new Map<string, Node>();
    for (const n of this.nodes) for (const o of n.outputs) m.set(o, n);
    return m;
  }
}
