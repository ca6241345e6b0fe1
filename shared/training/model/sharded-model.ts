import { mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { generateConversation } from '../../data/synthetic/generator';
import { writeSafetensorsFile, type LazyTensorToWrite } from '../safetensors';
import { SPECIAL_TOKENS, tokenizerFiles, trainBpe, type TrainedBpe } from '../tokenizer/bpe';
import { modelDims, parameterShapes, type LlamaConfigInput } from './config';

/**
 * Model folders laid out as large real checkpoints are (several bf16 safetensors shards with an
 * index), with random weights made one tensor at a time: what the large-model benchmark and the
 * tests run the whole path on without a download.
 */

/**
 * Mistral-Nemo-12B's config (the architecture of Wayfarer-2-12B, Pixel's production base): 40
 * layers, hidden 5120, 32 query and 8 key/value heads of an explicit head_dim 128 (queries 4096
 * wide, not 5120), intermediate 14336, a 131,072-token vocabulary, rope theta 1e6, untied LM head.
 */
export const MISTRAL_NEMO_12B: LlamaConfigInput = {
  model_type: 'mistral',
  vocab_size: 131_072,
  hidden_size: 5120,
  intermediate_size: 14_336,
  num_hidden_layers: 40,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  head_dim: 128,
  rms_norm_eps: 1e-5,
  rope_theta: 1_000_000,
  max_position_embeddings: 1_024_000,
  sliding_window: null,
  tie_word_embeddings: false,
};

/** Nemo's exact width with 2 of its 40 layers: about 1.89B parameters, 3.8 GB in bf16. */
export const NEMO_2_LAYERS: LlamaConfigInput = { ...MISTRAL_NEMO_12B, num_hidden_layers: 2 };

/**
 * A byte-level BPE of exactly `vocabSize` tokens: merges learned from synthetic conversations,
 * then merges of token pairs not yet in the vocabulary until it is full (a 131k vocabulary needs
 * far more text than a test has; every merge is of two existing tokens, so it is a valid BPE).
 */
function fullVocabularyBpe(vocabSize: number): TrainedBpe {
  const corpus = Array.from({ length: 200 }, (_, i) =>
    generateConversation(i, { seed: 3, crisisShare: 0.1, piiShare: 0 })
      .messages.map((m) => m.content)
      .join('\n'),
  ).join('\n');
  const bpe = trainBpe(corpus, Math.min(3000, vocabSize));
  const budget = vocabSize - SPECIAL_TOKENS.length;
  const tokens = [...bpe.vocab.keys()];
  for (let i = 0; bpe.vocab.size < budget; i++) {
    const a = tokens[i % tokens.length] as string;
    for (let j = 0; j < 400 && bpe.vocab.size < budget; j++) {
      const b = tokens[(i * 7 + j) % tokens.length] as string;
      if (bpe.vocab.has(a + b)) continue;
      bpe.merges.push([a, b]);
      bpe.vocab.set(a + b, bpe.vocab.size);
      tokens.push(a + b);
    }
  }
  return bpe;
}

/**
 * Writes the model folder as a checkpoint of a real 12B is laid out: bf16 weights in several
 * safetensors shards with `model.safetensors.index.json`, `config.json`, a generated tokenizer.
 * Weights are random (uniform, 1/sqrt(fan-in); norms 1) and made one tensor at a time.
 */
export async function writeShardedBf16Model(
  dir: string,
  config: LlamaConfigInput,
  shards: number,
  seed = 1,
): Promise<{ bytes: number; parameters: number }> {
  mkdirSync(dir, { recursive: true });
  const dims = modelDims(config);
  const shapes = parameterShapes(dims);
  const sizes = shapes.map(([, s]) => s.reduce((a, b) => a * b, 1));
  const parameters = sizes.reduce((a, b) => a + b, 0);
  const perShard = Math.ceil((parameters * 2) / shards);
  const files: LazyTensorToWrite[][] = [[]];
  let inShard = 0;
  let state = seed >>> 0 || 1;
  shapes.forEach(([name, shape], i) => {
    const n = sizes[i] as number;
    if (inShard > 0 && inShard + n * 2 > perShard && files.length < shards) {
      files.push([]);
      inShard = 0;
    }
    inShard += n * 2;
    const fanIn = shape[shape.length - 1] as number;
    (files[files.length - 1] as LazyTensorToWrite[]).push({
      name,
      dtype: 'BF16',
      shape,
      load: () => {
        const out = new Uint16Array(n);
        if (name.endsWith('norm.weight')) return out.fill(0x3f80); // 1.0
        const scale = (2 * Math.sqrt(3)) / Math.sqrt(fanIn);
        const f = new Float32Array(1);
        const w = new Uint32Array(f.buffer);
        for (let k = 0; k < n; k++) {
          state ^= state << 13;
          state ^= state >>> 17;
          state ^= state << 5;
          f[0] = ((state >>> 0) / 2 ** 32 - 0.5) * scale;
          out[k] = ((w[0] as number) + 0x7fff + (((w[0] as number) >>> 16) & 1)) >>> 16;
        }
        return out;
      },
    });
  });
  const weightMap: Record<string, string> = {};
  for (const [k, tensors] of files.entries()) {
    const file = `model-${String(k + 1).padStart(5, '0')}-of-${String(files.length).padStart(5, '0')}.safetensors`;
    await writeSafetensorsFile(path.join(dir, file), tensors, { format: 'pt' });
    for (const t of tensors) weightMap[t.name] = file;
  }
  await writeFile(
    path.join(dir, 'model.safetensors.index.json'),
    `${JSON.stringify({ metadata: { total_size: parameters * 2 }, weight_map: weightMap }, null, 2)}\n`,
  );
  await writeFile(
    path.join(dir, 'config.json'),
    `${JSON.stringify({ architectures: ['MistralForCausalLM'], ...config, torch_dtype: 'bfloat16' }, null, 2)}\n`,
  );
  await writeFile(path.join(dir, 'generation_config.json'), `${JSON.stringify({ do_sample: false, max_new_tokens: 64 }, null, 2)}\n`);
  const { tokenizer, config: tokenizerConfig } = tokenizerFiles(fullVocabularyBpe(dims.vocab), 4096);
  await writeFile(path.join(dir, 'tokenizer.json'), `${JSON.stringify(tokenizer)}\n`);
  await writeFile(path.join(dir, 'tokenizer_config.json'), `${JSON.stringify(tokenizerConfig, null, 2)}\n`);
  return { bytes: parameters * 2, parameters };
}
