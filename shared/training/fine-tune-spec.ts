import type { TrainConfig } from '../contracts/fine-tune';
import type { GenerateArtifactsInput } from '../contracts/model-artifacts';

/** The training artifacts a config needs: its mode, bucket, LoRA, AdamW and loss terms (only those with a weight). */
export function artifactSpecOf(config: TrainConfig, modelDir: string): GenerateArtifactsInput {
  return {
    model: modelDir,
    modes: [config.mode],
    batch: config.batch,
    seq: config.seq,
    lora: config.lora,
    adamw: config.adamw,
    objectives: { unlikelihood: config.objectives.unlikelihood > 0, kl: false },
    // Only when it changes the graphs, so the artifacts (and training keys) of float32 runs keep their keys.
    ...(config.mode === 'lora' && config.frozenPrecision === 'float16' ? { frozenDtype: 'float16' as const } : {}),
  };
}
