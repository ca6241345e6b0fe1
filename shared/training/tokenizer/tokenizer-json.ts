/** An entry of `added_tokens` in a Hugging Face `tokenizer.json`. */
export interface AddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** A special (control) token as `added_tokens` lists it. */
export function specialToken(id: number, content: string, special = true): AddedToken {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special };
}

/**
 * A byte-level BPE tokenizer in Hugging Face's `tokenizer.json` format (what transformers.js and
 * `tokenizers` load): vocabulary, merges (`"a b"`), added tokens and the pre-tokenizer,
 * post-processor and decoder. Pixel's own tokenizers and the ones imported from GGUF files are
 * written by this one function.
 */
export function byteLevelBpeTokenizerJson(o: {
  vocab: Record<string, number>;
  merges: string[];
  added: AddedToken[];
  preTokenizer: unknown;
  postProcessor: unknown;
  decoder: unknown;
}): Record<string, unknown> {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: o.added,
    normalizer: null,
    pre_tokenizer: o.preTokenizer,
    post_processor: o.postProcessor,
    decoder: o.decoder,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: o.vocab,
      merges: o.merges,
    },
  };
}
