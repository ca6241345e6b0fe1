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
