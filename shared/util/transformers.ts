import { availableParallelism } from 'node:os';
import * as path from 'node:path';

/**
 * `@huggingface/transformers` set up to load one local model folder and nothing remote (Pixel's
 * machines reach no model hub). Returns the library and the id to pass to its loaders.
 */
export async function localTransformers(modelDir: string): Promise<{ hf: typeof import('@huggingface/transformers'); id: string }> {
  const hf = (await import('@huggingface/transformers')) as typeof import('@huggingface/transformers');
  hf.env.allowRemoteModels = false;
  hf.env.allowLocalModels = true;
  hf.env.localModelPath = `${path.dirname(path.resolve(modelDir))}/`;
  return { hf, id: path.basename(path.resolve(modelDir)) };
}

/**
 * onnxruntime session options for the small encoders (sentence encoder, name tagger): one
 * operator at a time, each on up to four cores. Left to transformers.js's defaults the same
 * MiniLM batch took 1.5x the wall time and 1.5x the CPU time on 2 cores (measured in one process).
 */
export function encoderSessionOptions(): { intraOpNumThreads: number; interOpNumThreads: number } {
  return { intraOpNumThreads: Math.max(1, Math.min(4, availableParallelism())), interOpNumThreads: 1 };
}
