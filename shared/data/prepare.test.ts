import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../../test/helpers';
import { LocalArtifactStore } from '../artifacts';
import { PrepareConfigSchema, type QuarantineEntry } from '../contracts';
import { contentFingerprint, nestsDeeperThan, validateCandidate } from './records';
import { SourceChangedError, loadPreparedManifest, prepareDataset, preparedKey, resolveSource } from './prepare-dataset';

const good = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    id,
    source: 'test',
    topic: 'anxiety',
    messages: [
      { role: 'user', content: `question ${id}` },
      { role: 'assistant', content: `answer ${id}` },
    ],
    ...extra,
  });

function readJsonl<T>(uri: string): T[] {
  return readFileSync(fileURLToPath(uri), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

describe('validateCandidate', () => {
  it.each([
    ['null', null, 'not_an_object'],
    ['an array', [1, 2], 'not_an_object'],
    ['a string', 'hello', 'not_an_object'],
    ['no messages', { id: 'x', source: 's', messages: [] }, 'empty_conversation'],
    [
      'only blank messages',
      {
        id: 'x',
        source: 's',
        messages: [
          { role: 'user', content: '  ' },
          { role: 'assistant', content: '' },
        ],
      },
      'empty_conversation',
    ],
    ['messages missing', { id: 'x', source: 's' }, 'schema_violation'],
    ['unknown role', { id: 'x', source: 's', messages: [{ role: 'therapist', content: 'hi' }] }, 'schema_violation'],
    [
      'one blank message among others',
      {
        id: 'x',
        source: 's',
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: ' ' },
        ],
      },
      'schema_violation',
    ],
    [
      'missing id',
      {
        source: 's',
        messages: [
          { role: 'user', content: 'a' },
          { role: 'assistant', content: 'b' },
        ],
      },
      'schema_violation',
    ],
    [
      'numeric id',
      {
        id: 5,
        source: 's',
        messages: [
          { role: 'user', content: 'a' },
          { role: 'assistant', content: 'b' },
        ],
      },
      'schema_violation',
    ],
    ['no assistant turn', { id: 'x', source: 's', messages: [{ role: 'user', content: 'a' }] }, 'incomplete_conversation'],
    [
      'no user turn',
      {
        id: 'x',
        source: 's',
        messages: [
          { role: 'system', content: 'a' },
          { role: 'assistant', content: 'b' },
        ],
      },
      'incomplete_conversation',
    ],
  ])('quarantines %s as %s', (_label, value, reason) => {
    const verdict = validateCandidate(value);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reason).toBe(reason);
  });

  it('names the bad field in a schema violation', () => {
    const verdict = validateCandidate({ id: 'x', source: 's', messages: [{ role: 'robot', content: 'a' }] });
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.detail).toContain('messages.0.role');
  });

  it('accepts a minimal record and fills defaults (near miss of the cases above)', () => {
    const verdict = validateCandidate({
      id: ' x ',
      source: 's',
      messages: [
        { role: 'user', content: ' a ' },
        { role: 'assistant', content: 'b' },
      ],
    });
    expect(verdict.ok).toBe(true);
    if (verdict.ok) {
      expect(verdict.record.id).toBe('x');
      expect(verdict.record.topic).toBe('general');
      expect(verdict.record.schemaVersion).toBe(1);
      expect(verdict.record.messages[0]?.content).toBe('a');
    }
  });
});

