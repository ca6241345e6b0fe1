import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ConversationRecordSchema } from '../../shared/contracts';
import { pixelFailure, runPixel, tempDir } from '../helpers';

describe('pixel data', () => {
  const t = tempDir('pixel-cli-data-');
  afterAll(() => t.cleanup());

  it('generate writes N valid records, the same for the same seed', async () => {
    const a = path.join(t.dir, 'a.jsonl');
    const b = path.join(t.dir, 'b.jsonl');
    const { stdout } = await runPixel(['data', 'generate', '--count', '500', '--out', a, '--seed', '3']);
    await runPixel(['data', 'generate', '--count', '500', '--out', b, '--seed', '3']);
    expect(stdout).toMatch(/wrote 500 conversations/);
    const lines = readFileSync(a, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(500);
    for (const line of lines) ConversationRecordSchema.parse(JSON.parse(line));
    expect(readFileSync(b, 'utf8')).toBe(readFileSync(a, 'utf8'));
  });

  it.each([
    [['--count', '-5'], '--count must be an integer'],
    [['--count', '10', '--crisis-share', '2'], '--crisis-share must be a number from 0 to 1'],
    [['--count', '10'], "required option '--out <file>' not specified"],
  ])('generate refuses %j with a clear message', async (args, message) => {
    const err = await pixelFailure(['data', 'generate', ...args]);
    expect(err.code).not.toBe(0);
    expect(err.stderr).toContain(message);
  });

  it('augment writes the copies of a file, reports by strategy, and names bad lines without stopping', async () => {
    const file = path.join(t.dir, 'aug-in.jsonl');
    const out = path.join(t.dir, 'aug-out.jsonl');
    await runPixel(['data', 'generate', '--count', '200', '--out', file, '--seed', '4']);
    appendFileSync(file, '{"id": "no-messages", "source": "x"}\n');
    const { stdout, stderr } = await runPixel(['data', 'augment', file, '--out', out, '--config', '{"seed": 9}']);
    const result = JSON.parse(stdout) as { badLines: number; counts: { source: number; kept: number }; ratioByStrategy: Record<string, number> };
    expect(result.badLines).toBe(1);
    expect(stderr).toMatch(/line 201: record: messages: .*left out/);
    expect(result.counts.source).toBe(200);
    const copies = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => ConversationRecordSchema.parse(JSON.parse(l)));
    expect(copies).toHaveLength(result.counts.kept);
    expect(copies.every((c) => typeof (c.metadata?.augmentation as { parentId?: string } | undefined)?.parentId === 'string')).toBe(true);
    expect(Object.keys(result.ratioByStrategy).sort()).toEqual([
      'contextExpansion',
      'crisisScenario',
      'demographic',
      'dialogueVariation',
      'paraphrase',
    ]);
    const err = await pixelFailure(['data', 'augment', file, '--out', out, '--config', '{"maxPerRecord": -1}']);
    expect(err.code).not.toBe(0);
    expect(err.stderr).toContain('maxPerRecord');
  });

  it('prepare runs the stage locally and reports counts as JSON', async () => {
    const file = path.join(t.dir, 'p.jsonl');
    await runPixel(['data', 'generate', '--count', '300', '--out', file]);
    const { stdout } = await runPixel(['data', 'prepare', file, '--artifacts', path.join(t.dir, 'store')]);
    const result = JSON.parse(stdout) as { counts: { read: number; accepted: number; quarantined: number }; cacheHit: boolean };
    expect(result.counts.read).toBe(300);
    expect(result.counts.accepted + result.counts.quarantined).toBe(300);
    expect(result.cacheHit).toBe(false);
  });

  it('prepare fails, with the counts and one clear line, when no record is usable (a file in another encoding)', async () => {
    const file = path.join(t.dir, 'latin1.jsonl');
    const line = (id: string) =>
      Buffer.from(`{"id":"${id}","source":"s","messages":[{"role":"user","content":"caf\u00e9"},{"role":"assistant","content":"ok"}]}\n`, 'latin1');
    writeFileSync(file, Buffer.concat([line('a'), line('b')]));
    const err = await pixelFailure(['data', 'prepare', file, '--artifacts', path.join(t.dir, 'store')]);
    expect(err.code).toBe(1);
    expect((JSON.parse(err.stdout) as { counts: { byReason: Record<string, number> } }).counts.byReason).toEqual({ invalid_utf8: 2 });
    expect(err.stderr.trim()).toMatch(
      /^pixel: no records accepted: 2 read, 2 quarantined \(\{"invalid_utf8":2\}\); see file:\/\/.*quarantine\.jsonl$/,
    );
    // The error names counts and places, never the records' text.
    expect(err.stderr).not.toContain('caf');
  });

  it('dev --run refuses bad input before starting anything', async () => {
    const started = Date.now();
    const err = await pixelFailure(['dev', '--run', '--port', '17391', '--ui-port', '17392', '--input', '{"data":{"shardSize":0}}'], {
      env: { ...process.env, PIXEL_HOME: path.join(t.dir, 'home') },
      timeout: 30_000,
    });
    expect(err.code).toBe(1);
    expect(err.stderr).toContain('data.shardSize');
    expect(err.stdout).not.toContain('starting Temporal');
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
