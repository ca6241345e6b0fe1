import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadCheckpoint, saveCheckpoint } from '../checkpoint';
import { tensor } from '../graph/ir';
import { writeSafetensors } from '../safetensors';
import { parameterShapes, type LlamaConfigInput } from './config';
import { createRandomModel, loadModelFolder } from './folder';

const TINY: LlamaConfigInput = {
  model_type: 'qwen3',
  vocab_size: 13,
  hidden_size: 8,
  intermediate_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  head_dim: 4,
  tie_word_embeddings: true,
};

describe('model folders', () => {
  let root: string;
  beforeAll(() => (root = mkdtempSync(path.join(tmpdir(), 'pixel-model-'))));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('creates a random model folder in Hugging Face layout and loads it back', async () => {
    const dir = path.join(root, 'tiny');
    const dims = await createRandomModel(dir, TINY, 3);
    const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', tie_word_embeddings: true });
    const loaded = await loadModelFolder(dir);
    expect(loaded.dims).toEqual(dims);
    expect([...loaded.weights.keys()]).toEqual(parameterShapes(dims).map(([n]) => n));
    expect(loaded.weights.has('lm_head.weight')).toBe(false);
    // Same config and seed, same bytes.
    const again = path.join(root, 'tiny-again');
    await createRandomModel(again, TINY, 3);
    expect(readFileSync(path.join(again, 'model.safetensors')).equals(readFileSync(path.join(dir, 'model.safetensors')))).toBe(true);
  });

  it('widens bf16 weights to float32', async () => {
    const dir = path.join(root, 'bf16');
    const dims = await createRandomModel(dir, TINY, 1);
    const tensors = parameterShapes(dims).map(([name, shape]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      // 0x3fc0 is 1.5 in bfloat16.
      return { name, dtype: 'BF16' as const, shape, data: new Uint8Array(new Uint16Array(n).fill(0x3fc0).buffer) };
    });
    writeFileSync(path.join(dir, 'model.safetensors'), writeSafetensors(tensors));
    const loaded = await loadModelFolder(dir);
    expect(Array.from(loaded.weights.get('model.norm.weight')!.data as Float32Array)).toEqual(new Array(8).fill(1.5));
  });

  it.each([
    [
      'a config with heads that do not divide',
      (dir: string) => writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...TINY, num_key_value_heads: 3 })),
      /num_key_value_heads/,
    ],
    ['a config that is not JSON', (dir: string) => writeFileSync(path.join(dir, 'config.json'), '{'), /config\.json/],
    [
      'a missing tensor',
      (dir: string) =>
        writeFileSync(
          path.join(dir, 'model.safetensors'),
          writeSafetensors([{ name: 'model.norm.weight', dtype: 'F32', shape: [8], data: new Float32Array(8) }]),
        ),
      /model\.embed_tokens\.weight is missing/,
    ],
    [
      'a tensor of the wrong shape',
      (dir: string) =>
        writeFileSync(
          path.join(dir, 'model.safetensors'),
          writeSafetensors([{ name: 'model.embed_tokens.weight', dtype: 'F32', shape: [2, 2], data: new Float32Array(4) }]),
        ),
      /model\.embed_tokens\.weight is \[2, 2\], the config needs \[13, 8\]/,
    ],
  ])('refuses %s, saying what is wrong', async (name, spoil, message) => {
    const dir = path.join(root, name.replace(/\W+/g, '-'));
    await createRandomModel(dir, TINY, 1);
    spoil(dir);
    await expect(loadModelFolder(dir)).rejects.toThrow(message);
  });
});

describe('checkpoints', () => {
  it('round-trip parameters, moments, step, spec hash and config exactly', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pixel-ckpt-'));
    try {
      const file = path.join(dir, 'step-12.safetensors');
      const t = (values: number[]) => tensor('float32', [values.length], values);
      await saveCheckpoint(file, {
        step: 12,
        specHash: 'abc',
        config: { lr: 0.001 },
        params: new Map([['w', { value: t([1, 2.5]), m: t([0.1, 0]), v: t([0.01, 0.02]) }]]),
      });
      const c = await loadCheckpoint(file);
      expect(c.step).toBe(12);
      expect(c.specHash).toBe('abc');
      expect(c.config).toEqual({ lr: 0.001 });
      expect(Array.from(c.params.get('w')!.value.data as Float32Array)).toEqual([1, 2.5]);
      expect(Array.from(c.params.get('w')!.v.data as Float32Array)).toEqual([Math.fround(0.01), Math.fround(0.02)]);
      writeFileSync(file, writeSafetensors([{ name: 'w', dtype: 'F32', shape: [1], data: new Float32Array(1) }]));
      await expect(loadCheckpoint(file)).rejects.toThrow(/not a Pixel checkpoint/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
