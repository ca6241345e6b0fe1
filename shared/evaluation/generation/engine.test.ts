import { copyFileSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../../../test/helpers';
import { SamplingConfigSchema, type Message } from '../../contracts';
import { tokenizeConversation } from '../../training/data/chat-tokens';
import { createDefaultModel } from '../../training/model/default-model';
import { createRandomModel } from '../../training/model/folder';
import { conversationLosses, generateResponses, KvCache, ONE_STREAM_INT4, openModel, promptIds, type OpenModel } from './engine';
import { runGenerationInThread } from './run-generation';

const user = (content: string): Message[] => [{ role: 'user', content }];
const PROMPTS = [
  { id: 'a', messages: user('I have been feeling anxious at work.') },
  {
    id: 'b',
    messages: [
      ...user('My partner and I keep fighting about small things and I do not know what to do.'),
      { role: 'assistant' as const, content: 'That sounds exhausting.' },
      ...user('It is every day now.'),
    ],
  },
  { id: 'c', messages: user('I cannot sleep.') },
  { id: 'd', messages: user('Work has been a lot lately, and my manager keeps adding tasks.') },
  { id: 'e', messages: user('I miss my grandmother.') },
];

describe('generation engine (tiny model, onnxruntime CPU)', () => {
  let t: ReturnType<typeof tempDir>;
  let model: OpenModel;
  let dir: string;
  beforeAll(async () => {
    t = tempDir();
    dir = path.join(t.dir, 'tiny');
    await createDefaultModel(dir, 'tiny', 3);
    model = await openModel(dir);
  }, 120_000);
  afterAll(async () => {
    await model?.session.release();
    t?.cleanup();
  });

  it.each([
    ['greedy', { temperature: 0 }],
    ['sampled', { temperature: 0.9, topK: 40, topP: 0.95 }],
  ])(
    '%s: the same text whatever the batch, and for the same seed',
    async (_name, over) => {
      const sampling = SamplingConfigSchema.parse({ maxNewTokens: 12, ...over });
      const batched = await generateResponses(model, PROMPTS, { ...sampling, batch: 4 });
      const single = await generateResponses(model, PROMPTS, { ...sampling, batch: 1 });
      expect(batched.map((r) => r.itemId)).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect(batched).toEqual(single);
      expect(batched.some((r) => r.tokens > 0)).toBe(true);
      for (const r of batched) {
        expect(r.tokens).toBeLessThanOrEqual(12);
        expect(r.finished || r.tokens === 12).toBe(true);
      }
      if (sampling.temperature > 0) {
        const other = await generateResponses(model, PROMPTS, { ...sampling, seed: sampling.seed + 1 });
        expect(other.map((r) => r.response)).not.toEqual(batched.map((r) => r.response));
      }
    },
    60_000,
  );

  it('one stream with the fused kernel, its KV cache kept in JavaScript and fed in place, generates what the batched engine does; one-stream int4 weights open and generate', async () => {
    const sampling = SamplingConfigSchema.parse({ maxNewTokens: 16, temperature: 0, batch: 1 });
    const fused = await openModel(dir, ['cpu'], { cache: 'fused' });
    const quantized = await openModel(dir, ['cpu'], { cache: 'fused', quantize: ONE_STREAM_INT4 });
    try {
      const expected = await generateResponses(model, PROMPTS, sampling);
      expect(await generateResponses(fused, PROMPTS, sampling)).toEqual(expected);
      // A cache of its own per generation: a second run is not disturbed by the first.
      expect(await generateResponses(fused, PROMPTS.slice(0, 2), sampling)).toEqual(expected.slice(0, 2));
      const small = await generateResponses(quantized, PROMPTS, sampling);
      expect(small.every((r) => r.tokens > 0 && r.tokens <= 16)).toBe(true);
      await expect(generateResponses(fused, PROMPTS, { ...sampling, batch: 2 })).rejects.toThrow(/one stream at a time/);
      // Responses longer than the cache's first room: it grows (twice here) without losing a row.
      const long = SamplingConfigSchema.parse({ maxNewTokens: 150, temperature: 0, batch: 1, repetitionPenalty: 1 });
      const longExpected = await generateResponses(model, PROMPTS.slice(0, 2), long);
      expect(longExpected.some((r) => r.tokens > 2 * KvCache.GROWTH)).toBe(true);
      expect(await generateResponses(fused, PROMPTS.slice(0, 2), long)).toEqual(longExpected);
    } finally {
      await fused.session.release();
      await quantized.session.release();
    }
  }, 60_000);

  it('cuts long prompts from the left to leave room for the response', () => {
    const long = user('word '.repeat(2000));
    const { ids, truncated } = promptIds(model.tokenizer, long, 100);
    expect(truncated).toBe(true);
    expect(ids).toHaveLength(100);
    // The assistant turn's opening stays at the end.
    const opening = model.tokenizer.encode('<|im_start|>assistant\n', { add_special_tokens: false });
    expect(ids.slice(-opening.length)).toEqual(opening);
  });

  it('scores only assistant tokens, the same with or without padding beside it', async () => {
    const records = PROMPTS.map((p) => ({
      id: p.id,
      messages: [...p.messages, { role: 'assistant' as const, content: 'That sounds hard. What helps you on difficult days?' }],
    }));
    const batched = await conversationLosses(model, records, 4);
    const single = await conversationLosses(model, records, 1);
    expect(batched.map((l) => l.recordId)).toEqual(['a', 'b', 'c', 'd', 'e']);
    batched.forEach((l, i) => {
      expect(l.nll).toBeCloseTo(single[i]!.nll, 3);
      const t = tokenizeConversation(model.tokenizer, records[i]!.messages);
      expect(l.tokens).toBe(t.assistant.slice(1).filter((x) => x === 1).length);
    });
    // A random model: about log(vocab) nats per token.
    const perToken = batched.reduce((a, l) => a + l.nll, 0) / batched.reduce((a, l) => a + l.tokens, 0);
    expect(perToken).toBeGreaterThan(Math.log(512) - 1.5);
    expect(perToken).toBeLessThan(Math.log(512) + 1.5);
  }, 60_000);

  it('runs in a worker thread and stops when aborted', async () => {
    const done = await runGenerationInThread({
      modelDir: dir,
      executionProviders: ['cpu'],
      prompts: PROMPTS,
      sampling: { maxNewTokens: 6, temperature: 0 },
      lossRecords: [],
    });
    expect(done.responses.map((r) => r.itemId)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(done.executionProvider).toBe('cpu');
    const abort = new AbortController();
    const many = Array.from({ length: 400 }, (_, i) => ({ id: `p${i}`, messages: user(`prompt ${i}`) }));
    const run = runGenerationInThread(
      { modelDir: dir, executionProviders: ['cpu'], prompts: many, sampling: { maxNewTokens: 64, batch: 2 }, lossRecords: [] },
      { signal: abort.signal, onProgress: () => abort.abort() },
    );
    await expect(run).rejects.toThrow(/cancelled/);
  }, 60_000);

  it("opens a model in the fused layout, or in the fallback layout when onnxruntime's attention kernel cannot take it (q/k norms)", async () => {
    // A Qwen3-shaped model (per-head q/k norms) of the tiny model's vocabulary, with its tokenizer.
    const qwen = path.join(t.dir, 'qwen3');
    const vocab = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')).vocab_size as number;
    await createRandomModel(
      qwen,
      {
        model_type: 'qwen3',
        vocab_size: vocab,
        hidden_size: 32,
        intermediate_size: 48,
        num_hidden_layers: 1,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: 16,
        max_position_embeddings: 64,
      },
      5,
    );
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(path.join(dir, f), path.join(qwen, f));
    const fallback = await openModel(qwen, ['cpu'], { cache: 'fused', fallback: 'slots' });
    expect(fallback.layout).toBe('slots');
    expect(fallback.fused).toBe(false);
    await fallback.session.release();
    await expect(openModel(qwen, ['cpu'], { cache: 'fused' })).rejects.toThrow(/per-head q\/k norm/);
    const fused = await openModel(dir, ['cpu'], { cache: 'fused', fallback: 'slots' });
    expect(fused.layout).toBe('fused');
    await fused.session.release();
  }, 60_000);
});
