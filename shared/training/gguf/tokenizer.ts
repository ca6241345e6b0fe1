import { GgufError, metaBool, metaNumber, metaNumbers, metaString, metaStrings, type GgufFile } from './reader';
import { byteLevelBpeTokenizerJson, specialToken } from '../tokenizer/tokenizer-json';

/**
 * Hugging Face tokenizer files (`tokenizer.json`, `tokenizer_config.json`,
 * `special_tokens_map.json`) rebuilt from a GGUF's vocabulary, for byte-level BPE models
 * (`tokenizer.ggml.model` "gpt2"): the vocabulary and merges as they are in the GGUF, control
 * tokens (token type 3) as special added tokens, user-defined ones (type 4) as plain added
 * tokens, and the pre-tokenizer that `tokenizer.ggml.pre` names. Only pre-tokenizers whose
 * Hugging Face form is known are accepted; others are refused rather than guessed, because a
 * wrong split gives different token ids without any visible error.
 */

/** llama.cpp token types (`tokenizer.ggml.token_type`). */
export const TOKEN_TYPES = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

const byteLevel = (addPrefixSpace: boolean, trimOffsets: boolean) => ({
  type: 'ByteLevel',
  add_prefix_space: addPrefixSpace,
  trim_offsets: trimOffsets,
  use_regex: true,
});

/**
 * Pre-tokenizers by `tokenizer.ggml.pre`. llama.cpp applies, for "smollm", the regexes `\p{N}`
 * (every number character on its own) and then GPT-2's pattern; SmolLM's own tokenizer.json
 * spells that as Digits(individual_digits) followed by ByteLevel with GPT-2's regex.
 * "gpt2" is GPT-2's pattern alone.
 */
const PRE_TOKENIZERS: Record<string, unknown> = {
  smollm: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(false, true)] },
  gpt2: byteLevel(false, true),
};

export const SUPPORTED_PRE_TOKENIZERS = Object.keys(PRE_TOKENIZERS);

export interface GgufTokenizerFiles {
  tokenizer: Record<string, unknown>;
  config: Record<string, unknown>;
  specialTokensMap: Record<string, unknown>;
  vocabSize: number;
  bosId?: number;
  eosId?: number;
  padId?: number;
  unkId?: number;
  /** Token strings that occur more than once (only the first id is reachable by encoding). */
  duplicates: number;
}

