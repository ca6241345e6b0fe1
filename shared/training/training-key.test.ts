import { cpSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../../test/helpers';
import { LocalArtifactStore } from '../artifacts';
import { TrainConfigSchema } from '../contracts';
import { ModelRegistry } from '../model-registry/model-registry';
import { createDefaultModel } from './model/default-model';
import { trainingKey, unchangedSincePromotion } from './training-key';

describe('training key (what a fine-tune depends on)', () => {
  let t: ReturnType<typeof tempDir>;
  let store: LocalArtifactStore;
  let model: string;
  let other: string;
  let copy: string;
  let data: string;
  let moreData: string;
  beforeAll(async () => {
    t = tempDir();
    store = new LocalArtifactStore(path.join(t.dir, 'artifacts'));
    model = path.join(t.dir, 'model');
    other = path.join(t.dir, 'other');
    copy = path.join(t.dir, 'copy');
    await createDefaultModel(model, 'tiny', 3);
    await createDefaultModel(other, 'tiny', 4);
    cpSync(model, copy, { recursive: true });
    const manifest = (records: number) =>
      `${JSON.stringify({ kind: 'augmented-dataset', shards: [{ split: 'train', uri: 'file:///x', sha256: 'a'.repeat(64), records }] })}\n`;
    data = (await store.writeText('augment/reports/a/manifest.json', manifest(10))).uri;
    moreData = (await store.writeText('augment/reports/b/manifest.json', manifest(11))).uri;
  }, 60_000);
  afterAll(() => t?.cleanup());

  const config = (over: object = {}) => TrainConfigSchema.parse({ steps: 20, ...over });

  it('is the same for the same data, config and weights, wherever the model folder is', async () => {
    const key = await trainingKey(store, data, config({ model }), model);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(await trainingKey(store, data, config({ model }), model)).toBe(key);
    expect(await trainingKey(store, data, config({ model: copy }), copy)).toBe(key);
  });

  it('changes with the data, any training setting, or the base model weights', async () => {
    const key = await trainingKey(store, data, config({ model }), model);
    const changed = [
      await trainingKey(store, moreData, config({ model }), model),
      await trainingKey(store, data, config({ model, steps: 21 }), model),
      await trainingKey(store, data, config({ model, lr: 5e-4 }), model),
      await trainingKey(store, data, config({ model, seed: 8 }), model),
      await trainingKey(store, data, config({ model: other }), other),
    ];
    for (const k of changed) expect(k).not.toBe(key);
    expect(new Set(changed).size).toBe(changed.length);
  });

  it('finds the promoted model only when it was trained from the same key', async () => {
    expect((await unchangedSincePromotion(store, data, config({ model }), model)).promoted).toBeNull();
    const registry = new ModelRegistry(store);
    const key = await trainingKey(store, data, config({ model }), model);
    // Promoted before keys were recorded: never "unchanged".
    await registry.register({ version: 'v-old', modelUri: 'file:///old', createdAt: new Date().toISOString() });
    await registry.promote('v-old');
    expect((await unchangedSincePromotion(store, data, config({ model }), model)).promoted).toBeNull();
    await registry.register({ version: 'v1', modelUri: 'file:///m1', createdAt: new Date().toISOString(), trainingKey: key });
    await registry.promote('v1');
    expect(await unchangedSincePromotion(store, data, config({ model }), model)).toEqual({
      trainingKey: key,
      promoted: { version: 'v1', modelUri: 'file:///m1' },
    });
    expect((await unchangedSincePromotion(store, moreData, config({ model }), model)).promoted).toBeNull();
    expect((await unchangedSincePromotion(store, data, config({ model, steps: 30 }), model)).promoted).toBeNull();
  });
});
