import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../../../test/helpers';
import { loadTokenizer } from '../tokenizer/load';
import { readGguf } from './reader';
import { bool, int32s, str, strings, tinyLlamaGguf, type TypedValue } from './testing';
import { tokenizerFromGguf } from './tokenizer';

describe('tokenizer files from a GGUF vocabulary', () => {
  const t = tempDir('pixel-gguf-tokenizer-');
  afterAll(() => t.cleanup());
  let n = 0;
  /** The tokenizer files of a tiny GGUF with `metadata` changed, written to a folder; returns the folder and the files. */
  const build = (metadata: Record<string, TypedValue | undefined> = {}) => {
    const tiny = tinyLlamaGguf({ metadata });
    const file = path.join(t.dir, `t${n}.gguf`);
    writeFileSync(file, tiny.gguf);
    const files = tokenizerFromGguf(readGguf(file), 64);
    const dir = path.join(t.dir, `tok${n++}`);
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(files.tokenizer));
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(files.config));
    return { dir, files, tokens: tiny.tokens };
  };

  it('uses SmolLM’s pre-tokenizer for "smollm": digits one by one, then GPT-2’s byte-level split', () => {
    const { files } = build();
    expect(files.tokenizer.pre_tokenizer).toEqual({
      type: 'Sequence',
      pretokenizers: [
        { type: 'Digits', individual_digits: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    });
    expect(files.tokenizer.decoder).toMatchObject({ type: 'ByteLevel' });
    expect(files.tokenizer.post_processor).toMatchObject({ type: 'ByteLevel' });
    expect(files.config).toMatchObject({
      tokenizer_class: 'GPT2Tokenizer',
      model_max_length: 64,
      add_bos_token: false,
      bos_token: '<|im_start|>',
      eos_token: '<|im_end|>',
      pad_token: '<|im_end|>',
      unk_token: '<|endoftext|>',
    });
    expect(files.specialTokensMap).toMatchObject({
      bos_token: '<|im_start|>',
      eos_token: '<|im_end|>',
      additional_special_tokens: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
    });
  });

  it('marks control tokens special and user-defined ones not, and prepends BOS when the GGUF asks', async () => {
    const base = tinyLlamaGguf();
    const types = base.tokens.map((tok, i) => (i < 3 ? 3 : tok === 'Ġthe' ? 4 : 1));
    const { dir, files, tokens } = build({ 'tokenizer.ggml.token_type': int32s(types), 'tokenizer.ggml.add_bos_token': bool(true) });
    const added = files.tokenizer.added_tokens as { id: number; content: string; special: boolean }[];
    expect(added.map((a) => [a.id, a.content, a.special])).toEqual([
      [0, '<|endoftext|>', true],
      [1, '<|im_start|>', true],
      [2, '<|im_end|>', true],
      [tokens.indexOf('Ġthe'), 'Ġthe', false],
    ]);
    const tokenizer = await loadTokenizer(dir);
    expect(tokenizer.encode('in', { add_special_tokens: true })).toEqual([1, tokens.indexOf('in')]);
    expect(tokenizer.encode('in', { add_special_tokens: false })).toEqual([tokens.indexOf('in')]);
  });

  it('"gpt2" keeps a space and digits together where "smollm" splits them; unknown pre-tokenizers and broken vocabularies are refused', async () => {
    // One more token and merge: "Ġ4" (a space then 4).
    const base = tinyLlamaGguf();
    const withSpaceDigit = (pre: string) => ({
      'tokenizer.ggml.pre': str(pre),
      'tokenizer.ggml.tokens': strings([...base.tokens, 'Ġ4']),
      'tokenizer.ggml.token_type': int32s([...base.tokens.map((_, i) => (i < 3 ? 3 : 1)), 1]),
      'tokenizer.ggml.merges': strings(['Ġ t', 'h e', 'Ġt he', 'i n', 'Ġ a', 'Ġ 4']),
    });
    const id = (x: string) => (x === 'Ġ4' ? base.tokens.length : base.tokens.indexOf(x));
    const gpt2 = await loadTokenizer(build(withSpaceDigit('gpt2')).dir);
    expect(gpt2.encode(' 42', { add_special_tokens: false })).toEqual(['Ġ4', '2'].map(id));
    const smollm = await loadTokenizer(build(withSpaceDigit('smollm')).dir);
    expect(smollm.encode(' 42', { add_special_tokens: false })).toEqual(['Ġ', '4', '2'].map(id));
    expect(() => build({ 'tokenizer.ggml.pre': str('qwen2') })).toThrow(/tokenizer\.ggml\.pre "qwen2" is not supported \(known: smollm, gpt2\)/);
    expect(() => build({ 'tokenizer.ggml.pre': undefined })).toThrow(/tokenizer\.ggml\.pre "default" is not supported/);
    expect(() => build({ 'tokenizer.ggml.merges': undefined })).toThrow(/tokenizer\.ggml\.merges is missing/);
    expect(() => build({ 'tokenizer.ggml.merges': strings(['Ġ t', 'oops']) })).toThrow(/merge 1 "oops" is not two tokens separated by one space/);
    expect(() => build({ 'tokenizer.ggml.token_type': int32s([3, 3]) })).toThrow(/token_type has 2 entries for \d+ tokens/);
    expect(() => build({ 'tokenizer.ggml.eos_token_id': { type: 4, value: 100_000 } })).toThrow(
      /tokenizer\.ggml\.eos_token_id 100000 is not a token id/,
    );
  });
});
