import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { LocalArtifactStore } from '../artifacts';
import { SamplingConfigSchema, TrainConfigSchema } from '../contracts';
import { generateConversation } from '../data/synthetic/generator';
import { generateResponses, openModel } from '../evaluation/generation/engine';
import { tempDir } from '../../test/helpers';
import { fineTune } from './fine-tune';
import type { LlamaConfigInput } from './model/config';
import { openModelFolder } from './model/folder';
import { writeShardedBf16Model } from './model/sharded-model';
import { readSafetensors } from './safetensors';

/**
 * The large-model path at a size CI runs in seconds (`npm run bench:large-model` runs it at
 * Mistral-Nemo's full width): a model with Nemo's shape features (head_dim wider than hidden /
 * heads, grouped-query attention, untied head, rope theta 1e6) in sharded bf16 safetensors goes
 * through artifacts, LoRA training, checkpoint, merged export and greedy generation.
 */
const NEMO_LIKE: LlamaConfigInput = {
  model_type: 'mistral',
  vocab_size: 700,
  hidden_size: 64,
  intermediate_size: 96,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 32,
  rope_theta: 1_000_000,
  max_position_embeddings: 1_024_000,
  sliding_window: null,
  tie_word_embeddings: false,
};

describe('a sharded bf16 model end to end', () => {
  const t = tempDir('pixel-sharded-');
  afterAll(() => t.cleanup());

  it('trains LoRA steps on it, exports the merged model in bf16, and generates with it', async () => {
    const model = path.join(t.dir, 'model');
    const written = await writeShardedBf16Model(model, NEMO_LIKE, 3);
    const index = JSON.parse(readFileSync(path.join(model, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
    expect(new Set(Object.values(index.weight_map)).size).toBe(3);
    const opened = await openModelFolder(model);
    expect(opened).toMatchObject({ storedDtype: 'BF16', storedBytes: written.bytes });
    expect(opened.dims).toMatchObject({ heads: 4, kvHeads: 2, headDim: 32, hidden: 64 });

    const store = new LocalArtifactStore(path.join(t.dir, 'store'));
    const shard = async (name: string, split: string, from: number, n: number) => ({
      split,
      kind: 'source',
      records: n,
      ...(await store.writeText(
        `data/${name}`,
        Array.from(
          { length: n },
          (_, i) => `${JSON.stringify({ ...generateConversation(from + i, { seed: 4, crisisShare: 0, piiShare: 0 }), id: `${name}-${i}` })}\n`,
        ).join(''),
      )),
    });
    const manifest = await store.writeText(
      'data/manifest.json',
      JSON.stringify({ kind: 'augmented-dataset', shards: [await shard('train.jsonl', 'train', 0, 12), await shard('val.jsonl', 'val', 300, 2)] }),
    );
    const result = await fineTune({
      store,
      config: TrainConfigSchema.parse({
        model,
        mode: 'lora',
        steps: 3,
        warmupSteps: 1,
        batch: 2,
        seq: 48,
        evalEvery: 3,
        evalBatches: 1,
        checkpointEvery: 3,
        lr: 5e-3,
        lora: { rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'] },
      }),
      dataManifestUri: manifest.uri,
      runId: 'sharded',
      executionProvider: 'cpu',
      onProgress: () => undefined,
    });
    expect(result.steps).toBe(3);
    expect(result.lastCheckpointUri).toMatch(/step-0000003\.safetensors$/);
    const exported = await store.localPath(result.modelUri!, { folder: true });
    // The merged weights are written in the base's precision (bf16), adapted ones changed.
    const { tensors } = readSafetensors(readFileSync(path.join(exported, 'model.safetensors')));
    expect(new Set([...tensors.values()].map((e) => e.dtype))).toEqual(new Set(['BF16']));
    const base = await openModelFolder(model);
    const after = await openModelFolder(exported);
    const differs = (name: string) => {
      const a = base.weights.get(name)!.load() as Float32Array;
      const b = after.weights.get(name)!.load() as Float32Array;
      return a.some((v, i) => v !== b[i]);
    };
    expect(differs('model.layers.0.self_attn.q_proj.weight')).toBe(true);
    expect(differs('model.layers.0.self_attn.k_proj.weight')).toBe(false);

    const m = await openModel(exported, ['cpu'], { cache: 'fused' });
    try {
      const sampling = SamplingConfigSchema.parse({ maxNewTokens: 4, temperature: 0, repetitionPenalty: 1, batch: 1 });
      const [a] = await generateResponses(m, [{ id: 'p', messages: [{ role: 'user', content: 'How do I sleep better?' }] }], sampling);
      const [b] = await generateResponses(m, [{ id: 'p', messages: [{ role: 'user', content: 'How do I sleep better?' }] }], sampling);
      expect(a?.tokens).toBeGreaterThan(0);
      expect(b?.response).toBe(a?.response); // greedy: the same reply twice
    } finally {
      await m.session.release();
    }
  }, 120_000);
});