/** The tokenizer files of a GGUF; `maxLength` is the model's context length. */
export function tokenizerFromGguf(gguf: GgufFile, maxLength: number): GgufTokenizerFiles {
  const where = `GGUF ${gguf.path}`;
  const model = metaString(gguf, 'tokenizer.ggml.model');
  if (model === undefined) throw new GgufError(where, 'no tokenizer (tokenizer.ggml.model is missing)');
  if (model !== 'gpt2') throw new GgufError(where, `tokenizer.ggml.model "${model}" is not supported (only byte-level BPE, "gpt2")`);
  const pre = metaString(gguf, 'tokenizer.ggml.pre') ?? 'default';
  const preTokenizer = PRE_TOKENIZERS[pre];
  if (!preTokenizer)
    throw new GgufError(
      where,
      `tokenizer.ggml.pre "${pre}" is not supported (known: ${SUPPORTED_PRE_TOKENIZERS.join(', ')}); its pre-tokenizer would have to be added rather than guessed`,
    );
  const tokens = metaStrings(gguf, 'tokenizer.ggml.tokens');
  if (!tokens || tokens.length === 0) throw new GgufError(where, 'tokenizer.ggml.tokens is missing or empty');
  const merges = metaStrings(gguf, 'tokenizer.ggml.merges');
  if (!merges) throw new GgufError(where, 'tokenizer.ggml.merges is missing (a BPE tokenizer needs its merges)');
  const types = metaNumbers(gguf, 'tokenizer.ggml.token_type') ?? tokens.map(() => TOKEN_TYPES.NORMAL);
  if (types.length !== tokens.length) throw new GgufError(where, `tokenizer.ggml.token_type has ${types.length} entries for ${tokens.length} tokens`);
  for (const [i, m] of merges.entries()) {
    const parts = m.split(' ');
    if (parts.length !== 2 || !parts[0] || !parts[1])
      throw new GgufError(where, `merge ${i} ${JSON.stringify(m.slice(0, 40))} is not two tokens separated by one space`);
  }

  const id = (key: string): number | undefined => {
    const v = metaNumber(gguf, `tokenizer.ggml.${key}`);
    if (v === undefined) return undefined;
    if (!Number.isInteger(v) || v < 0 || v >= tokens.length)
      throw new GgufError(where, `tokenizer.ggml.${key} ${v} is not a token id (vocabulary of ${tokens.length})`);
    return v;
  };
  const bosId = id('bos_token_id');
  const eosId = id('eos_token_id');
  const padId = id('padding_token_id');
  const unkId = id('unknown_token_id');
  const addBos = metaBool(gguf, 'tokenizer.ggml.add_bos_token') ?? false;
  const addEos = metaBool(gguf, 'tokenizer.ggml.add_eos_token') ?? false;
  if ((addBos && bosId === undefined) || (addEos && eosId === undefined))
    throw new GgufError(where, 'add_bos_token/add_eos_token is set but the token id is missing');
  const text = (i: number | undefined) => (i === undefined ? null : (tokens[i] as string));

  const vocab: Record<string, number> = {};
  let duplicates = 0;
  tokens.forEach((t, i) => {
    if (Object.prototype.hasOwnProperty.call(vocab, t)) duplicates += 1;
    else vocab[t] = i;
  });
  const added = tokens.flatMap((content, i) => {
    const type = types[i];
    if (type !== TOKEN_TYPES.CONTROL && type !== TOKEN_TYPES.USER_DEFINED) return [];
    return [specialToken(i, content, type === TOKEN_TYPES.CONTROL)];
  });

  // A template adds BOS/EOS when the GGUF asks for them; otherwise ByteLevel (offsets only).
  let postProcessor: unknown = byteLevel(true, false);
  if (addBos || addEos) {
    const piece = (seq: 'A' | 'B') => [
      ...(addBos ? [{ SpecialToken: { id: text(bosId), type_id: 0 } }] : []),
      { Sequence: { id: seq, type_id: 0 } },
      ...(addEos ? [{ SpecialToken: { id: text(eosId), type_id: 0 } }] : []),
    ];
    const specials: Record<string, unknown> = {};
    for (const i of [addBos ? bosId : undefined, addEos ? eosId : undefined])
      if (i !== undefined) specials[tokens[i] as string] = { id: tokens[i], ids: [i], tokens: [tokens[i]] };
    postProcessor = { type: 'TemplateProcessing', single: piece('A'), pair: [...piece('A'), ...piece('B')], special_tokens: specials };
  }

  const tokenizer = byteLevelBpeTokenizerJson({ vocab, merges, added, preTokenizer, postProcessor, decoder: byteLevel(true, true) });

  const specialTokensMap: Record<string, unknown> = {};
  for (const [key, i] of [
    ['bos_token', bosId],
    ['eos_token', eosId],
    ['unk_token', unkId],
    ['pad_token', padId],
  ] as const)
    if (i !== undefined) specialTokensMap[key] = tokens[i];
  const control = added.filter((t) => t.special).map((t) => t.content);
  if (control.length > 0) specialTokensMap.additional_special_tokens = control;

  const chatTemplate = metaString(gguf, 'tokenizer.chat_template');
  const config: Record<string, unknown> = {
    tokenizer_class: 'GPT2Tokenizer',
    model_max_length: maxLength,
    add_bos_token: addBos,
    add_eos_token: addEos,
    bos_token: text(bosId),
    eos_token: text(eosId),
    pad_token: text(padId),
    unk_token: text(unkId),
    clean_up_tokenization_spaces: false,
    added_tokens_decoder: Object.fromEntries(
      added.map((t) => [
        String(t.id),
        { content: t.content, lstrip: false, normalized: t.normalized, rstrip: false, single_word: false, special: t.special },
      ]),
    ),
    additional_special_tokens: control,
    ...(chatTemplate ? { chat_template: chatTemplate } : {}),
  };
  return { tokenizer, config, specialTokensMap, vocabSize: tokens.length, bosId, eosId, padId, unkId, duplicates };
}
