import { z } from 'zod';

/** LoRA adapters: rank, scale (alpha / rank) and the projections that get them. */
export const LoraSpecSchema = z
  .object({
    rank: z.number().int().min(1).max(512).default(8),
    alpha: z.number().positive().default(16),
    targets: z
      .array(z.enum(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']))
      .min(1)
      .default(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']),
  })
  .strict();

export type LoraSpec = z.output<typeof LoraSpecSchema>;

/** AdamW with global gradient-norm clipping (`maxGradNorm` 0 turns clipping off). */
export const AdamWSpecSchema = z
  .object({
    beta1: z.number().min(0).lt(1).default(0.9),
    beta2: z.number().min(0).lt(1).default(0.999),
    eps: z.number().positive().default(1e-8),
    weightDecay: z.number().min(0).default(0.01),
    maxGradNorm: z.number().min(0).default(1),
  })
  .strict();
export type AdamWSpec = z.output<typeof AdamWSpecSchema>;

/** Loss terms compiled into the train-step graph besides cross-entropy (their weights are runtime inputs). */
export const ObjectiveTermsSchema = z.object({ unlikelihood: z.boolean().default(true), kl: z.boolean().default(false) }).strict();
export type ObjectiveTerms = z.output<typeof ObjectiveTermsSchema>;

/** Input of the artifact generator (script and activity). */
export const GenerateArtifactsInputSchema = z
  .object({
    /** A Hugging Face-style model folder (path or file:// URI). */
    model: z.string().min(1, 'model is empty'),
    modes: z
      .array(z.enum(['full', 'lora']))
      .min(1)
      .default(['full', 'lora']),
    batch: z.number().int().min(1).max(1024).default(8),
    seq: z.number().int().min(2).max(32_768).default(128),
    lora: LoraSpecSchema.prefault({}),
    adamw: AdamWSpecSchema.prefault({}),
    /** Loss terms compiled into the graphs besides cross-entropy (weights are runtime inputs). */
    objectives: ObjectiveTermsSchema.prefault({}),
    /** LoRA graphs: the frozen base's matrices in float16 (see the train config's `frozenPrecision`). */
    frozenDtype: z.enum(['float32', 'float16']).optional(),
  })
  .strict();
export type GenerateArtifactsInput = z.input<typeof GenerateArtifactsInputSchema>;
export type GenerateArtifactsSpec = z.output<typeof GenerateArtifactsInputSchema>;

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
