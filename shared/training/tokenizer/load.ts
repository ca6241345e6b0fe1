import * as path from 'node:path';

/**
 * The tokenizer of a local model folder, through `@huggingface/transformers` with remote
 * downloads off (Pixel's machines reach no model hub; everything comes from the folder).
 */
export async function loadTokenizer(modelDir: string): Promise<import('@huggingface/transformers').PreTrainedTokenizer> {
  const hf = (await import('@huggingface/transformers')) as typeof import('@huggingface/transformers');
  hf.env.allowRemoteModels = false;
  hf.env.allowLocalModels = true;
  hf.env.localModelPath = `${path.dirname(path.resolve(modelDir))}/`;
  return hf.AutoTokenizer.from_pretrained(path.basename(path.resolve(modelDir)));
}
