import { localTransformers } from '../../util/transformers';

/**
 * The tokenizer of a local model folder, through `@huggingface/transformers` with remote
 * downloads off (Pixel's machines reach no model hub; everything comes from the folder).
 */
export async function loadTokenizer(modelDir: string): Promise<import('@huggingface/transformers').PreTrainedTokenizer> {
  const { hf, id } = await localTransformers(modelDir);
  return hf.AutoTokenizer.from_pretrained(id);
}
