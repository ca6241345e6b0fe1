import * as path from 'node:path';
import { tempDir } from '../test/helpers';
import { SamplingConfigSchema, type Message } from '../shared/contracts';
import { generateResponses, openModel, PREFILL_INT8, type OpenModel } from '../shared/evaluation/generation/engine';
import { createDefaultModel } from '../shared/training/model/default-model';
import { ContinuousBatcher, heldBack, type FinishReason, type RequestSampling } from './batcher';

const user = (content: string): Message[] => [{ role: 'user', content }];
const REQUESTS: { id: string; messages: Message[]; maxTokens: number }[] = [
  { id: 'a', messages: user('I have been feeling anxious at work.'), maxTokens: 14 },
  { id: 'b', messages: user('My partner and I keep fighting about small things and I do not know what to do.'), maxTokens: 5 },
  { id: 'c', messages: user('I cannot sleep.'), maxTokens: 9 },
  {
    id: 'd',
    messages: [...user('Work has been a lot lately.'), { role: 'assistant', content: 'Tell me more.' }, ...user('My manager keeps adding tasks.')],
    maxTokens: 12,
  },
  { id: 'e', messages: user('I miss my grandmother.'), maxTokens: 3 },
];

const greedy = (maxTokens: number, stop: string[] = []): RequestSampling => ({ temperature: 0, topP: 1, topK: 50, maxTokens, stop, seed: 7 });

function collect(model: OpenModel, maxBatch: number, prefixCacheBytes?: number, candidates?: boolean, prefillModel?: OpenModel) {
  const text = new Map<string, string>();
  const done = new Map<string, { reason: FinishReason; completionTokens: number; promptTokens: number }>();
  const rejected = new Map<string, string>();
  const listeners: ((id: string) => void)[] = [];
  const batcher = new ContinuousBatcher(
    model,
    {
      delta: (id, t) => {
        text.set(id, (text.get(id) ?? '') + t);
        for (const l of listeners) l(id);
      },
      done: (id, reason, usage) => done.set(id, { reason, ...usage }),
      rejected: (id, message) => rejected.set(id, message),
    },
    {
      maxBatch,
      growth: 4,
      ...(prefixCacheBytes !== undefined ? { prefixCacheBytes } : {}),
      ...(candidates !== undefined ? { candidates } : {}),
      ...(prefillModel ? { prefillModel } : {}),
    },
  );
  return { batcher, text, done, rejected, listeners };
}

