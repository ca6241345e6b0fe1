import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../../test/helpers';
import { LocalArtifactStore } from '../artifacts';
import { PrepareConfigSchema } from '../contracts';
import { chooseThreads, prepareDataset } from './prepare-dataset';
import { generateConversation } from './synthetic/generator';

/**
 * The threaded path must give byte-identical output to the single-threaded one: same shards,
 * same quarantine (same lines, reasons and raw text), same counts.
 */
describe('threaded preparation', () => {
  const t = tempDir();
  afterAll(() => t.cleanup());

  it('matches the single-threaded output byte for byte, bad lines included', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 6000; i++) {
      lines.push(JSON.stringify(generateConversation(i, { seed: 11, crisisShare: 0.1, piiShare: 0.2 })));
      if (i % 500 === 7) lines.push('{"broken": ');
      if (i % 700 === 3) lines.push('');
      if (i % 900 === 5) lines.push(lines[lines.length - 2] as string); // exact duplicate
      if (i % 1100 === 9)
        lines.push(
          JSON.stringify({
            id: `synthetic-11-${i}`,
            source: 's',
            messages: [
              { role: 'user', content: 'x' },
              { role: 'assistant', content: 'y' },
            ],
          }),
        );
      if (i === 4000) lines.push(`{"id":"long","source":"s","messages":[{"role":"user","content":"${'é'.repeat(3000)}"}]}`);
      if (i % 1300 === 11) lines.push('NOT-UTF-8');
    }
    const file = path.join(t.dir, 'mixed.jsonl');
    // Lines in Latin-1 among the UTF-8 ones: a byte that is no UTF-8 where the marker stands.
    const text = Buffer.from(`\uFEFF${lines.join('\r\n')}`);
    for (let at = text.indexOf('NOT-UTF-8'); at >= 0; at = text.indexOf('NOT-UTF-8', at + 1)) text[at + 3] = 0xe9;
    writeFileSync(file, text);
    const run = async (threads: number) => {
      const store = new LocalArtifactStore(path.join(t.dir, `store-${threads}`));
      const config = PrepareConfigSchema.parse({ source: { kind: 'jsonl', uri: file }, shardSize: 1000, maxLineLength: 4096 });
      const result = await prepareDataset({ config, store, threads });
      return { result, quarantine: readFileSync(fileURLToPath(result.quarantineUri), 'utf8') };
    };
    const inline = await run(0);
    const threaded = await run(2);
    expect(threaded.result.datasetSha).toBe(inline.result.datasetSha);
    expect(threaded.quarantine).toBe(inline.quarantine);
    expect(threaded.result.counts).toEqual(inline.result.counts);
    expect(inline.result.counts.byReason).toMatchObject({ malformed_json: 12, duplicate_id: 6, line_too_long: 1, invalid_utf8: 5 });
    expect(inline.result.counts.byReason.duplicate_content).toBeGreaterThanOrEqual(7);
    expect(inline.result.counts.blankLines).toBe(9);
  }, 60_000);

  it('stops worker threads when cancelled and publishes nothing', async () => {
    const file = path.join(t.dir, 'big.jsonl');
    writeFileSync(
      file,
      Array.from({ length: 30_000 }, (_, i) => JSON.stringify(generateConversation(i, { seed: 3, crisisShare: 0.1, piiShare: 0.1 }))).join('\n'),
    );
    const store = new LocalArtifactStore(path.join(t.dir, 'store-cancel'));
    const config = PrepareConfigSchema.parse({ source: { kind: 'jsonl', uri: file } });
    const controller = new AbortController();
    await expect(
      prepareDataset({
        config,
        store,
        threads: 2,
        signal: controller.signal,
        onProgress: (p) => p.read > 2000 && controller.abort(new Error('cancelled by test')),
      }),
    ).rejects.toThrow('cancelled by test');
    const again = await prepareDataset({ config, store, threads: 2 });
    expect(again.cacheHit).toBe(false);
    expect(again.counts.read).toBe(30_000);
  }, 60_000);

  it.each([
    [2, 10, 2],
    [0, 1e9, 0],
    ['auto', 1_000, 0],
    ['auto', undefined, 0],
  ] as const)('chooseThreads(%p, %p) gives %p', (requested, bytes, expected) => {
    expect(chooseThreads(requested, bytes)).toBe(expected);
  });

  it('uses threads for large files when left to choose', () => {
    expect(chooseThreads('auto', 64 * 1024 * 1024)).toBeGreaterThanOrEqual(1);
  });
});
