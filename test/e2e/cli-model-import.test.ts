import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { tinyLlamaGguf } from '../../shared/training/gguf/testing';
import { pixelFailure, runPixel, tempDir } from '../helpers';

describe('pixel model import-gguf', () => {
  const t = tempDir('pixel-cli-import-');
  afterAll(() => t.cleanup());

  it('imports a GGUF into a model folder and prints a JSON summary', async () => {
    const tiny = tinyLlamaGguf();
    const file = path.join(t.dir, 'tiny.gguf');
    writeFileSync(file, tiny.gguf);
    const license = path.join(t.dir, 'LICENSE.txt');
    writeFileSync(license, 'Apache License\nVersion 2.0\n');
    const out = path.join(t.dir, 'models', 'tiny');
    const sha256 = createHash('sha256').update(tiny.gguf).digest('hex');
    const { stdout } = await runPixel(['model', 'import-gguf', file, '--out', out, '--license', license, '--expect-sha256', sha256.toUpperCase()]);
    const summary = JSON.parse(stdout) as {
      model: string;
      sha256: string;
      parameters: number;
      tensorTypes: Record<string, number>;
      seconds: number;
      vocab: number;
    };
    expect(summary).toMatchObject({ model: out, sha256, vocab: tiny.tokens.length, tensorTypes: { F32: tiny.hf.size } });
    expect(summary.parameters).toBe([...tiny.hf.values()].reduce((n, w) => n + w.data.length, 0));
    expect(summary.seconds).toBeGreaterThanOrEqual(0);
    expect(readdirSync(out)).toEqual(
      expect.arrayContaining([
        'config.json',
        'model.safetensors',
        'tokenizer.json',
        'tokenizer_config.json',
        'generation_config.json',
        'LICENSE',
        'NOTICE',
        'README.md',
      ]),
    );
    expect(readFileSync(path.join(out, 'LICENSE'), 'utf8')).toBe('Apache License\nVersion 2.0\n');
    // The folder is a model Pixel can use: `model artifacts` reads it.
    const artifacts = JSON.parse(
      (
        await runPixel([
          'model',
          'artifacts',
          '--model',
          out,
          '--modes',
          'lora',
          '--seq',
          '16',
          '--batch',
          '1',
          '--artifacts',
          path.join(t.dir, 'store'),
        ])
      ).stdout,
    ) as { parameters: number };
    expect(artifacts.parameters).toBeGreaterThan(0);
  }, 120_000);

  it('refuses a bad file, a wrong checksum and an occupied folder with a non-zero exit and one clear line', async () => {
    const notGguf = path.join(t.dir, 'notes.gguf');
    writeFileSync(notGguf, 'just some text, not a model');
    const cases: [string[], RegExp][] = [
      [[notGguf, '--out', path.join(t.dir, 'a')], /^pixel: GGUF .*notes\.gguf: bad magic "just": not a GGUF file \(expected "GGUF"\)$/],
      [[path.join(t.dir, 'missing.gguf'), '--out', path.join(t.dir, 'b')], /^pixel: GGUF .*missing\.gguf: cannot read \(ENOENT\)$/],
    ];
    const good = path.join(t.dir, 'good.gguf');
    writeFileSync(good, tinyLlamaGguf({ seed: 2 }).gguf);
    cases.push([
      [good, '--out', path.join(t.dir, 'c'), '--expect-sha256', 'f'.repeat(64)],
      /^pixel: GGUF .*good\.gguf: sha256 is [0-9a-f]{64}, expected f{64}: not the file you meant, or damaged$/,
    ]);
    const cut = path.join(t.dir, 'cut.gguf');
    const whole = tinyLlamaGguf({ seed: 3 }).gguf;
    writeFileSync(cut, whole.subarray(0, whole.length - 1000));
    cases.push([
      [cut, '--out', path.join(t.dir, 'd')],
      /^pixel: GGUF .*cut\.gguf: tensor \S+: bytes \d+-\d+ .* lie outside the file \(\d+ bytes\): truncated or damaged$/,
    ]);
    await runPixel(['model', 'import-gguf', good, '--out', path.join(t.dir, 'taken')]);
    cases.push([
      [good, '--out', path.join(t.dir, 'taken')],
      /^pixel: .*taken: already holds a model \(config\.json\): remove it or choose another --out$/,
    ]);
    for (const [args, message] of cases) {
      const r = await pixelFailure(['model', 'import-gguf', ...args]);
      expect(r.code).not.toBe(0);
      const lines = r.stderr.trim().split('\n');
      expect({ args, lines: lines.length }).toEqual({ args, lines: 1 });
      expect(lines[0]).toMatch(message);
    }
    for (const dir of ['a', 'b', 'c', 'd']) expect(existsSync(path.join(t.dir, dir))).toBe(false);
    expect(readdirSync(t.dir).filter((f) => f.includes('.importing-'))).toEqual([]);
  }, 120_000);
});
