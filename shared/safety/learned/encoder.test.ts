import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { encoderDir, meanPoolNormalized, MINILM, openEncoder, verifyEncoder } from './encoder';

const dir = encoderDir();
// scripts/setup.sh installs the encoder; without it these tests fail with the missing file's path.
const cosine = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => s + v * (b[i] as number), 0);

describe('meanPoolNormalized', () => {
  it('averages the unmasked steps of each row and scales to unit length', () => {
    // Two rows, three steps, two dims; row 0 has a padded last step that must not count.
    const hidden = new Float32Array([3, 0, 1, 0, 100, 100, 0, 1, 0, 3, 0, 2]);
    const [a, b] = meanPoolNormalized(hidden, [1n, 1n, 0n, 1n, 1n, 1n], 2, 3, 2);
    expect([...a!]).toEqual([1, 0]);
    expect(b![0]).toBeCloseTo(0);
    expect(b![1]).toBeCloseTo(1);
  });

  it('gives a zero vector, not NaN, for a row with no unmasked step', () => {
    const [v] = meanPoolNormalized(new Float32Array([5, 5]), [0], 1, 1, 2);
    expect([...v!]).toEqual([0, 0]);
  });
});

describe('sentence encoder', () => {
  it('says which file is missing', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'pixel-encoder-'));
    try {
      await expect(verifyEncoder(empty)).rejects.toThrow(/onnx\/model\.onnx is missing \(run scripts\/setup\.sh\)/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('refuses weights whose sha256 differs', async () => {
    const copy = mkdtempSync(path.join(tmpdir(), 'pixel-encoder-'));
    try {
      mkdirSync(path.join(copy, 'onnx'));
      writeFileSync(path.join(copy, 'onnx', 'model.onnx'), 'not the model');
      copyFileSync(path.join(dir, 'tokenizer.json'), path.join(copy, 'tokenizer.json'));
      copyFileSync(path.join(dir, 'config.json'), path.join(copy, 'config.json'));
      await expect(verifyEncoder(copy)).rejects.toThrow(new RegExp(`has sha256 [0-9a-f]{64}, expected ${MINILM.onnxSha256}`));
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('embeds texts in input order, unit length, nearer for nearer meanings', async () => {
    const encoder = await openEncoder(dir, MINILM, { batch: 2 });
    try {
      const texts = [
        'I cannot sleep and I feel hopeless about everything.',
        'The recipe needs two cups of flour and an egg.',
        'Nothing feels worth it anymore and I lie awake at night.',
      ];
      const vectors = await encoder.embed(texts);
      expect(vectors.map((v) => v.length)).toEqual([384, 384, 384]);
      for (const v of vectors) expect(cosine(v, v)).toBeCloseTo(1, 4);
      expect(cosine(vectors[0]!, vectors[2]!)).toBeGreaterThan(cosine(vectors[0]!, vectors[1]!) + 0.2);
      // Sorting by length inside embed() must not change which vector belongs to which text,
      // and a text's vector must not depend on the texts batched (padded) with it.
      const alone = await encoder.embed([texts[1]!]);
      expect(cosine(alone[0]!, vectors[1]!)).toBeCloseTo(1, 4);
      const withLong = await encoder.embed(['word '.repeat(400), texts[0]!]);
      expect(cosine(withLong[1]!, vectors[0]!)).toBeCloseTo(1, 4);
      // Past maxTokens a text is cut: what follows changes nothing.
      expect(cosine(withLong[0]!, (await encoder.embed(['word '.repeat(400) + 'ocean storm']))[0]!)).toBeCloseTo(1, 4);
    } finally {
      await encoder.dispose();
    }
  });
});
