import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { LocalArtifactStore } from '../shared/artifacts';
import { generateConversation } from '../shared/data/synthetic/generator';
import { generateResponses, openModel } from '../shared/evaluation/generation/engine';
import { SMOLLM2, vendorDir } from '../shared/training/model/base-model';
import { loadModelFolder } from '../shared/training/model/folder';
import { tempDir } from '../test/helpers';
import { createTrainActivities, type TrainModelResult } from './fine-tune';

const GGUF = path.join(vendorDir(), SMOLLM2.gguf);
const suite = existsSync(GGUF) ? describe : describe.skip;

/**
 * The fine-tune stage on the real default base model: SmolLM2-135M-Instruct (tied embeddings,
 * grouped-query attention, its ChatML template) imported from the cached GGUF on first use, a
 * few LoRA steps on the CPU, and the exported model answering in English. Slow (about a minute
 * and a half on 2 cores: the graphs of a 135M-parameter model).
 */
suite('trainModelActivity on SmolLM2-135M-Instruct', () => {
  const t = tempDir('pixel-smollm2-train-');
  const previousHome = process.env.PIXEL_HOME;
  afterAll(() => {
    if (previousHome === undefined) delete process.env.PIXEL_HOME;
    else process.env.PIXEL_HOME = previousHome;
    t.cleanup();
  });

  it('imports the preset, trains LoRA adapters with a pretrained model’s loss, and exports a model that answers', async () => {
    process.env.PIXEL_HOME = path.join(t.dir, 'home');
    const store = new LocalArtifactStore(path.join(t.dir, 'store'));
    const shard = async (name: string, split: string, from: number, n: number) => {
      const lines = Array.from(
        { length: n },
        (_, i) => `${JSON.stringify({ ...generateConversation(from + i, { seed: 4, crisisShare: 0.2, piiShare: 0 }), id: `${name}-${i}` })}\n`,
      );
      return { split, kind: 'source', ...(await store.writeText(`data/${name}`, lines.join(''))), records: n };
    };
    const manifest = await store.writeText(
      'data/manifest.json',
      JSON.stringify({ shards: [await shard('train.jsonl', 'train', 0, 24), await shard('val.jsonl', 'val', 900, 4)] }),
    );
    const activity = createTrainActivities({ store, accelerator: { executionProvider: 'cpu', gpus: [], reason: 'test' } }).trainModelActivity;
    const result: TrainModelResult = await new MockActivityEnvironment().run(activity, {
      config: {
        model: 'smollm2',
        steps: 4,
        warmupSteps: 1,
        batch: 2,
        seq: 96,
        evalEvery: 4,
        evalBatches: 1,
        checkpointEvery: 4,
        lr: 5e-3,
        minLr: 5e-4,
      },
      dataManifestUri: manifest.uri,
      runId: 'smollm2-run',
    });
    expect(result).toMatchObject({ steps: 4, stoppedBy: 'steps', executionProvider: 'cpu' });
    expect(result.baseModelUri).toContain(`/home/models/${SMOLLM2.folder}`);
    // A pretrained model predicts a therapist's reply far better than chance (ln 49152 = 10.8 nats).
    expect(result.baseValLoss!).toBeLessThan(6);
    expect(result.bestValLoss!).toBeLessThanOrEqual(result.baseValLoss!);

    const tuned = await loadModelFolder(await store.localPath(result.modelUri!, { folder: true }));
    const base = await loadModelFolder(path.join(t.dir, 'home', 'models', SMOLLM2.folder));
    const moved = (name: string) =>
      (tuned.weights.get(name)!.data as Float32Array).some((v, i) => v !== (base.weights.get(name)!.data as Float32Array)[i]);
    expect(moved('model.layers.0.self_attn.q_proj.weight')).toBe(true);
    expect(moved('model.embed_tokens.weight')).toBe(false);

    const model = await openModel(await store.localPath(result.modelUri!, { folder: true }));
    try {
      const [reply] = await generateResponses(
        model,
        [{ id: 'hi', messages: [{ role: 'user', content: 'I feel a bit nervous about my job interview tomorrow.' }] }],
        {
          maxNewTokens: 24,
          temperature: 0,
          topK: 0,
          topP: 1,
          repetitionPenalty: 1,
          seed: 1,
          batch: 1,
        },
      );
      const words = reply!.response.toLowerCase().match(/[a-z']+/g) ?? [];
      expect(words.length).toBeGreaterThanOrEqual(5);
    } finally {
      await model.session.release();
    }
  }, 600_000);
});
