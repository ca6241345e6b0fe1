import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { generateConversation } from '../../data/synthetic/generator';
import { SPECIAL_TOKENS, bytesToUnicode, tokenizerFiles, trainBpe } from './bpe';

const corpus = Array.from({ length: 200 }, (_, i) =>
  generateConversation(i, { seed: 1, crisisShare: 0.1, piiShare: 0 })
    .messages.map((m) => m.content)
    .join('\n'),
).join('\n');

describe('byte-level BPE', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'pixel-bpe-'));
    const { tokenizer, config } = tokenizerFiles(trainBpe(corpus, 600), 512);
    writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('maps every byte to its own printable character', () => {
    const map = bytesToUnicode();
    expect(new Set(map).size).toBe(256);
    expect(map[32]).toBe('Ġ');
    expect(map[10]).toBe('Ċ');
  });

  it('learns the requested number of tokens, the same way every time', () => {
    const a = trainBpe(corpus, 600);
    const b = trainBpe(corpus, 600);
    expect(a.vocab.size).toBe(600 - SPECIAL_TOKENS.length);
    expect(a.merges).toEqual(b.merges);
    // Frequent words of the corpus become single tokens.
    expect(a.vocab.has('Ġfeel')).toBe(true);
  });

  it('loads in transformers.js: round-trips any text, keeps special tokens whole, applies the chat template', async () => {
    const hf = require('@huggingface/transformers') as typeof import('@huggingface/transformers');
    hf.env.allowRemoteModels = false;
    hf.env.allowLocalModels = true;
    hf.env.localModelPath = `${path.dirname(dir)}/`;
    const tokenizer = await hf.AutoTokenizer.from_pretrained(path.basename(dir));
    for (const text of ['I have been feeling anxious lately.', 'naïve café 🙂 — 42%', 'line one\nline two\n\n  indented', "it's fine, isn't it?"]) {
      const ids = tokenizer.encode(text, { add_special_tokens: false });
      expect(ids.length).toBeGreaterThan(0);
      expect(ids.every((id) => id < 600)).toBe(true);
      expect(tokenizer.decode(ids)).toBe(text);
    }
    // Common words are shorter in tokens than in bytes.
    expect(tokenizer.encode('I have been feeling anxious lately.', { add_special_tokens: false }).length).toBeLessThan(20);
    const [imStart, imEnd] = [tokenizer.convert_tokens_to_ids('<|im_start|>'), tokenizer.convert_tokens_to_ids('<|im_end|>')];
    expect(imStart).toBe(598);
    const chat: unknown = tokenizer.apply_chat_template(
      [
        { role: 'user', content: 'Hello' },
        { role: 'assistant', content: 'Hi there.' },
      ],
      { tokenize: false },
    );
    if (typeof chat !== 'string') throw new Error('apply_chat_template with tokenize: false should give text');
    expect(chat).toBe('<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there.<|im_end|>\n');
    const ids = tokenizer.encode(chat, { add_special_tokens: false });
    expect(ids.filter((id) => id === imStart)).toHaveLength(2);
    expect(ids.filter((id) => id === imEnd)).toHaveLength(2);
  });
});
