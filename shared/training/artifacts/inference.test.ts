import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { Graph, type Value } from '../graph/ir';
import { toOnnx } from '../graph/onnx-writer';
import { parameterShapes, type LlamaConfigInput, type ModelDims } from '../model/config';
import { createRandomModel, loadModelFolder } from '../model/folder';
import { llamaForward } from '../model/llama';
import { buildInference } from './inference';

const FLAVOURS: [string, LlamaConfigInput][] = [
  [
    'llama, grouped-query attention, untied',
    {
      model_type: 'llama',
      vocab_size: 50,
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 64,
    },
  ],
  [
    'qwen3, q/k norms, tied embeddings',
    {
      model_type: 'qwen3',
      vocab_size: 40,
      hidden_size: 32,
      intermediate_size: 48,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 1,
      head_dim: 8,
      tie_word_embeddings: true,
      max_position_embeddings: 64,
    },
  ],
  [
    'mistral, head_dim wider than hidden / heads (as in Nemo), sliding window of 3',
    {
      model_type: 'mistral',
      vocab_size: 45,
      hidden_size: 32,
      intermediate_size: 48,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 16,
      sliding_window: 3,
      rope_theta: 1_000_000,
      max_position_embeddings: 64,
    },
  ],
];

/** Logits of the training forward graph for one sequence: the reference for the inference artifact. */
async function referenceLogits(folder: Awaited<ReturnType<typeof loadModelFolder>>, tokens: number[]): Promise<number[][]> {
  const g = new Graph('reference');
  const params = new Map<string, Value>();
  for (const [name] of parameterShapes(folder.dims)) params.set(name, g.initializer(name, folder.weights.get(name)!));
  const ids = g.input('ids', 'int64', [1, tokens.length]);
  g.output(llamaForward(g, folder.dims, params, ids, { batch: 1, seq: tokens.length, dtype: 'float32' }), 'logits');
  const session = await ort.InferenceSession.create(toOnnx(g));
  const out = await session.run({ ids: new ort.Tensor('int64', tokens, [1, tokens.length]) });
  await session.release();
  const data = Array.from((out.logits as ort.Tensor).data as Float32Array);
  const v = folder.dims.vocab;
  return tokens.map((_, i) => data.slice(i * v, (i + 1) * v));
}