describe('prepareDataset on a JSONL file', () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => {
    t = tempDir();
  });
  afterEach(() => t.cleanup());

  function setup(lines: string[], extra: Record<string, unknown> = {}) {
    const file = path.join(t.dir, 'in.jsonl');
    writeFileSync(file, lines.join('\n'));
    const store = new LocalArtifactStore(path.join(t.dir, 'store'));
    const config = PrepareConfigSchema.parse({ source: { kind: 'jsonl', uri: file }, shardSize: 3, ...extra });
    return { file, store, config };
  }

  it('quarantines every bad line with its line number and reason, and keeps the rest', async () => {
    const lines = [
      good('a'), // 1
      '{"id": "broken", ', // 2 malformed
      '', // 3 blank
      good('b'), // 4
      good('a'), // 5 exact duplicate of line 1
      JSON.stringify({ id: 'c', source: 't', messages: [] }), // 6 empty
      good('d').replace('"user"', '"robot"'), // 7 schema
      JSON.stringify({
        id: 'b',
        source: 'test',
        messages: [
          { role: 'user', content: 'other' },
          { role: 'assistant', content: 'text' },
        ],
      }), // 8 duplicate id
      '[1,2,3]', // 9 not an object
      good('e'), // 10
    ];
    const { store, config } = setup(lines);
    const result = await prepareDataset({ config, store });
    expect(result.counts.read).toBe(9);
    expect(result.counts.blankLines).toBe(1);
    expect(result.counts.accepted).toBe(3);
    expect(result.counts.quarantined).toBe(6);
    expect(result.counts.byReason).toEqual({
      malformed_json: 1,
      duplicate_content: 1,
      empty_conversation: 1,
      schema_violation: 1,
      duplicate_id: 1,
      not_an_object: 1,
    });
    const quarantine = readJsonl<QuarantineEntry>(result.quarantineUri);
    expect(quarantine.map((q) => [q.line, q.reason])).toEqual([
      [2, 'malformed_json'],
      [5, 'duplicate_content'],
      [6, 'empty_conversation'],
      [7, 'schema_violation'],
      [8, 'duplicate_id'],
      [9, 'not_an_object'],
    ]);
    expect(quarantine[0]?.raw).toBe(lines[1]);
    expect(quarantine[1]?.detail).toContain('line 1');
    expect(quarantine[4]?.detail).toContain('line 4');
  });

  it('writes shards whose hashes and counts match the manifest', async () => {
    const { store, config } = setup(Array.from({ length: 20 }, (_, i) => good(`r${i}`)));
    const result = await prepareDataset({ config, store });
    const loaded = await loadPreparedManifest(store, preparedKey(result.cacheKey));
    expect(loaded).toBeDefined();
    const manifest = loaded!.manifest;
    expect(manifest.shards.reduce((s, x) => s + x.records, 0)).toBe(20);
    for (const shard of manifest.shards) {
      const text = readFileSync(fileURLToPath(shard.uri));
      expect(createHash('sha256').update(text).digest('hex')).toBe(shard.sha256);
      expect(text.length).toBe(shard.bytes);
      const records = readJsonl<{ id: string }>(shard.uri);
      expect(records.length).toBe(shard.records);
      expect(shard.records).toBeLessThanOrEqual(3);
    }
    expect(manifest.source.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.config.split.ratios.train).toBe(0.7);
    const bySplit = { train: 0, val: 0, test: 0 };
    for (const s of manifest.shards) bySplit[s.split] += s.records;
    expect(bySplit).toEqual(result.counts.bySplit);
  });

  it('reuses the manifest on a re-run and recomputes when the config or data change', async () => {
    const { file, store, config } = setup(Array.from({ length: 10 }, (_, i) => good(`r${i}`)));
    const first = await prepareDataset({ config, store });
    expect(first.cacheHit).toBe(false);
    const second = await prepareDataset({ config, store });
    expect(second.cacheHit).toBe(true);
    expect(second.manifestSha256).toBe(first.manifestSha256);
    expect(second.datasetSha).toBe(first.datasetSha);

    const otherConfig = { ...config, shardSize: 4 };
    expect((await prepareDataset({ config: otherConfig, store })).cacheHit).toBe(false);

    writeFileSync(file, [readFileSync(file, 'utf8'), good('new')].join('\n'));
    const grown = await prepareDataset({ config, store });
    expect(grown.cacheHit).toBe(false);
    expect(grown.counts.accepted).toBe(11);
  });

  it('recomputes when a cached shard was damaged', async () => {
    const { store, config } = setup(Array.from({ length: 6 }, (_, i) => good(`r${i}`)));
    const first = await prepareDataset({ config, store });
    const manifest = (await loadPreparedManifest(store, preparedKey(first.cacheKey)))!.manifest;
    writeFileSync(fileURLToPath(manifest.shards[0]!.uri), 'truncated');
    const again = await prepareDataset({ config, store });
    expect(again.cacheHit).toBe(false);
    expect(again.datasetSha).toBe(first.datasetSha);
  });

  it('puts the same record in the same split when the file grows', async () => {
    const { file, store, config } = setup(
      Array.from({ length: 200 }, (_, i) => good(`r${i}`)),
      { shardSize: 1000 },
    );
    const splitOf = async () => {
      const r = await prepareDataset({ config, store });
      const manifest = (await loadPreparedManifest(store, preparedKey(r.cacheKey)))!.manifest;
      const map = new Map<string, string>();
      for (const s of manifest.shards) for (const rec of readJsonl<{ id: string }>(s.uri)) map.set(rec.id, s.split);
      return map;
    };
    const before = await splitOf();
    writeFileSync(file, [readFileSync(file, 'utf8'), ...Array.from({ length: 100 }, (_, i) => good(`later${i}`))].join('\n'));
    const after = await splitOf();
    for (const [id, split] of before) expect(after.get(id)).toBe(split);
    expect(after.size).toBe(300);
  });

  it('keeps records of one group in one split', async () => {
    const lines = Array.from({ length: 60 }, (_, i) => good(`r${i}`, { groupId: `q${i % 6}` }));
    const { store, config } = setup(lines, { shardSize: 1000 });
    const r = await prepareDataset({ config, store });
    const manifest = (await loadPreparedManifest(store, preparedKey(r.cacheKey)))!.manifest;
    const groupSplit = new Map<string, Set<string>>();
    for (const s of manifest.shards) {
      for (const rec of readJsonl<{ groupId: string }>(s.uri)) {
        groupSplit.set(rec.groupId, (groupSplit.get(rec.groupId) ?? new Set()).add(s.split));
      }
    }
    for (const splits of groupSplit.values()) expect(splits.size).toBe(1);
  });

  it('lets two runs with the same key work at once without damaging each other', async () => {
    const { store, config } = setup(
      Array.from({ length: 3000 }, (_, i) => good(`r${i}`)),
      { shardSize: 100 },
    );
    const [a, b] = await Promise.all([prepareDataset({ config, store, useCache: false }), prepareDataset({ config, store, useCache: false })]);
    expect(a.datasetSha).toBe(b.datasetSha);
    expect(a.manifestUri).toBe(b.manifestUri);
    // Whichever manifest was published last, every file it lists is there, whole.
    const loaded = await loadPreparedManifest(store, preparedKey(a.cacheKey));
    expect(loaded?.manifest.counts.accepted).toBe(3000);
    expect((await prepareDataset({ config, store })).cacheHit).toBe(true);
  });

  it('notices a source that changed after it was fingerprinted', async () => {
    const { file, store, config } = setup(Array.from({ length: 50 }, (_, i) => good(`r${i}`)));
    const source = await resolveSource(config.source, store, config.maxLineLength);
    writeFileSync(file, [readFileSync(file, 'utf8'), good('late')].join('\n'));
    const opened = await source.open({ blankLines: 0 });
    for await (const _item of opened.items) {
      // read everything
    }
    expect(() => opened.verify()).toThrow(SourceChangedError);
  });

  it('quarantines an over-long line and goes on', async () => {
    const long = JSON.stringify({
      id: 'long',
      source: 't',
      messages: [
        { role: 'user', content: 'x'.repeat(5000) },
        { role: 'assistant', content: 'y' },
      ],
    });
    const { store, config } = setup([good('a'), long, good('b')], { maxLineLength: 2048 });
    const result = await prepareDataset({ config, store });
    expect(result.counts.byReason).toEqual({ line_too_long: 1 });
    expect(readJsonl<QuarantineEntry>(result.quarantineUri)[0]?.line).toBe(2);
    expect(result.counts.accepted).toBe(2);
  });

  it('quarantines deep nesting and over-long messages with line and reason, and one bad line never fails the dataset', async () => {
    const deep = `${'['.repeat(5000)}0${']'.repeat(5000)}`;
    const lines = [
      good('a'),
      good('deep').replace(/}$/, `, "metadata": {"x": ${deep}}}`),
      JSON.stringify({
        id: 'huge',
        source: 't',
        messages: [
          { role: 'user', content: 'I want to kill myself '.repeat(3000) },
          { role: 'assistant', content: 'y' },
        ],
      }),
      '['.repeat(200_000),
      good('b', { metadata: { nested: { just: { fine: [1, [2, [3]]] } } } }),
    ];
    const { store, config } = setup(lines);
    const result = await prepareDataset({ config, store });
    expect(result.counts.accepted).toBe(2);
    const quarantine = readJsonl<QuarantineEntry>(result.quarantineUri);
    expect(quarantine.map((q) => [q.line, q.reason, q.recordId])).toEqual([
      [2, 'too_deep', 'deep'],
      [3, 'message_too_long', 'huge'],
      [4, 'malformed_json', undefined],
    ]);
    expect(quarantine[0]?.detail).toBe('record nests arrays or objects more than 64 levels deep');
    expect(quarantine[1]?.detail).toBe('record: messages.0.content: 65,999 characters; a message has at most 50,000');
    expect(quarantine[0]?.raw).toBe(lines[1]);
  });

  it('fails naming a source that is not there', async () => {
    const store = new LocalArtifactStore(path.join(t.dir, 'store'));
    const config = PrepareConfigSchema.parse({ source: { kind: 'jsonl', uri: path.join(t.dir, 'nope.jsonl') } });
    await expect(prepareDataset({ config, store })).rejects.toThrow(/not found: .*nope\.jsonl/);
  });

  it('fails naming a source that is a directory', async () => {
    const store = new LocalArtifactStore(path.join(t.dir, 'store'));
    const config = PrepareConfigSchema.parse({ source: { kind: 'jsonl', uri: t.dir } });
    await expect(prepareDataset({ config, store })).rejects.toThrow(/not a regular file/);
  });

  it('stops when cancelled and leaves no manifest', async () => {
    const store = new LocalArtifactStore(path.join(t.dir, 'store'));
    const config = PrepareConfigSchema.parse({ source: { kind: 'synthetic', count: 12_000 } });
    const controller = new AbortController();
    await expect(
      prepareDataset({
        config,
        store,
        signal: controller.signal,
        onProgress: (p) => p.read > 5000 && controller.abort(new Error('cancelled by test')),
      }),
    ).rejects.toThrow('cancelled by test');
    const again = await prepareDataset({ config: { ...config, source: { ...config.source } }, store, useCache: true });
    expect(again.cacheHit).toBe(false);
  });
});

