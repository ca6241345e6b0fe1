import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { materialize, type LazyTensor, type Tensor } from '../graph/ir';
import { openSafetensorsFolder, readTensorBytes, toFloat32, writeSafetensors, type SafetensorsDType } from '../safetensors';
import { LlamaConfigSchema, modelDims, parameterShapes, type LlamaConfigInput, type ModelDims } from './config';

/** Files of a model folder besides its weights: tokenizer, chat template, generation defaults. */
export const TOKENIZER_AND_GENERATION_FILES =
  /^(?:tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|generation_config\.json|chat_template\.jinja)$/;

const ARCHITECTURES: Record<string, string> = {
  llama: 'LlamaForCausalLM',
  smollm: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM',
};

/** A deterministic stream of values in [-0.5, 0.5) for random initialisation. */
function stream(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32 - 0.5;
  };
}

/**
 * Writes a randomly initialised model folder in Hugging Face's layout: `config.json`,
 * `generation_config.json` and `model.safetensors` (float32). Norm weights start at 1, the
 * rest uniform with a 1/sqrt(fan-in) scale. Same config and seed, same bytes.
 */
export async function createRandomModel(dir: string, config: LlamaConfigInput, seed = 0): Promise<ModelDims> {
  const parsed = LlamaConfigSchema.parse(config);
  const dims = modelDims(parsed);
  const rnd = stream(seed + 1);
  const tensors = parameterShapes(dims).map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape[shape.length - 1] as number;
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = name.endsWith('norm.weight') ? 1 : (rnd() * 2 * Math.sqrt(3)) / Math.sqrt(fanIn);
    return { name, dtype: 'F32' as const, shape, data };
  });
  await mkdir(dir, { recursive: true });
  await writeFile(
    path.join(dir, 'config.json'),
    `${JSON.stringify({ architectures: [ARCHITECTURES[parsed.model_type]], ...parsed, torch_dtype: 'float32' }, null, 2)}\n`,
  );
  await writeFile(path.join(dir, 'generation_config.json'), `${JSON.stringify({ do_sample: false, max_new_tokens: 64 }, null, 2)}\n`);
  await writeFile(path.join(dir, 'model.safetensors'), writeSafetensors(tensors, { format: 'pt', producer: 'pixel' }));
  return dims;
}

export class ModelFolderError extends Error {
  constructor(dir: string, problem: string) {
    super(`model folder ${dir}: ${problem}`);
    this.name = 'ModelFolderError';
  }
}

/** A model folder opened without reading its weights: each is a {@link LazyTensor} read (as float32) when asked for. */
export interface OpenedModelFolder {
  config: LlamaConfigInput;
  dims: ModelDims;
  weights: Map<string, LazyTensor>;
  /** The dtype the folder stores its weights in (the first weight's; `F32`, `BF16`, `F16`). */
  storedDtype: SafetensorsDType;
  /** Bytes of the weights as stored. */
  storedBytes: number;
}

/**
 * Opens a model folder: the validated config, and every parameter as a lazy float32 tensor
 * (fp16 and bf16 weights are widened when read). Only the headers are read here, so a folder of
 * tens of gigabytes opens at once and a graph writer streams its weights one at a time. Each
 * expected tensor must be present with its shape; extra tensors (rotary buffers and the like) are
 * ignored.
 */
export async function openModelFolder(dir: string): Promise<OpenedModelFolder> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'));
  } catch (err) {
    throw new ModelFolderError(dir, `config.json: ${(err as Error).message}`);
  }
  const parsed = LlamaConfigSchema.safeParse(raw);
  if (!parsed.success)
    throw new ModelFolderError(dir, `config.json: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  const dims = modelDims(parsed.data);
  const entries = await openSafetensorsFolder(dir);
  const weights = new Map<string, LazyTensor>();
  const problems: string[] = [];
  let storedDtype: SafetensorsDType | undefined;
  let storedBytes = 0;
  for (const [name, shape] of parameterShapes(dims)) {
    const e = entries.get(name);
    if (!e) {
      problems.push(`${name} is missing`);
      continue;
    }
    if (e.shape.join() !== shape.join()) {
      problems.push(`${name} is [${e.shape.join(', ')}], the config needs [${shape.join(', ')}]`);
      continue;
    }
    if (!['F32', 'F16', 'BF16', 'F64'].includes(e.dtype)) {
      problems.push(`${name} is ${e.dtype}, not a float type`);
      continue;
    }
    storedDtype ??= e.dtype;
    storedBytes += e.length;
    weights.set(name, { dtype: 'float32', dims: shape, load: () => toFloat32(readTensorBytes(e)) });
  }
  if (problems.length > 0)
    throw new ModelFolderError(dir, problems.slice(0, 8).join('; ') + (problems.length > 8 ? `; and ${problems.length - 8} more` : ''));
  return { config: parsed.data, dims, weights, storedDtype: storedDtype ?? 'F32', storedBytes };
}

/**
 * Loads a model folder: the validated config and every parameter as float32 in memory (fp16 and
 * bf16 weights are widened). For small models; large ones stream through {@link openModelFolder}.
 */
export async function loadModelFolder(dir: string): Promise<{ config: LlamaConfigInput; dims: ModelDims; weights: Map<string, Tensor> }> {
  const { config, dims, weights } = await openModelFolder(dir);
  return { config, dims, weights: new Map([...weights].map(([name, t]) => [name, materialize(t)])) };
}

/** sha256 over a model folder's config and weight files (names and bytes): what identifies the model. */
export async function modelFolderSha(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const files = (await readdir(dir)).filter((f) => f === 'config.json' || f.endsWith('.safetensors')).sort();
  if (!files.includes('config.json')) throw new ModelFolderError(dir, 'config.json is missing');
  for (const f of files) {
    hash.update(`${f}\0`);
    for await (const chunk of createReadStream(path.join(dir, f))) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}
