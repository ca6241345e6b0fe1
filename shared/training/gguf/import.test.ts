import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { tempDir } from '../../../test/helpers';
import { LlamaConfigSchema } from '../model/config';
import { loadModelFolder } from '../model/folder';
import { loadTokenizer } from '../tokenizer/load';
import { importGguf, unpermuteQk } from './import';
import { f32Bytes, llamaCppPermute, stream, str, tinyLlamaGguf } from './testing';

/**
 * llama.cpp's converter permutation, written out as what it does to the rows: within each head,
 * the rows of the first half and of the second half are interleaved (first[0], second[0],
 * first[1], second[1], ...).
 */
function interleaveHalves(rows: number[][], heads: number): number[][] {
  const hd = rows.length / heads;
  const out: number[][] = [];
  for (let h = 0; h < heads; h++) {
    const head = rows.slice(h * hd, (h + 1) * hd);
    const first = head.slice(0, hd / 2);
    const second = head.slice(hd / 2);
    first.forEach((row, i) => out.push(row, second[i]!));
  }
  return out;
}

const matrix = (rows: number, cols: number) => Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => r * 100 + c));
const flat = (m: number[][]) => Float32Array.from(m.flat());

/** Rotary embedding of one head vector: llama.cpp's NORM mode rotates pairs (2i, 2i+1), Hugging Face's rotate_half pairs (i, i + hd/2). */
function rope(x: number[], pos: number, base: number, interleaved: boolean): number[] {
  const hd = x.length;
  const out = [...x];
  for (let i = 0; i < hd / 2; i++) {
    const theta = pos * base ** ((-2 * i) / hd);
    const [a, b] = interleaved ? [2 * i, 2 * i + 1] : [i, i + hd / 2];
    out[a] = x[a]! * Math.cos(theta) - x[b]! * Math.sin(theta);
    out[b] = x[a]! * Math.sin(theta) + x[b]! * Math.cos(theta);
  }
  return out;
}
const matVec = (w: Float32Array, rows: number, cols: number, v: number[]) =>
  Array.from({ length: rows }, (_, r) => v.reduce((s, x, c) => s + w[r * cols + c]! * x, 0));