describe('continuous batching (tiny model, onnxruntime CPU)', () => {
  let t: ReturnType<typeof tempDir>;
  /** The batcher's graph (slots) and the evaluation's (time-major), which decodes each request alone. */
  let model: OpenModel;
  let reference: OpenModel;
  /** The same weights in the fused layout (onnxruntime's attention kernel), as the server prefills with. */
  let fusedPrefill: OpenModel;
  beforeAll(async () => {
    t = tempDir();
    const dir = path.join(t.dir, 'tiny');
    await createDefaultModel(dir, 'tiny', 3);
    model = await openModel(dir, ['cpu'], { cache: 'slots' });
    reference = await openModel(dir);
    fusedPrefill = await openModel(dir, ['cpu'], { cache: 'fused', spinning: false });
  }, 120_000);
  afterAll(async () => {
    await model?.session.release();
    await fusedPrefill?.session.release();
    await reference?.session.release();
    t?.cleanup();
  });

  it.each(['none', 'fused'] as const)(
    'requests joining and leaving between steps get the tokens each would get alone (greedy; prefill model: %s)',
    async (prefill) => {
      const alone = new Map<string, string>();
      for (const r of REQUESTS) {
        const [out] = await generateResponses(
          reference,
          [r],
          SamplingConfigSchema.parse({ maxNewTokens: r.maxTokens, temperature: 0, repetitionPenalty: 1, batch: 1 }),
        );
        alone.set(r.id, out!.response);
      }
      const { batcher, text, done, listeners } = collect(model, 3, undefined, undefined, prefill === 'fused' ? fusedPrefill : undefined);
      // a and b start together; c, d and e arrive after a's first token, and d and e wait for room.
      let late = false;
      listeners.push((id) => {
        if (id !== 'a' || late) return;
        late = true;
        for (const r of REQUESTS.slice(2)) batcher.submit(r.id, r.messages, greedy(r.maxTokens));
      });
      for (const r of REQUESTS.slice(0, 2)) batcher.submit(r.id, r.messages, greedy(r.maxTokens));
      batcher.stopWhenIdle();
      await batcher.run();
      for (const r of REQUESTS) {
        expect((alone.get(r.id) ?? '').length).toBeGreaterThan(0);
        expect((text.get(r.id) ?? '').trim()).toBe(alone.get(r.id));
        expect(done.get(r.id)?.completionTokens).toBeLessThanOrEqual(r.maxTokens);
      }
      expect(batcher.stats.maxBatch).toBe(3);
      // Rows of different lengths shared steps, and the buffers grew as they went.
      expect(batcher.stats.resizes).toBeGreaterThan(2);
      expect(batcher.load).toBe(0);
    },
    120_000,
  );

  it("samples from the graph's top tokens exactly as from the whole logits (top-k, temperature, seed)", async () => {
    const sampled = async (candidates: boolean) => {
      const c = collect(model, 3, 0, candidates);
      for (const [i, r] of REQUESTS.entries())
        c.batcher.submit(r.id, r.messages, { temperature: 1.3, topP: 0.95, topK: 40, maxTokens: 12, stop: [], seed: 11 + i });
      c.batcher.stopWhenIdle();
      await c.batcher.run();
      return c.text;
    };
    const fromCandidates = await sampled(true);
    const fromLogits = await sampled(false);
    expect(fromCandidates.size).toBe(REQUESTS.length);
    for (const r of REQUESTS) expect(fromCandidates.get(r.id)).toBe(fromLogits.get(r.id));
    // Not greedy: a different seed draws other tokens for at least one request.
    const c = collect(model, 3, 0);
    for (const [i, r] of REQUESTS.entries())
      c.batcher.submit(r.id, r.messages, { temperature: 1.3, topP: 0.95, topK: 40, maxTokens: 12, stop: [], seed: 500 + i });
    c.batcher.stopWhenIdle();
    await c.batcher.run();
    expect(REQUESTS.some((r) => c.text.get(r.id) !== fromCandidates.get(r.id))).toBe(true);
  }, 60_000);

  it('refuses a request whose prompt and max tokens do not fit the context, and cancels on request', async () => {
    const { batcher, done, rejected } = collect(model, 2);
    batcher.submit('long', user('word '.repeat(model.maxPositions)), greedy(4));
    batcher.submit('x', REQUESTS[0]!.messages, greedy(50));
    batcher.submit('y', REQUESTS[2]!.messages, greedy(3));
    batcher.cancel('x');
    batcher.stopWhenIdle();
    await batcher.run();
    expect(rejected.get('long')).toMatch(/context is \d+ tokens/);
    expect(done.get('x')?.reason).toBe('cancelled');
    expect(done.get('y')?.reason).toBe('length');
  }, 60_000);

  it('stops before a stop string and never sends part of it', async () => {
    const first = collect(model, 1);
    first.batcher.submit('p', REQUESTS[0]!.messages, greedy(14));
    first.batcher.stopWhenIdle();
    await first.batcher.run();
    const full = first.text.get('p') ?? '';
    const stop = full.slice(6, 9);
    expect(stop.length).toBe(3);
    const second = collect(model, 1);
    second.batcher.submit('p', REQUESTS[0]!.messages, greedy(14, [stop]));
    second.batcher.stopWhenIdle();
    await second.batcher.run();
    expect(second.text.get('p') ?? '').toBe(full.slice(0, full.indexOf(stop)));
    expect(second.done.get('p')?.reason).toBe('stop');
  }, 60_000);

  it.each(['none', 'fused'] as const)(
    'reuses the cache rows of a shared prompt start (the next turn of a conversation) with the same tokens as computing them (prefill model: %s)',
    async (prefill) => {
      const first = REQUESTS[3]!.messages.slice(0, 1);
      const turns = [first, REQUESTS[3]!.messages, REQUESTS[0]!.messages];
      const run = async (prefixCacheBytes: number) => {
        const c = collect(model, 2, prefixCacheBytes, undefined, prefill === 'fused' ? fusedPrefill : undefined);
        for (const [i, m] of turns.entries()) {
          c.batcher.submit(`t${i}`, m, greedy(10));
          c.batcher.stopWhenIdle();
          await c.batcher.run();
        }
        return c;
      };
      const cold = await run(0);
      const warm = await run(64 * 1024 * 1024);
      expect(cold.batcher.stats.prefixTokensReused).toBe(0);
      // The second turn reuses the first's prompt up to where they part; the third shares at least the system prompt.
      expect(warm.batcher.stats.prefixTokensReused).toBeGreaterThan(10);
      expect(warm.batcher.stats.prefillTokens + warm.batcher.stats.prefixTokensReused).toBe(cold.batcher.stats.prefillTokens);
      for (const id of ['t0', 't1', 't2']) {
        expect((warm.text.get(id) ?? '').length).toBeGreaterThan(0);
        expect(warm.text.get(id)).toBe(cold.text.get(id));
      }
    },
    60_000,
  );

  it('bounds a request to maxContext tokens, below the positions of the model', async () => {
    const rejected = new Map<string, string>();
    const done = new Map<string, number>();
    const batcher = new ContinuousBatcher(
      model,
      {
        delta: () => undefined,
        done: (id, _r, u) => done.set(id, u.promptTokens + u.completionTokens),
        rejected: (id, m) => rejected.set(id, m),
      },
      { maxBatch: 2, maxContext: 40 },
    );
    expect(batcher.context).toBe(Math.min(40, model.maxPositions));
    batcher.submit('long', REQUESTS[1]!.messages, greedy(30));
    batcher.submit('fits', REQUESTS[4]!.messages, greedy(3));
    batcher.stopWhenIdle();
    await batcher.run();
    expect(rejected.get('long')).toMatch(/context is 40 tokens here/);
    expect(done.get('fits')).toBeLessThanOrEqual(40);
  }, 60_000);

  it('runs prompts on the prefill model and decode steps on its own model', async () => {
    // Another tiny model of the same shape (other weights): what the prefill alone decides (the
    // first token) comes from it, and the tokens after from the batcher's own model.
    const otherDir = path.join(t.dir, 'tiny-other');
    await createDefaultModel(otherDir, 'tiny', 4);
    const other = await openModel(otherDir, ['cpu'], { cache: 'slots' });
    try {
      const replies = async (m: OpenModel, maxTokens: number, prefillModel?: OpenModel) => {
        const c = collect(m, 3, 0, undefined, prefillModel);
        for (const r of REQUESTS) c.batcher.submit(r.id, r.messages, greedy(maxTokens));
        c.batcher.stopWhenIdle();
        await c.batcher.run();
        return REQUESTS.map((r) => c.text.get(r.id) ?? '');
      };
      const firstHybrid = await replies(model, 1, other);
      expect(firstHybrid).toEqual(await replies(other, 1));
      expect(firstHybrid).not.toEqual(await replies(model, 1));
      const hybrid = await replies(model, 8, other);
      expect(hybrid).not.toEqual(await replies(other, 8));
      hybrid.forEach((text, i) => expect(text.startsWith(firstHybrid[i] as string)).toBe(true));
    } finally {
      await other.session.release();
    }
  }, 120_000);

  it('prefills in int8 (PREFILL_INT8, fused) and decodes in float32 for every request, and refuses a prefill model of another shape or layout', async () => {
    const dir = path.join(t.dir, 'tiny');
    const int8 = await openModel(dir, ['cpu'], { cache: 'fused', quantize: PREFILL_INT8, spinning: false });
    try {
      const c = collect(model, 2, 0, undefined, int8);
      for (const r of REQUESTS) c.batcher.submit(r.id, r.messages, greedy(r.maxTokens));
      c.batcher.stopWhenIdle();
      await c.batcher.run();
      for (const r of REQUESTS) {
        expect((c.text.get(r.id) ?? '').length).toBeGreaterThan(0);
        expect(c.done.get(r.id)?.completionTokens).toBeGreaterThan(0);
      }
      expect(() => collect(model, 2, 0, undefined, reference)).toThrow(/same model opened with the slots or fused cache layout/);
      expect(() => collect(model, 2, 0, undefined, { ...int8, dims: { ...int8.dims, layers: int8.dims.layers + 1 } })).toThrow(/same model/);
    } finally {
      await int8.session.release();
    }
  }, 120_000);

  it('holds back only what could start a stop string', () => {
    expect(heldBack('hello wor', 'world')).toBe(6);
    expect(heldBack('hello', 'xyz')).toBe(5);
    expect(heldBack('ab', 'abc')).toBe(0);
  });
});
