/**
 * Trains a byte-level BPE tokenizer (the GPT-2 / Llama 3 / Qwen family of tokenizers) on a
 * corpus and writes it in Hugging Face's `tokenizer.json` format with a ChatML chat template,
 * so `@huggingface/transformers` (and Python's tokenizers) load it like any other. Used for the
 * embedded default model; real base models bring their own tokenizer.
 */
import { byteLevelBpeTokenizerJson, specialToken } from './tokenizer-json';

/** GPT-2's reversible map from bytes to printable characters (spaces become "Ġ", newlines "Ċ"). */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (printable.includes(b)) map[b] = String.fromCharCode(b);
    else map[b] = String.fromCharCode(256 + n++);
  }
  return map;
}

/** GPT-2's pre-tokenisation pattern (what the ByteLevel pre-tokenizer applies with use_regex). */
const PRETOKENIZE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export const SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;

export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export interface TrainedBpe {
  vocab: Map<string, number>;
  merges: [string, string][];
}

/**
 * Learns merges until the vocabulary (256 bytes + merges + special tokens) reaches `vocabSize`
 * or no pair occurs twice. Ties go to the pair that sorts first, so training is deterministic.
 */
export function trainBpe(corpus: string, vocabSize: number): TrainedBpe {
  const byteChar = bytesToUnicode();
  const encoder = new TextEncoder();
  const wordCounts = new Map<string, number>();
  for (const m of corpus.matchAll(PRETOKENIZE)) {
    const w = Array.from(encoder.encode(m[0]), (b) => byteChar[b] as string).join('');
    wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
  }
  const words = [...wordCounts].map(([w, count]) => ({ symbols: [...w], count }));
  const vocab = new Map<string, number>();
  for (const c of [...byteChar].sort()) vocab.set(c, vocab.size);
  const merges: [string, string][] = [];
  const budget = vocabSize - SPECIAL_TOKENS.length;
  while (vocab.size < budget) {
    const pairs = new Map<string, number>();
    for (const { symbols, count } of words) {
      for (let i = 0; i < symbols.length - 1; i++) {
        const key = `${symbols[i]} ${symbols[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + count);
      }
    }
    let best: string | undefined;
    let bestCount = 1;
    for (const [key, count] of pairs)
      if (count > bestCount || (count === bestCount && best !== undefined && key < best)) [best, bestCount] = [key, count];
    if (!best) break;
    const [a, b] = best.split(' ') as [string, string];
    const merged = a + b;
    merges.push([a, b]);
    if (!vocab.has(merged)) vocab.set(merged, vocab.size);
    for (const w of words) {
      const s = w.symbols;
      for (let i = 0; i < s.length - 1; i++) {
        if (s[i] === a && s[i + 1] === b) s.splice(i, 2, merged);
      }
    }
  }
  return { vocab, merges };
}

/** `tokenizer.json` (Hugging Face tokenizers format) and `tokenizer_config.json` for a trained BPE. */
export function tokenizerFiles(bpe: TrainedBpe, maxLength: number): { tokenizer: unknown; config: unknown } {
  const specialIds = SPECIAL_TOKENS.map((t, i) => ({ id: bpe.vocab.size + i, content: t }));
  const added = specialIds.map(({ id, content }) => specialToken(id, content));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizer = byteLevelBpeTokenizerJson({
    vocab: Object.fromEntries(bpe.vocab),
    merges: bpe.merges.map(([a, b]) => `${a} ${b}`),
    added,
    preTokenizer: byteLevel,
    postProcessor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
  });
  const config = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    model_max_length: maxLength,
    bos_token: null,
    eos_token: '<|im_end|>',
    pad_token: '<|endoftext|>',
    unk_token: null,
    clean_up_tokenization_spaces: false,
    added_tokens_decoder: Object.fromEntries(
      added.map((t) => [String(t.id), { content: t.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true }]),
    ),
    chat_template: CHATML_TEMPLATE,
  };
  return { tokenizer, config };
}