describe('GGUF import', () => {
  const t = tempDir('pixel-gguf-import-');
  afterAll(() => t.cleanup());
  const writeGguf = (name: string, bytes: Buffer) => {
    const file = path.join(t.dir, name);
    writeFileSync(file, bytes);
    return file;
  };
  /** No half-written folder or temporary folder is left in `parent` for `name`. */
  const nothingLeft = (parent: string, name: string) => {
    expect(existsSync(path.join(parent, name))).toBe(false);
    expect(readdirSync(parent).filter((f) => f.startsWith(`.${name}.importing-`))).toEqual([]);
  };

  it('undoes llama.cpp’s Q/K row permutation exactly (q with n_head, k with n_head_kv)', () => {
    // One head of 4 rows: Hugging Face rows r0 r1 r2 r3 are stored as r0 r2 r1 r3.
    expect(interleaveHalves([[0], [1], [2], [3]], 1)).toEqual([[0], [2], [1], [3]]);
    expect(Array.from(unpermuteQk(Float32Array.from([0, 2, 1, 3]), 4, 1, 1))).toEqual([0, 1, 2, 3]);
    for (const [name, heads, headDim, cols] of [
      ['q: 9 heads of 64 (SmolLM2-135M)', 9, 64, 7],
      ['k: 3 kv heads of 64 (SmolLM2-135M)', 3, 64, 7],
      ['q: 4 heads of 8', 4, 8, 5],
      ['k: 1 kv head of 8', 1, 8, 5],
    ] as const) {
      const hf = matrix(heads * headDim, cols);
      const gguf = flat(interleaveHalves(hf, heads));
      expect({ name, restored: Array.from(unpermuteQk(gguf, heads * headDim, cols, heads)) }).toEqual({ name, restored: Array.from(flat(hf)) });
      // The reshape/swapaxes form of the converter gives the same rows.
      expect(Array.from(llamaCppPermute(flat(hf), heads * headDim, cols, heads))).toEqual(Array.from(gguf));
    }
    expect(() => unpermuteQk(new Float32Array(6 * 2), 6, 2, 2)).toThrow(/do not split into 2 heads of an even size/);
  });

  it('gives the same attention scores as llama.cpp: GGUF rows with interleaved RoPE = imported rows with rotate-half RoPE', () => {
    const heads = 2;
    const headDim = 8;
    const cols = 6;
    const rnd = stream(3);
    const ggufQ = Float32Array.from({ length: heads * headDim * cols }, () => rnd());
    const ggufK = Float32Array.from({ length: heads * headDim * cols }, () => rnd());
    const hfQ = unpermuteQk(ggufQ, heads * headDim, cols, heads);
    const hfK = unpermuteQk(ggufK, heads * headDim, cols, heads);
    const x = Array.from({ length: cols }, () => rnd());
    const y = Array.from({ length: cols }, () => rnd());
    const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
    for (const [pq, pk] of [
      [0, 0],
      [3, 1],
      [17, 5],
    ] as const) {
      for (let h = 0; h < heads; h++) {
        const head = (v: number[]) => v.slice(h * headDim, (h + 1) * headDim);
        const llamaCpp = dot(
          rope(head(matVec(ggufQ, heads * headDim, cols, x)), pq, 10_000, true),
          rope(head(matVec(ggufK, heads * headDim, cols, y)), pk, 10_000, true),
        );
        const imported = dot(
          rope(head(matVec(hfQ, heads * headDim, cols, x)), pq, 10_000, false),
          rope(head(matVec(hfK, heads * headDim, cols, y)), pk, 10_000, false),
        );
        expect(imported).toBeCloseTo(llamaCpp, 5);
      }
    }
  });

  it('writes a Hugging Face folder whose weights are the original ones (Q/K restored), with config, tokenizer and license', async () => {
    const tiny = tinyLlamaGguf();
    const file = writeGguf('tiny.gguf', tiny.gguf);
    const out = path.join(t.dir, 'models', 'tiny');
    const result = await importGguf(file, out);
    expect(result.sha256).toBe(createHash('sha256').update(tiny.gguf).digest('hex'));
    expect(result.tensorTypes).toEqual({ F32: tiny.hf.size });
    expect(result.parameters).toBe([...tiny.hf.values()].reduce((n, w) => n + w.data.length, 0));
    expect(readdirSync(out).sort()).toEqual([
      'LICENSE',
      'NOTICE',
      'README.md',
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'special_tokens_map.json',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    expect(readdirSync(path.dirname(out))).toEqual(['tiny']);

    const config = JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(LlamaConfigSchema.safeParse(config).success).toBe(true);
    expect(config).toMatchObject({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      vocab_size: tiny.tokens.length,
      hidden_size: 32,
      intermediate_size: 48,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 8,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      max_position_embeddings: 128,
      tie_word_embeddings: true,
      bos_token_id: 1,
      eos_token_id: 2,
      pad_token_id: 2,
    });
    const folder = await loadModelFolder(out);
    for (const [name, w] of tiny.hf) {
      expect({ name, shape: folder.weights.get(name)?.dims }).toEqual({ name, shape: w.shape });
      expect({ name, equal: Buffer.from((folder.weights.get(name)!.data as Float32Array).buffer).equals(Buffer.from(w.data.buffer)) }).toEqual({
        name,
        equal: true,
      });
    }
    expect(JSON.parse(readFileSync(path.join(out, 'generation_config.json'), 'utf8'))).toEqual({ bos_token_id: 1, eos_token_id: 2, pad_token_id: 2 });
    expect(readFileSync(path.join(out, 'LICENSE'), 'utf8')).toMatch(/Apache License, Version 2\.0/);
    expect(readFileSync(path.join(out, 'NOTICE'), 'utf8')).toContain(result.sha256);

    const tokenizer = await loadTokenizer(out);
    const id = (token: string) => tiny.tokens.indexOf(token);
    expect(tokenizer.encode(' the', { add_special_tokens: false })).toEqual([id('Ġthe')]);
    expect(tokenizer.encode('2024', { add_special_tokens: false })).toEqual(['2', '0', '2', '4'].map(id));
    expect(tokenizer.encode('<|im_start|>in', { add_special_tokens: false })).toEqual([1, id('in')]);
    for (const text of ['the cat, 42 times!\n', 'naïve 🙂'])
      expect(tokenizer.decode(tokenizer.encode(text, { add_special_tokens: false }))).toBe(text);
    expect(tokenizer.decode([1, id('in'), 2], { skip_special_tokens: true })).toBe('in');
    const chat = tokenizer.apply_chat_template([{ role: 'user', content: 'hi' }], { tokenize: false, add_generation_prompt: true });
    expect(chat).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
  });

  it('keeps an untied output matrix as lm_head, copies a given license file and names a given source', async () => {
    const tiny = tinyLlamaGguf({ tied: false, seed: 9 });
    const file = writeGguf('untied.gguf', tiny.gguf);
    const license = path.join(t.dir, 'LICENSE-apache');
    writeFileSync(license, 'Apache License\nVersion 2.0, January 2004\n(full text)\n');
    const out = path.join(t.dir, 'untied');
    mkdirSync(out); // an existing empty folder is fine
    await importGguf(file, out, { licenseFile: license, source: 'a test file' });
    const folder = await loadModelFolder(out);
    expect(folder.dims.tied).toBe(false);
    expect(Array.from(folder.weights.get('lm_head.weight')!.data as Float32Array)).toEqual(Array.from(tiny.hf.get('lm_head.weight')!.data));
    expect(readFileSync(path.join(out, 'LICENSE'), 'utf8')).toBe('Apache License\nVersion 2.0, January 2004\n(full text)\n');
    expect(readFileSync(path.join(out, 'NOTICE'), 'utf8')).toContain('from a test file');
  });

  it('adds to a folder that holds other files, config.json last, and refuses one that already holds a model', async () => {
    const file = writeGguf('again.gguf', tinyLlamaGguf().gguf);
    const out = path.join(t.dir, 'with-notes');
    mkdirSync(out);
    writeFileSync(path.join(out, 'notes.txt'), 'mine');
    await importGguf(file, out);
    expect(readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('mine');
    expect(existsSync(path.join(out, 'config.json'))).toBe(true);
    await expect(importGguf(file, out)).rejects.toThrow(/with-notes: already holds a model \(config\.json\): remove it or choose another --out/);
  });

  const refusals: [string, () => Buffer, RegExp, { expectSha256?: string }?][] = [
    [
      'an unknown pre-tokenizer',
      () => tinyLlamaGguf({ pre: 'llama-bpe' }).gguf,
      /tokenizer\.ggml\.pre "llama-bpe" is not supported \(known: smollm, gpt2\)/,
    ],
    [
      'a SentencePiece tokenizer',
      () => tinyLlamaGguf({ metadata: { 'tokenizer.ggml.model': str('llama') } }).gguf,
      /tokenizer\.ggml\.model "llama" is not supported \(only byte-level BPE, "gpt2"\)/,
    ],
    ['another architecture', () => tinyLlamaGguf({ arch: 'qwen2' }).gguf, /architecture "qwen2" is not supported/],
    [
      'a tensor it has no place for',
      () => tinyLlamaGguf({ extraTensor: { name: 'rope_freqs.weight', dims: [4], type: 0, data: f32Bytes([1, 1, 1, 1]) } }).gguf,
      /tensors with no place in a Llama model: rope_freqs\.weight/,
    ],
    [
      'a shape the metadata does not give',
      () => tinyLlamaGguf({ metadata: { 'llama.feed_forward_length': { type: 4, value: 64 } } }).gguf,
      /blk\.0\.ffn_gate\.weight is ne=\(32, 48\), the config needs \[64, 32\]/,
    ],
    [
      'a missing tensor',
      () => tinyLlamaGguf({ mapTensor: (x) => (x.name === 'blk.1.ffn_up.weight' ? { ...x, name: 'blk.9.ffn_up.weight' } : x) }).gguf,
      /model\.layers\.1\.mlp\.up_proj\.weight is missing/,
    ],
    [
      'a tensor type it cannot dequantise (after reading the rest)',
      () =>
        tinyLlamaGguf({ mapTensor: (x) => (x.name === 'blk.1.ffn_up.weight' ? { ...x, type: 6, data: new Uint8Array((32 * 48 * 22) / 32) } : x) })
          .gguf,
      /tensor blk\.1\.ffn_up\.weight: ggml type Q5_0 cannot be dequantised here/,
    ],
    [
      'a tensor holding NaN',
      () =>
        tinyLlamaGguf({
          mapTensor: (x) =>
            x.name === 'output_norm.weight' ? { ...x, data: f32Bytes(Array.from({ length: 32 }, (_, i) => (i === 5 ? NaN : 1))) } : x,
        }).gguf,
      /tensor output_norm\.weight holds a non-finite value \(NaN\) at element 5/,
    ],
    [
      'a file that is not the one expected',
      () => tinyLlamaGguf().gguf,
      /sha256 is [0-9a-f]{64}, expected 0{64}: not the file you meant, or damaged/,
      { expectSha256: '0'.repeat(64) },
    ],
  ];

  // Rows of the same length: jest takes a test function's extra parameter for a done callback.
  it.each(refusals.map(([name, bytes, message, options]) => [name, bytes, message, options ?? {}] as const))(
    'refuses %s with a clear error and leaves no folder behind',
    async (_name, bytes, message, options) => {
      const file = writeGguf('refused.gguf', bytes());
      const parent = path.join(t.dir, 'refusals');
      await expect(importGguf(file, path.join(parent, 'model'), options)).rejects.toThrow(message);
      if (existsSync(parent)) nothingLeft(parent, 'model');
    },
  );
});