/** An empty KV cache for one sequence (batch-major): every layer's key and value with no positions yet. */
function emptyPast(d: ModelDims): Record<string, ort.Tensor> {
  const past: Record<string, ort.Tensor> = {};
  for (let i = 0; i < d.layers; i++)
    for (const kind of ['key', 'value'])
      past[`past_key_values.${i}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [1, d.kvHeads, 0, d.headDim]);
  return past;
}

/** One sequence's `input_ids`, `attention_mask` and `position_ids`, its tokens following `start` cached positions. */
function tokenFeeds(ids: number[], start = 0): Record<string, ort.Tensor> {
  return {
    input_ids: new ort.Tensor('int64', ids, [1, ids.length]),
    attention_mask: new ort.Tensor('int64', new Array<number>(start + ids.length).fill(1), [1, start + ids.length]),
    position_ids: new ort.Tensor(
      'int64',
      ids.map((_, i) => start + i),
      [1, ids.length],
    ),
  };
}

const argmax = (xs: number[]) => xs.reduce((best, x, i) => (x > (xs[best] as number) ? i : best), 0);
const maxDiff = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - (b[i] as number))));

describe('inference artifact', () => {
  let root: string;
  beforeAll(() => (root = mkdtempSync(path.join(tmpdir(), 'pixel-inference-'))));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it.each(FLAVOURS)('gives the training forward pass’s logits, with and without its KV cache: %s', async (_name, config) => {
    const dir = path.join(root, `own-${config.model_type}`);
    await createRandomModel(dir, config, 4);
    const folder = await loadModelFolder(dir);
    const d = folder.dims;
    const session = await ort.InferenceSession.create(toOnnx(buildInference(d, folder.weights, 64)));
    const tokens = [3, 17, 5, 9, 1, 12, 7];
    const reference = await referenceLogits(folder, tokens);
    const run = async (ids: number[], start: number, past: Record<string, ort.Tensor>) => {
      return session.run({ ...tokenFeeds(ids, start), ...past });
    };
    const noPast = emptyPast(d);
    // The whole prompt at once.
    const all = await run(tokens, 0, noPast);
    const logits = Array.from((all.logits as ort.Tensor).data as Float32Array);
    expect(maxDiff(logits, reference.flat())).toBeLessThan(1e-4);
    // The prompt minus its last token, then that token with the cache.
    const first = await run(tokens.slice(0, -1), 0, noPast);
    const cache: Record<string, ort.Tensor> = {};
    for (let i = 0; i < d.layers; i++) {
      cache[`past_key_values.${i}.key`] = first[`present.${i}.key`] as ort.Tensor;
      cache[`past_key_values.${i}.value`] = first[`present.${i}.value`] as ort.Tensor;
      expect((first[`present.${i}.key`] as ort.Tensor).dims).toEqual([1, d.kvHeads, tokens.length - 1, d.headDim]);
    }
    const next = await run(tokens.slice(-1), tokens.length - 1, cache);
    expect(maxDiff(Array.from((next.logits as ort.Tensor).data as Float32Array), reference[tokens.length - 1]!)).toBeLessThan(1e-4);
    await session.release();
  });

  it.each([
    ['llama', { ...FLAVOURS[0]![1], hidden_size: 64 }],
    ['mistral with a sliding window', FLAVOURS[2]![1]],
  ] as [string, LlamaConfigInput][])(
    'with the fused attention kernel (GroupQueryAttention) gives the same logits, prompt and cached step: %s',
    async (name, config) => {
      const dir = path.join(root, `fused-${name.replace(/ /g, '-')}`);
      // The kernel needs a head size that is a multiple of 16.
      await createRandomModel(dir, config, 5);
      const folder = await loadModelFolder(dir);
      const d = folder.dims;
      const session = await ort.InferenceSession.create(toOnnx(buildInference(d, folder.weights, 64, { cache: 'fused' })));
      const tokens = [3, 17, 5, 9, 1, 12, 7];
      const reference = await referenceLogits(folder, tokens);
      const run = (ids: number[], start: number, past: Record<string, ort.Tensor>, keep: number) =>
        session.run({
          ...tokenFeeds(ids, start),
          logits_to_keep: new ort.Tensor('int64', [keep], []),
          ...past,
        });
      const noPast = emptyPast(d);
      const all = await run(tokens, 0, noPast, tokens.length);
      expect(maxDiff(Array.from((all.logits as ort.Tensor).data as Float32Array), reference.flat())).toBeLessThan(1e-4);
      const first = await run(tokens.slice(0, -1), 0, noPast, 1);
      expect((first.logits as ort.Tensor).dims).toEqual([1, 1, d.vocab]);
      const cache: Record<string, ort.Tensor> = {};
      for (let i = 0; i < d.layers; i++)
        for (const kind of ['key', 'value']) cache[`past_key_values.${i}.${kind}`] = first[`present.${i}.${kind}`] as ort.Tensor;
      const next = await run(tokens.slice(-1), tokens.length - 1, cache, 1);
      expect(maxDiff(Array.from((next.logits as ort.Tensor).data as Float32Array), reference[tokens.length - 1]!)).toBeLessThan(1e-4);
      await session.release();
    },
  );

  it.each(FLAVOURS)(
    'with the slots cache (continuous batching) gives the same logits to rows of different lengths sharing a longer buffer: %s',
    async (_name, config) => {
      const dir = path.join(root, `slots-${config.model_type}`);
      await createRandomModel(dir, config, 7);
      const folder = await loadModelFolder(dir);
      const d = folder.dims;
      const session = await ort.InferenceSession.create(toOnnx(buildInference(d, folder.weights, 64, { cache: 'slots' })));
      const rows = [
        [3, 17, 5, 9, 1, 12, 7],
        [4, 8, 2, 11],
      ];
      const references = await Promise.all(rows.map((r) => referenceLogits(folder, r)));
      const keep = (n: number) => ({ logits_to_keep: new ort.Tensor('int64', [n], []) });
      // Each prompt but its last token alone: logits of every position, and its keys and values.
      const C = 9;
      const H = d.kvHeads;
      const D = d.headDim;
      // The slots' buffers, filled with garbage first: a row must see only its own positions.
      const buffers = Array.from({ length: 2 * d.layers }, (_, i) => Float32Array.from({ length: 2 * H * C * D }, (_, j) => Math.sin(i * 7 + j) * 3));
      for (const [b, tokens] of rows.entries()) {
        const n = tokens.length - 1;
        const out = await session.run({ ...tokenFeeds(tokens.slice(0, n)), ...keep(n), ...emptyPast(d) });
        expect(maxDiff(Array.from((out.logits as ort.Tensor).data as Float32Array), references[b]!.slice(0, n).flat())).toBeLessThan(1e-4);
        const kv = out.new_kv as ort.Tensor;
        expect(kv.dims).toEqual([2 * d.layers, 1, H, n, D]);
        const data = kv.data as Float32Array;
        for (let i = 0; i < 2 * d.layers; i++)
          for (let h = 0; h < H; h++) buffers[i]!.set(data.subarray((i * H + h) * n * D, (i * H + h + 1) * n * D), (b * H + h) * C * D);
      }
      // One step for both rows: each at its own position, its unfilled positions masked out.
      const fed = rows.map((r) => r.length - 1);
      const mask = fed.flatMap((n) => Array.from({ length: C + 1 }, (_, t) => (t < n || t === C ? 1 : 0)));
      const past: Record<string, ort.Tensor> = {};
      for (let l = 0; l < d.layers; l++)
        for (const [k, kind] of ['key', 'value'].entries())
          past[`past_key_values.${l}.${kind}`] = new ort.Tensor('float32', buffers[2 * l + k]!, [2, H, C, D]);
      const step = await session.run({
        input_ids: new ort.Tensor(
          'int64',
          rows.map((r) => r[r.length - 1]!),
          [2, 1],
        ),
        attention_mask: new ort.Tensor('int64', mask, [2, C + 1]),
        position_ids: new ort.Tensor('int64', fed, [2, 1]),
        ...keep(1),
        ...past,
      });
      const logits = (step.logits as ort.Tensor).data as Float32Array;
      const top = step.top_ids as ort.Tensor;
      const k = top.dims[2] as number;
      expect(k).toBe(Math.min(64, d.vocab));
      for (const [b, tokens] of rows.entries()) {
        const row = Array.from(logits.subarray(b * d.vocab, (b + 1) * d.vocab));
        expect(maxDiff(row, references[b]![tokens.length - 1]!)).toBeLessThan(1e-4);
        // The candidates: the row's most likely tokens, highest first.
        expect(Number(top.data[b * k])).toBe(argmax(row));
        const values = Array.from((step.top_logits as ort.Tensor).data as Float32Array).slice(b * k, (b + 1) * k);
        expect(values).toEqual([...values].sort((x, y) => y - x));
      }
      await session.release();
    },
  );

  it.each([
    ['8-bit weights (MatMulNBits)', { bits: 8, accuracyLevel: 0 }, 'MatMulNBits', 0.02],
    ['4-bit weights (MatMulNBits)', { bits: 4, accuracyLevel: 0 }, 'MatMulNBits', 0.15],
    ['int8 weights and inputs (MatMulIntegerToFloat)', { bits: 8, activations: 'dynamic' }, 'MatMulIntegerToFloat', 0.05],
  ] as const)('with %s stays within a small share of the logits’ range of the float forward pass', async (name, quantize, kernel, share) => {
    const config = FLAVOURS[0]![1];
    const dir = path.join(root, `quantized-${kernel}-${quantize.bits}`);
    await createRandomModel(dir, { ...config, hidden_size: 64, intermediate_size: 128 }, 9);
    const folder = await loadModelFolder(dir);
    const d = folder.dims;
    const graph = buildInference(d, folder.weights, 64, { quantize });
    // Every layer's products go through the kernel (q|k|v, o, gate|up, down); the LM head is
    // quantized with the layers by MatMulNBits and stays float32 with dynamic inputs.
    const kernels = graph.nodes.filter((n) => n.op === kernel).length;
    expect(kernels).toBe(4 * d.layers + (kernel === 'MatMulNBits' ? 1 : 0));
    const session = await ort.InferenceSession.create(toOnnx(graph));
    const tokens = [3, 17, 5, 9, 1, 12, 7];
    const reference = (await referenceLogits(folder, tokens)).flat();
    const past = emptyPast(d);
    const out = await session.run({ ...tokenFeeds(tokens), ...past });
    const logits = Array.from((out.logits as ort.Tensor).data as Float32Array);
    const range = Math.max(...reference) - Math.min(...reference);
    expect(maxDiff(logits, reference) / range).toBeLessThan(share);
    expect(maxDiff(logits, reference)).toBeGreaterThan(0); // the weights really were quantized
    await session.release();
  });

  it('refuses dynamic activation quantization with 4-bit weights', () => {
    const d = { layers: 1 } as Parameters<typeof buildInference>[0];
    expect(() => buildInference(d, new Map(), 8, { quantize: { bits: 4, activations: 'dynamic' } })).toThrow(/8-bit only/);
  });

  it.each(FLAVOURS)(
    'loads in transformers.js, which gets the same logits and generates with the cache: %s',
    async (_name, config) => {
      const name = `hf-${config.model_type}`;
      const dir = path.join(root, name);
      await createRandomModel(dir, config, 6);
      const folder = await loadModelFolder(dir);
      mkdirSync(path.join(dir, 'onnx'), { recursive: true });
      writeFileSync(path.join(dir, 'onnx', 'model.onnx'), toOnnx(buildInference(folder.dims, folder.weights, 64)));
      const hf = require('@huggingface/transformers') as typeof import('@huggingface/transformers');
      hf.env.allowRemoteModels = false;
      hf.env.allowLocalModels = true;
      hf.env.localModelPath = `${root}/`;
      const model = await hf.AutoModelForCausalLM.from_pretrained(name, { dtype: 'fp32', device: 'cpu' });
      try {
        const tokens = [4, 11, 2, 8, 30];
        const reference = await referenceLogits(folder, tokens);
        const input = new hf.Tensor('int64', BigInt64Array.from(tokens.map(BigInt)), [1, tokens.length]);
        const mask = new hf.Tensor('int64', BigInt64Array.from(tokens.map(() => 1n)), [1, tokens.length]);
        const out = (await model({ input_ids: input, attention_mask: mask })) as { logits: { data: Float32Array } };
        expect(maxDiff(Array.from(out.logits.data), reference.flat())).toBeLessThan(1e-4);
        // Greedy generation through transformers.js (which feeds the cache back) agrees, token by
        // token, with the argmax of the reference forward pass over the growing sequence.
        const generated = (await model.generate({ input_ids: input, attention_mask: mask, max_new_tokens: 5, do_sample: false })) as {
          data: BigInt64Array;
        };
        const sequence = Array.from(generated.data, Number);
        expect(sequence.slice(0, tokens.length)).toEqual(tokens);
        expect(sequence).toHaveLength(tokens.length + 5);
        const full = await referenceLogits(folder, sequence.slice(0, -1));
        for (let i = tokens.length; i < sequence.length; i++) expect(sequence[i]).toBe(argmax(full[i - 1]!));
      } finally {
        await model.dispose();
      }
    },
    60_000,
  );
});
