import type { LoraTarget } from './memory-plan';
import type { LlamaConfigInput } from './config';
import { MODEL_PRESETS } from './default-model';

/**
 * The model shapes whose real memory peaks `scripts/measure-memory.ts` measures and
 * memory-plan.test.ts checks the plan against (the measured figures live in the test, by name).
 */

export interface MeasureCase {
  name: string;
  config: LlamaConfigInput;
  mode: 'full' | 'lora';
  batch: number;
  seq: number;
  /** LoRA rank and targets (the TrainConfig defaults unless given). */
  lora?: { rank: number; targets: LoraTarget[] };
  /** Also measure generation: `batch` prompts of `prompt` tokens, `maxNewTokens` decoded. */
  generation?: { batch: number; prompt: number; maxNewTokens: number };
  /** Not used to set the measured constants of memory-plan.ts: a check of them. */
  holdout?: boolean;
}

/** The 13.7M-parameter Llama (the train-step benchmark's too). */
export const LLAMA_13M: LlamaConfigInput = {
  model_type: 'llama',
  vocab_size: 1024,
  hidden_size: 512,
  intermediate_size: 1376,
  num_hidden_layers: 4,
  num_attention_heads: 8,
  num_key_value_heads: 8,
  tie_word_embeddings: false,
  max_position_embeddings: 1024,
};
/** A 131,072-token vocabulary (Mistral Nemo's, Llama 3's is 128,256): the logits dominate. */
export const VOCAB_131K: LlamaConfigInput = {
  model_type: 'llama',
  vocab_size: 131_072,
  hidden_size: 256,
  intermediate_size: 688,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  tie_word_embeddings: true,
  max_position_embeddings: 1024,
};
/** The same vocabulary at hidden 128, so full fine-tuning (embedding, its gradient, moments and copies) stays under 2 GB. */
const VOCAB_131K_NARROW: LlamaConfigInput = {
  ...VOCAB_131K,
  hidden_size: 128,
  intermediate_size: 344,
  num_attention_heads: 2,
  num_key_value_heads: 1,
};
/** Untied, with 268 MB of embedding and LM head: its LoRA graphs keep their weights in a data file (over 256 MiB). */
const VOCAB_64K_UNTIED: LlamaConfigInput = {
  model_type: 'llama',
  vocab_size: 65_536,
  hidden_size: 512,
  intermediate_size: 1376,
  num_hidden_layers: 2,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  tie_word_embeddings: false,
  max_position_embeddings: 1024,
};
/** Tied, 131,072 x 512: a data file too, its embedding both looked up and the LM head. */
const VOCAB_131K_WIDE_TIED: LlamaConfigInput = { ...VOCAB_64K_UNTIED, vocab_size: 131_072, intermediate_size: 1024, tie_word_embeddings: true };
/** Mistral-style: head_dim given (not hidden / heads), 4 query heads per key/value head, long sequences. */
const GQA_LONG: LlamaConfigInput = {
  model_type: 'mistral',
  vocab_size: 2048,
  hidden_size: 256,
  intermediate_size: 512,
  num_hidden_layers: 2,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  head_dim: 64,
  max_position_embeddings: 1024,
};
/** Qwen2-style: attention biases, untied, 6 heads over 2 key/value heads. */
const QWEN2_SMALL: LlamaConfigInput = {
  model_type: 'qwen2',
  vocab_size: 4096,
  hidden_size: 384,
  intermediate_size: 1024,
  num_hidden_layers: 3,
  num_attention_heads: 6,
  num_key_value_heads: 2,
  tie_word_embeddings: false,
  max_position_embeddings: 1024,
};
/** Qwen3-style: per-head q/k norms, tied. */
const QWEN3_SMALL: LlamaConfigInput = {
  model_type: 'qwen3',
  vocab_size: 8192,
  hidden_size: 256,
  intermediate_size: 768,
  num_hidden_layers: 3,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 64,
  tie_word_embeddings: true,
  max_position_embeddings: 1024,
};

/**
 * The measured shapes; each stays under about 2 GB of RSS. The first nine informed the
 * onnxruntime constants of memory-plan.ts; the rest (`holdout`) only check them.
 */
export const MEMORY_CASES: MeasureCase[] = [
  { name: 'random-small-full', config: MODEL_PRESETS.default, mode: 'full', batch: 4, seq: 128 },
  { name: 'random-small-lora', config: MODEL_PRESETS.default, mode: 'lora', batch: 4, seq: 128 },
  { name: 'llama-13.7m-full', config: LLAMA_13M, mode: 'full', batch: 8, seq: 128 },
  {
    name: 'llama-13.7m-lora',
    config: LLAMA_13M,
    mode: 'lora',
    batch: 8,
    seq: 128,
    generation: { batch: 16, prompt: 256, maxNewTokens: 64 },
  },
  { name: 'vocab-131k-full', config: VOCAB_131K_NARROW, mode: 'full', batch: 2, seq: 64 },
  {
    name: 'vocab-131k-lora',
    config: VOCAB_131K,
    mode: 'lora',
    batch: 2,
    seq: 64,
    generation: { batch: 8, prompt: 128, maxNewTokens: 32 },
  },
  { name: 'vocab-64k-untied-lora', config: VOCAB_64K_UNTIED, mode: 'lora', batch: 1, seq: 64 },
  { name: 'gqa-long-full', config: GQA_LONG, mode: 'full', batch: 2, seq: 512 },
  { name: 'gqa-long-lora', config: GQA_LONG, mode: 'lora', batch: 2, seq: 512 },
  { name: 'random-tiny-full', config: MODEL_PRESETS.tiny, mode: 'full', batch: 4, seq: 64, holdout: true },
  { name: 'random-tiny-lora', config: MODEL_PRESETS.tiny, mode: 'lora', batch: 4, seq: 64, holdout: true },
  {
    name: 'qwen2-qv-lora',
    config: QWEN2_SMALL,
    mode: 'lora',
    batch: 4,
    seq: 256,
    lora: { rank: 16, targets: ['q_proj', 'v_proj'] },
    holdout: true,
    generation: { batch: 8, prompt: 512, maxNewTokens: 32 },
  },
  { name: 'qwen2-full', config: QWEN2_SMALL, mode: 'full', batch: 2, seq: 256, holdout: true },
  { name: 'qwen3-lora', config: QWEN3_SMALL, mode: 'lora', batch: 8, seq: 128, holdout: true },
  { name: 'vocab-131k-lora-b4', config: VOCAB_131K, mode: 'lora', batch: 4, seq: 32, holdout: true },
  { name: 'vocab-131k-wide-tied-lora', config: VOCAB_131K_WIDE_TIED, mode: 'lora', batch: 1, seq: 64, holdout: true },
];
