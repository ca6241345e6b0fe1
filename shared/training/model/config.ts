import { z } from 'zod';

/**
 * The part of a Hugging Face `config.json` Pixel needs for Llama-family decoders (Llama,
 * Mistral, Qwen2, Qwen3, SmolLM): RMSNorm, rotary position embedding, grouped-query attention,
 * SwiGLU MLP, optionally tied embeddings, attention biases (Qwen2) and per-head q/k norms (Qwen3).
 * Unknown keys are allowed (real configs carry many); the ones used are validated.
 */
export const LlamaConfigSchema = z
  .object({
    model_type: z.enum(['llama', 'mistral', 'qwen2', 'qwen3', 'smollm']),
    // Upper bounds well above any real Llama-family model, so a damaged or hostile config fails here, not in an allocation.
    vocab_size: z.number().int().min(2).max(1_048_576),
    hidden_size: z.number().int().min(1).max(65_536),
    intermediate_size: z.number().int().min(1).max(262_144),
    num_hidden_layers: z.number().int().min(1).max(1024),
    num_attention_heads: z.number().int().min(1).max(1024),
    num_key_value_heads: z.number().int().min(1).max(1024).optional(),
    head_dim: z.number().int().min(2).max(4096).optional().nullable(),
    rms_norm_eps: z.number().positive().default(1e-6),
    rope_theta: z.number().positive().default(10_000),
    max_position_embeddings: z.number().int().min(1).max(16_777_216).default(2048),
    tie_word_embeddings: z.boolean().default(false),
    attention_bias: z.boolean().optional(),
    hidden_act: z.literal('silu').default('silu'),
    // Rotary scaling (Llama 3.x, long-context fine-tunes): `rope_type` (or the older `type`) and its factors.
    rope_scaling: z
      .object({
        rope_type: z.string().optional(),
        type: z.string().optional(),
        factor: z.number().positive().optional(),
        low_freq_factor: z.number().positive().optional(),
        high_freq_factor: z.number().positive().optional(),
        original_max_position_embeddings: z.number().int().min(1).optional(),
      })
      .passthrough()
      .nullable()
      .optional(),
    // Mistral's sliding-window attention: each token sees itself and the window - 1 tokens before it.
    sliding_window: z.number().int().min(1).nullable().optional(),
    // Qwen2's switch for its (per-layer) sliding window; when false the window is not used.
    use_sliding_window: z.boolean().optional(),
  })
  .passthrough()
  .superRefine((c, ctx) => {
    const scaling = c.rope_scaling;
    const ropeType = scaling ? (scaling.rope_type ?? scaling.type ?? 'default') : 'default';
    if (scaling && !SUPPORTED_ROPE_SCALING.includes(ropeType))
      ctx.addIssue({
        code: 'custom',
        path: ['rope_scaling'],
        message: `rope scaling '${String(ropeType).slice(0, 40)}' is not supported (Pixel implements ${SUPPORTED_ROPE_SCALING.join(', ')}); a model that needs it would run with wrong positions`,
      });
    if (scaling && (ropeType === 'linear' || ropeType === 'llama3') && scaling.factor === undefined)
      ctx.addIssue({ code: 'custom', path: ['rope_scaling', 'factor'], message: `rope scaling '${ropeType}' needs a factor` });
    if (scaling && ropeType === 'llama3')
      for (const key of ['low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'] as const)
        if (scaling[key] === undefined) ctx.addIssue({ code: 'custom', path: ['rope_scaling', key], message: `rope scaling 'llama3' needs ${key}` });
    if (scaling?.low_freq_factor !== undefined && scaling.high_freq_factor !== undefined && scaling.high_freq_factor <= scaling.low_freq_factor)
      ctx.addIssue({ code: 'custom', path: ['rope_scaling', 'high_freq_factor'], message: 'high_freq_factor must be greater than low_freq_factor' });
    if ((c.model_type === 'qwen2' || c.model_type === 'qwen3') && c.use_sliding_window === true)
      ctx.addIssue({
        code: 'custom',
        path: ['use_sliding_window'],
        message: `${c.model_type}'s per-layer sliding window (max_window_layers) is not supported; set use_sliding_window to false only if the model was trained without it`,
      });
    const kv = c.num_key_value_heads ?? c.num_attention_heads;
    if (c.num_attention_heads % kv !== 0)
      ctx.addIssue({
        code: 'custom',
        path: ['num_key_value_heads'],
        message: `num_attention_heads (${c.num_attention_heads}) must be a multiple of num_key_value_heads (${kv})`,
      });
    const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
    if (!Number.isInteger(headDim) || headDim % 2 !== 0)
      ctx.addIssue({
        code: 'custom',
        path: ['head_dim'],
        message: `head dimension ${headDim} must be an even integer (hidden_size / num_attention_heads, or head_dim)`,
      });
  });
export type LlamaConfigInput = z.input<typeof LlamaConfigSchema>;

/** Rotary scaling types Pixel computes exactly as Hugging Face does (others are refused, not ignored). */
export const SUPPORTED_ROPE_SCALING: readonly string[] = ['default', 'linear', 'llama3'];

/** How rotary frequencies are scaled: positions divided by `factor` (linear), or Llama 3's per-wavelength blend. */
export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

