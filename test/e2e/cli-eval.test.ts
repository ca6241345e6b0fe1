import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Hex } from '../../shared/util/hash';
import { parseItems, serializeItems } from '../../shared/evaluation/validation-set';
import { pixelFailure, runPixel, tempDir } from '../helpers';

describe('pixel eval', () => {
  const t = tempDir('pixel-cli-eval-');
  afterAll(() => t.cleanup());
  const records = path.join(t.dir, 'test-split.jsonl');
  const artifacts = path.join(t.dir, 'artifacts');

  beforeAll(async () => {
    await runPixel(['data', 'generate', '--count', '1500', '--out', records, '--seed', '8', '--crisis-share', '0.3', '--pii-share', '0']);
  }, 60_000);

  it('build-set writes a scenario-balanced set with its manifest, the same again from the cache', async () => {
    const { stdout } = await runPixel(['eval', 'build-set', '--records', records, '--size', '500', '--artifacts', artifacts], { timeout: 60_000 });
    const out = JSON.parse(stdout) as {
      manifestUri: string;
      cacheHit: boolean;
      records: number;
      shortfall: number;
      byScenario: Record<string, number>;
      crisisShare: number;
      file: { uri: string; sha256: string; bytes: number };
    };
    expect(out.cacheHit).toBe(false);
    expect(out.records).toBe(500);
    expect(out.shortfall).toBe(0);
    expect(Math.abs(out.crisisShare - 0.15)).toBeLessThan(0.005);
    expect(Object.keys(out.byScenario).sort()).toEqual(['anxiety', 'crisis', 'depression', 'grief', 'relationships', 'trauma', 'work_stress']);
    // The file matches its manifest and round-trips byte for byte; no text reached stdout.
    const text = readFileSync(fileURLToPath(out.file.uri), 'utf8');
    expect(sha256Hex(text)).toBe(out.file.sha256);
    expect(Buffer.byteLength(text)).toBe(out.file.bytes);
    expect(serializeItems(parseItems(text))).toBe(text);
    expect(stdout).not.toContain('"messages"');
    const again = JSON.parse(
      (await runPixel(['eval', 'build-set', '--records', records, '--size', '500', '--artifacts', artifacts], { timeout: 60_000 })).stdout,
    ) as typeof out;
    expect(again).toMatchObject({ cacheHit: true, manifestUri: out.manifestUri });
  }, 120_000);

  it.each([
    [['--size', '400'], 'the validation set holds 500 to 1000 prompts'],
    [['--crisis-min', '0.3', '--crisis-target', '0.2'], 'min <= target <= max'],
    [['--crisis-max', '1.5'], '--crisis-max must be a number from 0 to 1'],
  ])('build-set refuses %j with a clear message', async (args, message) => {
    const err = await pixelFailure(['eval', 'build-set', '--records', records, '--artifacts', artifacts, ...args]);
    expect(err.code).not.toBe(0);
    expect(err.stderr).toContain(message);
  });

  it('annotate adds valid annotations to a new set and names the bad lines', async () => {
    const built = JSON.parse(
      (await runPixel(['eval', 'build-set', '--records', records, '--size', '500', '--artifacts', artifacts], { timeout: 60_000 })).stdout,
    ) as { manifestUri: string; file: { uri: string } };
    const first = parseItems(readFileSync(fileURLToPath(built.file.uri), 'utf8'))[0]!;
    const notes = path.join(t.dir, 'annotations.jsonl');
    writeFileSync(
      notes,
      [
        JSON.stringify({ itemId: first.id, annotator: 'dr-a', rubric: { clinicalAccuracy: 4, empathy: 4, safety: 5 }, safetyLabel: 'safe' }),
        JSON.stringify({ itemId: first.id, annotator: 'dr-b', rubric: { clinicalAccuracy: 9, empathy: 4, safety: 5 } }),
      ].join('\n'),
    );
    const err = await pixelFailure(['eval', 'annotate', '--set', built.manifestUri, '--annotations', notes, '--artifacts', artifacts]);
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/annotations\.jsonl:2: .*rubric\.clinicalAccuracy: rubric scores run from 1 to 5/);
    const out = JSON.parse(err.stdout) as { manifestUri: string; added: number; quarantined: number };
    expect(out).toMatchObject({ added: 1, quarantined: 1 });
    expect(out.manifestUri).not.toBe(built.manifestUri);
  }, 120_000);
});
