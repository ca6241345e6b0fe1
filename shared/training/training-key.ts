import type { ArtifactStore } from '../artifacts';
import type { TrainConfig } from '../contracts/fine-tune';
import { ModelRegistry } from '../model-registry/model-registry';
import { canonicalJson, sha256Hex } from '../util/hash';
import { artifactsKey } from './artifacts/generate';
import { artifactSpecOf } from './fine-tune-spec';

/** Bumped when what a fine-tune's result depends on changes in kind (a new input that matters). */
export const TRAINING_KEY_VERSION = 1;

/**
 * What a fine-tune's result depends on, as one key: the dataset it trains and validates on (the
 * augmented dataset's manifest, whose shards are named by their sha256), every field of the
 * training config but the model's path, and the base model's artifacts key (its config, every
 * weight file and the graph spec, see `artifactsKey`). Training is seeded, so two runs with the
 * same key train the same model: a scheduled run whose key equals the promoted model's has
 * nothing new to learn.
 */
export function trainingKeyOf(dataManifestText: string, modelArtifactsKey: string, config: TrainConfig): string {
  return sha256Hex(
    canonicalJson({
      version: TRAINING_KEY_VERSION,
      data: sha256Hex(dataManifestText),
      artifacts: modelArtifactsKey,
      config: { ...config, model: null },
    }),
  );
}

/** {@link trainingKeyOf} before training: reads the data manifest and hashes the base model folder. */
export async function trainingKey(store: ArtifactStore, dataManifestUri: string, config: TrainConfig, modelDir: string): Promise<string> {
  return trainingKeyOf(await store.readText(dataManifestUri), await artifactsKey(artifactSpecOf(config, modelDir)), config);
}

/**
 * The promoted model when it was trained from the same key as a run about to train (same data,
 * config and base model): that run has nothing new to learn. Models promoted before keys were
 * recorded never match, so such a run trains once and records its key.
 */
export async function unchangedSincePromotion(
  store: ArtifactStore,
  dataManifestUri: string,
  config: TrainConfig,
  modelDir: string,
): Promise<{ trainingKey: string; promoted: { version: string; modelUri: string } | null }> {
  const key = await trainingKey(store, dataManifestUri, config, modelDir);
  const current = await new ModelRegistry(store).current();
  return { trainingKey: key, promoted: current && current.trainingKey === key ? { version: current.version, modelUri: current.modelUri } : null };
}
