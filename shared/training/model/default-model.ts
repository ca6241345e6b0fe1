import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { generateConversation } from '../../data/synthetic/generator';
import { tokenizerFiles, trainBpe } from '../tokenizer/bpe';
import type { LlamaConfigInput, ModelDims } from './config';
import { createRandomModel } from './folder';

/** Presets of the embedded base model: `default` (about 3.5M parameters) and `tiny` (for tests). */
const SMALL_LLAMA = {
  model_type: 'llama',
  vocab_size: 2048,
  hidden_size: 256,
  intermediate_size: 688,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 512,
  rms_norm_eps: 1e-5,
  rope_theta: 10_000,
  tie_word_embeddings: true,
} as const;

export const MODEL_PRESETS: Record<'default' | 'tiny', LlamaConfigInput> = {
  default: SMALL_LLAMA,
  tiny: {
    ...SMALL_LLAMA,
    vocab_size: 512,
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 256,
  },
};

/**
 * Creates the embedded base model folder: random weights in Hugging Face layout plus a
 * byte-level BPE tokenizer trained on Pixel's synthetic conversations (so no download is
 * needed), with a ChatML chat template. Same preset and seed, same files.
 */
export async function createDefaultModel(dir: string, preset: keyof typeof MODEL_PRESETS = 'default', seed = 0): Promise<ModelDims> {
  const config = MODEL_PRESETS[preset];
  const dims = await createRandomModel(dir, config, seed);
  const corpus = Array.from({ length: 1500 }, (_, i) =>
    generateConversation(i, { seed: 7, crisisShare: 0.1, piiShare: 0 })
      .messages.map((m) => m.content)
      .join('\n'),
  ).join('\n');
  const { tokenizer, config: tokenizerConfig } = tokenizerFiles(trainBpe(corpus, dims.vocab), Number(config.max_position_embeddings ?? 2048));
  await writeFile(path.join(dir, 'tokenizer.json'), `${JSON.stringify(tokenizer)}\n`);
  await writeFile(path.join(dir, 'tokenizer_config.json'), `${JSON.stringify(tokenizerConfig, null, 2)}\n`);
  return dims;
}
