import { bytesToUnicode } from '../tokenizer/bpe';

/**
 * Writes GGUF files for tests, byte by byte from the spec (independently of the reader), so
 * the reader, the dequantiser and the importer can be checked on files whose every value the
 * test chose. Not for real models.
 */

/** GGUF's metadata value type codes, written out from the spec again (not imported from the reader, so a wrong code there fails the tests). */
export const T = {
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

/** A metadata value with its GGUF type; arrays give their element type and items (nested arrays: items are `TypedArrayValue`s). */
export type TypedValue = { type: Exclude<number, 9>; value: number | bigint | boolean | string } | { type: 9; value: TypedArrayValue };
export interface TypedArrayValue {
  elementType: number;
  items: (number | bigint | boolean | string | TypedArrayValue)[];
}

export interface TestTensor {
  name: string;
  /** ggml ne, innermost first. */
  dims: number[];
  type: number;
  data: Uint8Array;
  /** Offset within the data section (default: after the previous tensor, aligned). */
  offset?: number;
}

export interface TestGguf {
  version?: number;
  metadata: [string, TypedValue][];
  tensors: TestTensor[];
  /** Alignment used for the padding (declare it in metadata as general.alignment to change the reader's). */
  alignment?: number;
}

class Out {
  private parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.parts.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  str(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.push(bytes);
  }
  buffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function writeScalar(out: Out, type: number, value: number | bigint | boolean | string | TypedArrayValue): void {
  const b8 = Buffer.alloc(8);
  switch (type) {
    case T.UINT8:
      b8.writeUInt8(value as number);
      return out.push(b8.subarray(0, 1));
    case T.INT8:
      b8.writeInt8(value as number);
      return out.push(b8.subarray(0, 1));
    case T.UINT16:
      b8.writeUInt16LE(value as number);
      return out.push(b8.subarray(0, 2));
    case T.INT16:
      b8.writeInt16LE(value as number);
      return out.push(b8.subarray(0, 2));
    case T.UINT32:
      b8.writeUInt32LE(value as number);
      return out.push(b8.subarray(0, 4));
    case T.INT32:
      b8.writeInt32LE(value as number);
      return out.push(b8.subarray(0, 4));
    case T.FLOAT32:
      b8.writeFloatLE(value as number);
      return out.push(b8.subarray(0, 4));
    case T.BOOL:
      b8.writeUInt8(value ? 1 : 0);
      return out.push(b8.subarray(0, 1));
    case T.STRING:
      return out.str(value as string);
    case T.UINT64:
      b8.writeBigUInt64LE(BigInt(value as number | bigint));
      return out.push(b8);
    case T.INT64:
      b8.writeBigInt64LE(BigInt(value as number | bigint));
      return out.push(b8);
    case T.FLOAT64:
      b8.writeDoubleLE(value as number);
      return out.push(b8);
    case T.ARRAY: {
      const a = value as TypedArrayValue;
      out.u32(a.elementType);
      out.u64(a.items.length);
      for (const item of a.items) writeScalar(out, a.elementType, item);
      return;
    }
    default:
      throw new Error(`test GGUF writer: unknown type ${type}`);
  }
}

/** The bytes of a GGUF file. */
export function buildGguf(spec: TestGguf): Buffer {
  const alignment = spec.alignment ?? 32;
  const out = new Out();
  out.push(Buffer.from('GGUF', 'latin1'));
  out.u32(spec.version ?? 3);
  out.u64(spec.tensors.length);
  out.u64(spec.metadata.length);
  for (const [key, v] of spec.metadata) {
    out.str(key);
    out.u32(v.type);
    writeScalar(out, v.type, v.value);
  }
  const offsets: number[] = [];
  let next = 0;
  for (const t of spec.tensors) {
    const offset = t.offset ?? next;
    offsets.push(offset);
    next = Math.ceil((offset + t.data.length) / alignment) * alignment;
    out.str(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(t.type);
    out.u64(offset);
  }
  const header = out.buffer();
  const dataStart = Math.ceil(header.length / alignment) * alignment;
  const dataLength = Math.max(0, ...spec.tensors.map((t, i) => (offsets[i] as number) + t.data.length));
  const file = Buffer.alloc(dataStart + Math.ceil(dataLength / alignment) * alignment);
  header.copy(file, 0);
  spec.tensors.forEach((t, i) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(file, dataStart + (offsets[i] as number)));
  return file;
}

export const u32 = (value: number): TypedValue => ({ type: T.UINT32, value });
export const f32 = (value: number): TypedValue => ({ type: T.FLOAT32, value });
export const str = (value: string): TypedValue => ({ type: T.STRING, value });
export const bool = (value: boolean): TypedValue => ({ type: T.BOOL, value });
export const strings = (items: string[]): TypedValue => ({ type: T.ARRAY, value: { elementType: T.STRING, items } });
export const int32s = (items: number[]): TypedValue => ({ type: T.ARRAY, value: { elementType: T.INT32, items } });

/** Float32 values as little-endian bytes (ggml type F32). */
export function f32Bytes(values: ArrayLike<number>): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** A deterministic stream of values in [-0.5, 0.5). */
export function stream(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

export interface TinyLlama {
  gguf: Buffer;
  /** The weights in Hugging Face's layout and naming (before llama.cpp's Q/K permutation). */
  hf: Map<string, { shape: number[]; data: Float32Array }>;
  tokens: string[];
}

/**
 * llama.cpp's Q/K row permutation as its converter writes it:
 * w.reshape(n, 2, rows/n/2, cols).swapaxes(1, 2).reshape(rows, cols).
 */
export function llamaCppPermute(w: Float32Array, rows: number, cols: number, n: number): Float32Array {
  const half = rows / n / 2;
  const out = new Float32Array(w.length);
  // Source index (h, s, i) in the [n, 2, half] view; destination index (h, i, s) after swapaxes.
  for (let h = 0; h < n; h++) {
    for (let s = 0; s < 2; s++) {
      for (let i = 0; i < half; i++) {
        const src = (h * 2 + s) * half + i;
        const dst = (h * half + i) * 2 + s;
        for (let c = 0; c < cols; c++) out[dst * cols + c] = w[src * cols + c] as number;
      }
    }
  }
  return out;
}

/**
 * A small Llama GGUF (F32 weights) with a byte-level BPE vocabulary: the 256 byte symbols,
 * three control tokens and a few merges, in SmolLM's layout (control tokens first).
 */
export function tinyLlamaGguf(
  options: {
    layers?: number;
    hidden?: number;
    heads?: number;
    kvHeads?: number;
    ffn?: number;
    tied?: boolean;
    pre?: string;
    arch?: string;
    seed?: number;
    extraTensor?: TestTensor;
    /** Replaces a tensor as written (to give it another type or shape). */
    mapTensor?: (t: TestTensor) => TestTensor;
    /** Metadata to set (replacing the default value of the same key) or, with undefined, to leave out. */
    metadata?: Record<string, TypedValue | undefined>;
  } = {},
): TinyLlama {
  const layers = options.layers ?? 2;
  const hidden = options.hidden ?? 32;
  const heads = options.heads ?? 4;
  const kvHeads = options.kvHeads ?? 2;
  const ffn = options.ffn ?? 48;
  const headDim = hidden / heads;
  const specials = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
  const merges = ['Ġ t', 'h e', 'Ġt he', 'i n', 'Ġ a'];
  const tokens = [...specials, ...bytesToUnicode(), 'Ġt', 'he', 'Ġthe', 'in', 'Ġa'];
  const types = tokens.map((_, i) => (i < specials.length ? 3 : 1));
  const vocab = tokens.length;
  const rnd = stream(options.seed ?? 7);
  const hf = new Map<string, { shape: number[]; data: Float32Array }>();
  const tensors: TestTensor[] = [];
  const add = (hfName: string, ggufName: string, shape: number[], ggufData?: (d: Float32Array) => Float32Array) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, () => (hfName.endsWith('norm.weight') ? 1 + rnd() * 0.2 : rnd() * 0.5));
    hf.set(hfName, { shape, data });
    tensors.push({ name: ggufName, dims: [...shape].reverse(), type: 0, data: f32Bytes(ggufData ? ggufData(data) : data) });
  };
  add('model.embed_tokens.weight', 'token_embd.weight', [vocab, hidden]);
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}`;
    add(`${p}.input_layernorm.weight`, `blk.${i}.attn_norm.weight`, [hidden]);
    add(`${p}.self_attn.q_proj.weight`, `blk.${i}.attn_q.weight`, [heads * headDim, hidden], (d) =>
      llamaCppPermute(d, heads * headDim, hidden, heads),
    );
    add(`${p}.self_attn.k_proj.weight`, `blk.${i}.attn_k.weight`, [kvHeads * headDim, hidden], (d) =>
      llamaCppPermute(d, kvHeads * headDim, hidden, kvHeads),
    );
    add(`${p}.self_attn.v_proj.weight`, `blk.${i}.attn_v.weight`, [kvHeads * headDim, hidden]);
    add(`${p}.self_attn.o_proj.weight`, `blk.${i}.attn_output.weight`, [hidden, heads * headDim]);
    add(`${p}.post_attention_layernorm.weight`, `blk.${i}.ffn_norm.weight`, [hidden]);
    add(`${p}.mlp.gate_proj.weight`, `blk.${i}.ffn_gate.weight`, [ffn, hidden]);
    add(`${p}.mlp.up_proj.weight`, `blk.${i}.ffn_up.weight`, [ffn, hidden]);
    add(`${p}.mlp.down_proj.weight`, `blk.${i}.ffn_down.weight`, [hidden, ffn]);
  }
  add('model.norm.weight', 'output_norm.weight', [hidden]);
  if (options.tied === false) add('lm_head.weight', 'output.weight', [vocab, hidden]);
  if (options.extraTensor) tensors.push(options.extraTensor);
  const written = options.mapTensor ? tensors.map(options.mapTensor) : tensors;
  const arch = options.arch ?? 'llama';
  const metadata: [string, TypedValue][] = [
    ['general.architecture', str(arch)],
    ['general.name', str('Tiny Test Llama')],
    ['general.license', str('apache-2.0')],
    [`${arch}.block_count`, u32(layers)],
    [`${arch}.context_length`, u32(128)],
    [`${arch}.embedding_length`, u32(hidden)],
    [`${arch}.feed_forward_length`, u32(ffn)],
    [`${arch}.attention.head_count`, u32(heads)],
    [`${arch}.attention.head_count_kv`, u32(kvHeads)],
    [`${arch}.rope.freq_base`, f32(10000)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32(1e-5)],
    [`${arch}.rope.dimension_count`, u32(headDim)],
    ['tokenizer.ggml.model', str('gpt2')],
    ['tokenizer.ggml.pre', str(options.pre ?? 'smollm')],
    ['tokenizer.ggml.tokens', strings(tokens)],
    ['tokenizer.ggml.token_type', int32s(types)],
    ['tokenizer.ggml.merges', strings(merges)],
    ['tokenizer.ggml.bos_token_id', u32(1)],
    ['tokenizer.ggml.eos_token_id', u32(2)],
    ['tokenizer.ggml.unknown_token_id', u32(0)],
    ['tokenizer.ggml.padding_token_id', u32(2)],
    ['tokenizer.ggml.add_bos_token', bool(false)],
    [
      'tokenizer.chat_template',
      str(
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
      ),
    ],
  ];
  const overrides = options.metadata ?? {};
  const finalMetadata = metadata.filter(([k]) => !(k in overrides));
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) finalMetadata.push([k, v]);
  return { gguf: buildGguf({ metadata: finalMetadata, tensors: written }), hf, tokens };
}
