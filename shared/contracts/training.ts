import { z } from 'zod';

/** The embedded default base model: a small Llama (about 3.5M parameters) with a byte-level BPE tokenizer. */
export const DEFAULT_MODEL_CONFIG = {
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

export const LoraSpecSchema = z
  .object({
    rank: z.number().int().min(1).max(512).default(8),
    alpha: z.number().positive().default(16),
    targets: z.array(z.enum(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'])).min(1).default(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']),
  })
  .strict();

export const AdamWSpecSchema = z
  .object({
    beta1: z.number().min(0).lt(1).default(0.9),
    beta2: z.number().min(0).lt(1).default(0.999),
    eps: z.number().positive().default(1e-8),
    weightDecay: z.number().min(0).default(0.01),
    maxGradNorm: z.number().min(0).default(1),
  })
  .strict();

/** Input of the artifact generator (script and activity). */
export const GenerateArtifactsInputSchema = z
  .object({
    /** A Hugging Face-style model folder (path or file:// URI). */
    model: z.string().min(1, 'model is empty'),
    modes: z.array(z.enum(['full', 'lora'])).min(1).default(['full', 'lora']),
    batch: z.number().int().min(1).max(1024).default(8),
    seq: z.number().int().min(2).max(32_768).default(128),
    lora: LoraSpecSchema.prefault({}),
    adamw: AdamWSpecSchema.prefault({}),
    /** Loss terms compiled into the graphs besides cross-entropy (weights are runtime inputs). */
    objectives: z.object({ unlikelihood: z.boolean().default(true), kl: z.boolean().default(false) }).strict().prefault({}),
  })
  .strict();
export type GenerateArtifactsInput = z.input<typeof GenerateArtifactsInputSchema>;

const FileSchema = z.object({ uri: z.string(), bytes: z.number().int().min(0), sha256: z.string() });

export const GenerateArtifactsResultSchema = z.object({
  manifestUri: z.string(),
  /** Hash of the model's weights and config plus the spec: the artifacts' identity. */
  key: z.string(),
  cacheHit: z.boolean(),
  parameters: z.number().int(),
  files: z.record(z.string(), FileSchema),
});
export type GenerateArtifactsResult = z.infer<typeof GenerateArtifactsResultSchema>;