/** The resolved shape of a model: every derived size spelled out. */
export interface ModelDims {
  modelType: z.output<typeof LlamaConfigSchema>['model_type'];
  vocab: number;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  eps: number;
  ropeTheta: number;
  tied: boolean;
  attentionBias: boolean;
  qkNorm: boolean;
  /** Rotary scaling, when the config has one (absent: plain rope with `ropeTheta`). */
  ropeScaling?: RopeScaling;
  /** Sliding-window attention: a token sees itself and the `slidingWindow - 1` tokens before it (absent: all before it). */
  slidingWindow?: number;
}

export function modelDims(config: LlamaConfigInput): ModelDims {
  const c = LlamaConfigSchema.parse(config);
  return {
    modelType: c.model_type,
    vocab: c.vocab_size,
    hidden: c.hidden_size,
    intermediate: c.intermediate_size,
    layers: c.num_hidden_layers,
    heads: c.num_attention_heads,
    kvHeads: c.num_key_value_heads ?? c.num_attention_heads,
    headDim: c.head_dim ?? c.hidden_size / c.num_attention_heads,
    eps: c.rms_norm_eps,
    ropeTheta: c.rope_theta,
    tied: c.tie_word_embeddings,
    attentionBias: c.attention_bias ?? c.model_type === 'qwen2',
    qkNorm: c.model_type === 'qwen3',
    ...ropeScalingOf(c.rope_scaling),
    // Qwen2 configs carry a sliding_window they do not use unless use_sliding_window is set.
    ...(c.sliding_window && c.use_sliding_window !== false && c.model_type !== 'qwen2' && c.model_type !== 'qwen3'
      ? { slidingWindow: c.sliding_window }
      : {}),
  };
}

function ropeScalingOf(s: z.output<typeof LlamaConfigSchema>['rope_scaling']): { ropeScaling?: RopeScaling } {
  const type = s ? (s.rope_type ?? s.type ?? 'default') : 'default';
  if (!s || type === 'default') return {};
  if (type === 'linear') return { ropeScaling: { type, factor: s.factor as number } };
  return {
    ropeScaling: {
      type: 'llama3',
      factor: s.factor as number,
      lowFreqFactor: s.low_freq_factor as number,
      highFreqFactor: s.high_freq_factor as number,
      originalMaxPositions: s.original_max_position_embeddings as number,
    },
  };
}

/**
 * The rotary inverse frequencies of a head's first half, [headDim / 2], as Hugging Face computes
 * them: 1 / theta^(2j / headDim), divided by the factor under linear scaling; under Llama 3's
 * scaling, long wavelengths (beyond original / low_freq_factor) are divided by the factor, short
 * ones (below original / high_freq_factor) kept, and those between blended smoothly.
 */
export function ropeInverseFrequencies(d: Pick<ModelDims, 'headDim' | 'ropeTheta' | 'ropeScaling'>): number[] {
  const half = d.headDim / 2;
  const base = Array.from({ length: half }, (_, j) => 1 / d.ropeTheta ** ((2 * j) / d.headDim));
  const s = d.ropeScaling;
  if (!s) return base;
  if (s.type === 'linear') return base.map((f) => f / s.factor);
  const lowWavelength = s.originalMaxPositions / s.lowFreqFactor;
  const highWavelength = s.originalMaxPositions / s.highFreqFactor;
  return base.map((f) => {
    const wavelength = (2 * Math.PI) / f;
    if (wavelength < highWavelength) return f;
    if (wavelength > lowWavelength) return f / s.factor;
    const smooth = (s.originalMaxPositions / wavelength - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return (1 - smooth) * (f / s.factor) + smooth * f;
  });
}

/** Parameter names and shapes, in Hugging Face's naming (Linear weights are [out, in]). */
export function parameterShapes(d: ModelDims): [name: string, shape: number[]][] {
  const out: [string, number[]][] = [['model.embed_tokens.weight', [d.vocab, d.hidden]]];
  for (let i = 0; i < d.layers; i++) {
    const p = `model.layers.${i}`;
    out.push([`${p}.input_layernorm.weight`, [d.hidden]]);
    out.push([`${p}.self_attn.q_proj.weight`, [d.heads * d.headDim, d.hidden]]);
    out.push([`${p}.self_attn.k_proj.weight`, [d.kvHeads * d.headDim, d.hidden]]);
    out.push([`${p}.self_attn.v_proj.weight`, [d.kvHeads * d.headDim, d.hidden]]);
    if (d.attentionBias) {
      out.push([`${p}.self_attn.q_proj.bias`, [d.heads * d.headDim]]);
      out.push([`${p}.self_attn.k_proj.bias`, [d.kvHeads * d.headDim]]);
      out.push([`${p}.self_attn.v_proj.bias`, [d.kvHeads * d.headDim]]);
    }
    if (d.qkNorm) {
      out.push([`${p}.self_attn.q_norm.weight`, [d.headDim]]);
      out.push([`${p}.self_attn.k_norm.weight`, [d.headDim]]);
    }
    out.push([`${p}.self_attn.o_proj.weight`, [d.hidden, d.heads * d.headDim]]);
    out.push([`${p}.post_attention_layernorm.weight`, [d.hidden]]);
    out.push([`${p}.mlp.gate_proj.weight`, [d.intermediate, d.hidden]]);
    out.push([`${p}.mlp.up_proj.weight`, [d.intermediate, d.hidden]]);
    out.push([`${p}.mlp.down_proj.weight`, [d.hidden, d.intermediate]]);
  }
  out.push(['model.norm.weight', [d.hidden]]);
  if (!d.tied) out.push(['lm_head.weight', [d.vocab, d.hidden]]);
  return out;
}
