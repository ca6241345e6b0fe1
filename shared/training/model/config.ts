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
  })
  .passthrough()
  .superRefine((c, ctx) => {
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
  };
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
