import { Context } from '@temporalio/activity';
import type { ArtifactStore } from '../shared/artifacts';
import {
  GenerateArtifactsInputSchema,
  invalidInput,
  parseInput,
  type GenerateArtifactsInput,
  type GenerateArtifactsResult,
} from '../shared/contracts';
import { ModelFolderError } from '../shared/training/model/folder';
import { generateTrainingArtifacts } from '../shared/training/artifacts/generate';
import { SafetensorsError } from '../shared/training/safetensors';

/** Training-artifact generation as an activity: a model folder in, ONNX graphs and manifests in the store out. */
export function createTrainingActivities(store: ArtifactStore) {
  return {
    async generateTrainingArtifactsActivity(input: GenerateArtifactsInput): Promise<GenerateArtifactsResult> {
      const spec = parseInput(GenerateArtifactsInputSchema, 'generateTrainingArtifacts input', input);
      const ctx = Context.current();
      try {
        const result = await generateTrainingArtifacts(store, spec, (what) => ctx.heartbeat({ phase: 'generate', what }));
        ctx.log.info('training artifacts ready', { key: result.key, cacheHit: result.cacheHit, parameters: result.parameters });
        return result;
      } catch (err) {
        // A model folder that is missing or malformed will not get better on retry.
        if (err instanceof ModelFolderError || err instanceof SafetensorsError || (err instanceof Error && /model folder/.test(err.message))) {
          throw invalidInput(err.message);
        }
        throw err;
      }
    },
  };
}