describe('prepareDataset on synthetic data', () => {
  it('prepares the default source and splits about 70/15/15', async () => {
    const t = tempDir();
    try {
      const store = new LocalArtifactStore(t.dir);
      const result = await prepareDataset({ config: PrepareConfigSchema.parse({ source: { kind: 'synthetic', count: 5000 } }), store });
      expect(result.counts.read).toBe(5000);
      expect(result.counts.accepted + result.counts.quarantined).toBe(5000);
      expect(result.counts.bySplit.train / result.counts.accepted).toBeCloseTo(0.7, 1);
      expect(result.counts.byTopic.crisis).toBeGreaterThan(300);
    } finally {
      t.cleanup();
    }
  });
});

describe('validateCandidate on hostile records', () => {
  it('quarantines a conversation with too many messages without parsing them', () => {
    const messages = Array.from({ length: 300_000 }, () => ({}));
    const started = Date.now();
    const verdict = validateCandidate({ id: 'x', source: 's', messages });
    expect(Date.now() - started).toBeLessThan(500);
    expect(verdict).toMatchObject({ ok: false, reason: 'schema_violation' });
    if (!verdict.ok) expect(verdict.detail).toMatch(/300000 messages; a conversation has at most 1000/);
  });

  it('finds nesting depth without recursion, at the limit and one past it (near miss)', () => {
    const nest = (depth: number): unknown => {
      let v: unknown = 0;
      for (let i = 0; i < depth; i++) v = i % 2 ? { k: v } : [v];
      return v;
    };
    expect(nestsDeeperThan(nest(64), 64)).toBe(false);
    expect(nestsDeeperThan(nest(65), 64)).toBe(true);
    expect(nestsDeeperThan(nest(1_000_000), 64)).toBe(true);
    expect(nestsDeeperThan('text', 0)).toBe(false);
    // The record is one level and its metadata another: 62 more make 64.
    const record = (depth: number) => ({
      id: 'x',
      source: 's',
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'ok' },
      ],
      metadata: { a: nest(depth) },
    });
    expect(validateCandidate(record(62))).toMatchObject({ ok: true });
    expect(validateCandidate(record(63))).toMatchObject({ ok: false, reason: 'too_deep' });
  });

  it('keeps the detail short when many fields are wrong', () => {
    const messages = Array.from({ length: 900 }, () => ({ role: 'robot', content: 5 }));
    const verdict = validateCandidate({ id: 'x', source: 's', messages });
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) {
      expect(verdict.detail.length).toBeLessThan(3000);
      expect(verdict.detail).toMatch(/and \d+ more$/);
    }
  });
});

describe('contentFingerprint', () => {
  it('tells apart conversations whose texts could be joined the same way (near miss)', () => {
    const a = contentFingerprint({
      messages: [
        { role: 'user', content: 'hi\u0001assistant\u0000there' },
        { role: 'assistant', content: 'ok' },
      ],
    });
    const b = contentFingerprint({
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'there\u0001assistant\u0000ok' },
      ],
    });
    const c = contentFingerprint({
      messages: [
        { role: 'user', content: 'hi:2:x' },
        { role: 'assistant', content: 'ok' },
      ],
    });
    const d = contentFingerprint({
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'user', content: 'x' },
        { role: 'assistant', content: 'ok' },
      ],
    });
    expect(a).not.toEqual(b);
    expect(c).not.toEqual(d);
  });
});
