import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { LocalArtifactStore } from '../artifacts';
import {
  AugmentConfigSchema,
  ConversationRecordSchema,
  SafetyPolicySchema,
  type AugmentConfigInput,
  type ConversationRecord,
  type DiscardReason,
  type Message,
  type ShardRef,
} from '../contracts';
import { generateConversation } from '../data/synthetic/generator';
import { CRISIS_SEVERITY_RANK, type CrisisSeverity } from '../contracts/crisis';
import { emptySafetyCounts, filterRecord } from '../safety/filter';
import { createPiiEngine } from '../safety/pii';
import { augmentRecord, augmentShard, crisisRate, emptyAugmentCounts, type AugmentContext } from './augment';
import { SafetyRecheck, summarizeCrisis } from './check';
import { loadAugmentLexicon } from './lexicon';
import { AugmentThreadPool, augmentShardInThread } from './augment-in-thread';

const engine = createPiiEngine();
const { lexicon, sha256: lexiconSha256 } = loadAugmentLexicon();
const protectedWords = new Set(lexicon.protectedWords.map((w) => w.toLowerCase()));
const policy = SafetyPolicySchema.parse({});
let root: string;
let store: LocalArtifactStore;

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'pixel-augment-'));
  store = new LocalArtifactStore(root);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Synthetic conversations as the safety stage leaves them: redacted and labelled. */
function filtered(count: number, seed: number, prefix: string): ConversationRecord[] {
  const counts = emptySafetyCounts();
  return Array.from({ length: count }, (_, i) => {
    const record = ConversationRecordSchema.parse({ ...generateConversation(i, { seed, crisisShare: 0.1, piiShare: 0.15 }), id: `${prefix}-${i}` });
    return filterRecord(record, engine, policy, counts).record;
  });
}

async function writeShard(records: ConversationRecord[], split: ShardRef['split'], name: string): Promise<ShardRef> {
  const ref = await store.writeText(`shards/${name}.jsonl`, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return { ...ref, split, records: records.length };
}

async function readJsonl(uri: string): Promise<ConversationRecord[]> {
  const text = await store.readText(uri);
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ConversationRecord);
}

const config = (input: AugmentConfigInput = {}) => AugmentConfigSchema.parse(input);
const severityOf = (labels: readonly string[] | undefined): CrisisSeverity => {
  const s = (labels ?? []).find((l) => l.startsWith('severity:'));
  return (s ? s.slice('severity:'.length).toUpperCase() : 'NONE') as CrisisSeverity;
};

describe('augmentShard', () => {
  let train: ShardRef;
  let val: ShardRef;
  let trainRecords: ConversationRecord[];

  beforeAll(async () => {
    trainRecords = filtered(400, 7, 'train');
    train = await writeShard(trainRecords, 'train', 'train-0');
    val = await writeShard(filtered(100, 8, 'val'), 'val', 'val-0');
  });

  it('is reproducible: same shard, config and seed give byte-identical output, in a thread or not', async () => {
    const c = config({ seed: 11 });
    const inline = await augmentShard({
      store: new LocalArtifactStore(mkdtempSync(path.join(root, 'a-'))),
      engine,
      lexicon,
      lexiconSha256,
      shard: train,
      config: c,
    });
    const threaded = await augmentShardInThread({ store: { kind: 'local', root: mkdtempSync(path.join(root, 'b-')) }, shard: train, config: c });
    expect(inline.augmented?.sha256).toBe(threaded.augmented?.sha256);
    expect(inline.counts).toEqual(threaded.counts);
    const other = await augmentShard({
      store: new LocalArtifactStore(mkdtempSync(path.join(root, 'c-'))),
      engine,
      lexicon,
      lexiconSha256,
      shard: train,
      config: config({ seed: 12 }),
    });
    expect(other.augmented?.sha256).not.toBe(inline.augmented?.sha256);
  }, 60_000);

  it('hits the cache on a repeat and never counts a shard twice', async () => {
    const first = await augmentShard({ store, engine, lexicon, lexiconSha256, shard: train, config: config() });
    const again = await augmentShard({ store, engine, lexicon, lexiconSha256, shard: train, config: config() });
    expect(first.cacheHit).toBe(false);
    expect(again.cacheHit).toBe(true);
    expect(again.counts).toEqual(first.counts);
    expect(again.augmented).toEqual(first.augmented);
  });

  it('keeps copies in their parent split, with parent id, strategy, parameters and seed', async () => {
    const result = await augmentShard({ store, engine, lexicon, lexiconSha256, shard: train, config: config() });
    const copies = await readJsonl(result.augmented!.uri);
    expect(copies).toHaveLength(result.counts.kept);
    const trainIds = new Map(trainRecords.map((r) => [r.id, r]));
    for (const copy of copies) {
      const meta = copy.metadata?.augmentation as { parentId: string; strategy: string; params: unknown; seed: number };
      expect(trainIds.has(meta.parentId)).toBe(true);
      expect(copy.groupId).toBe(trainIds.get(meta.parentId)!.groupId ?? meta.parentId);
      expect(meta.seed).toBe(20_261_125);
      expect(meta.params).toBeDefined();
      expect(copy.labels).toContain('augmented');
    }
    // The val split is passed on untouched by default...
    const passed = await augmentShard({ store, engine, lexicon, lexiconSha256, shard: val, config: config() });
    expect(passed.augmented).toBeUndefined();
    expect(passed.source).toEqual(val);
    // ...and, when asked to, augments only from its own records.
    const valResult = await augmentShard({ store, engine, lexicon, lexiconSha256, shard: val, config: config({ splits: ['train', 'val'] }) });
    for (const copy of await readJsonl(valResult.augmented!.uri))
      expect((copy.metadata?.augmentation as { parentId: string }).parentId).toMatch(/^val-/);
  });

  it('never weakens a crisis: every copy of a crisis record keeps or raises its severity', async () => {
    const result = await augmentShard({
      store,
      engine,
      lexicon,
      lexiconSha256,
      shard: train,
      config: config({ strategies: { paraphrase: { probability: 1, rate: 1 } }, maxPerRecord: 4 }),
    });
    const parents = new Map(trainRecords.map((r) => [r.id, r]));
    let crisisCopies = 0;
    for (const copy of await readJsonl(result.augmented!.uri)) {
      const meta = copy.metadata?.augmentation as { parentId: string; strategy: string };
      if (meta.strategy === 'crisisScenario') continue;
      const parent = parents.get(meta.parentId)!;
      const before = summarizeCrisis(parent.messages).severity;
      if (before === 'NONE') continue;
      crisisCopies += 1;
      expect(CRISIS_SEVERITY_RANK[summarizeCrisis(copy.messages).severity]).toBeGreaterThanOrEqual(CRISIS_SEVERITY_RANK[before]);
      expect(CRISIS_SEVERITY_RANK[severityOf(copy.labels)]).toBeGreaterThanOrEqual(CRISIS_SEVERITY_RANK[before]);
    }
    expect(crisisCopies).toBeGreaterThan(10);
  });

  it('generates crisis scenarios up to the target share, labelled with type and severity', async () => {
    const result = await augmentShard({ store, engine, lexicon, lexiconSha256, shard: train, config: config({ targetCrisisShare: 0.3 }) });
    const { counts } = result;
    const share = (counts.sourceCrisis + counts.keptCrisis) / (counts.source + counts.kept);
    expect(share).toBeGreaterThan(0.26);
    expect(share).toBeLessThan(0.34);
    const generated = (await readJsonl(result.augmented!.uri)).filter((r) => r.labels?.includes('generated'));
    expect(generated.length).toBe(Object.values(counts.generatedByType).reduce((a, b) => a + b, 0));
    for (const g of generated) {
      const intended = (g.metadata?.augmentation as { intended: { type: string; severity: string } }).intended;
      expect(g.labels).toEqual(expect.arrayContaining(['crisis', `crisis:${intended.type}`, `severity:${intended.severity.toLowerCase()}`]));
    }
    const none = await augmentShard({ store, engine, lexicon, lexiconSha256, shard: train, config: config({ targetCrisisShare: 0 }) });
    expect(none.counts.byStrategy.crisisScenario?.candidates).toBe(0);
  });
});

describe('AugmentThreadPool', () => {
  it('stops a shard when cancelled and publishes nothing for it', async () => {
    const records = filtered(600, 21, 'cancel');
    const shard = await writeShard(records, 'train', 'cancel-0');
    const dir = mkdtempSync(path.join(root, 'cancel-'));
    const pool = new AugmentThreadPool(1);
    const controller = new AbortController();
    try {
      const run = pool.run({
        store: { kind: 'local', root: dir },
        shard,
        config: config({ seed: 3 }),
        signal: controller.signal,
        onProgress: () => controller.abort(new Error('run cancelled by the test')),
      });
      await expect(run).rejects.toThrow('run cancelled by the test');
      // No shard was published: nothing under augment/ has a done.json.
      const done = existsSync(path.join(dir, 'augment'))
        ? readdirSync(path.join(dir, 'augment'), { recursive: true })
            .map(String)
            .filter((f) => f.endsWith('done.json'))
        : [];
      expect(done).toEqual([]);
      // The pool's thread is still usable afterwards.
      const ok = await pool.run({ store: { kind: 'local', root: dir }, shard, config: config({ seed: 3 }) });
      expect(ok.counts.source).toBe(600);
    } finally {
      await pool.close();
    }
  }, 60_000);
});

describe('crisisRate', () => {
  it.each([
    [1000, 1000, 100, 0.15, (0.15 * 1000 - 100) / 0.85 / 1000],
    [1000, 1500, 150, 0.1, 0],
    [1000, 1000, 0, 0, 0],
    [0, 0, 0, 0.2, 0],
  ])('sources %i, records %i, crisis %i, target %f', (sources, records, crisis, target, expected) => {
    expect(crisisRate(sources, records, crisis, target)).toBeCloseTo(expected, 10);
  });
});

describe('SafetyRecheck', () => {
  const parent = ConversationRecordSchema.parse({
    id: 'p',
    source: 'test',
    messages: [
      { role: 'user', content: 'I want to kill myself. Work has been really hard.' },
      { role: 'assistant', content: 'Thank you for telling me. Are you safe right now?' },
    ],
  });
  const recheck = new SafetyRecheck(engine, protectedWords);
  beforeEach(() => recheck.reset(parent));
  const variant = (user: string, assistant = parent.messages[1]!.content): { messages: Message[]; params: Record<string, unknown> } => ({
    messages: [
      { role: 'user', content: user },
      { role: 'assistant', content: assistant },
    ],
    params: {},
  });

  it.each([
    ['crisis_weakened', variant('I want to rest. Work has been really hard.'), 'dialogueVariation'],
    ['pii_introduced', variant('I want to kill myself. Call me at (415) 555-2671, work has been hard.'), 'dialogueVariation'],
    ['bias_introduced', variant('I want to kill myself. Women are too emotional at work.'), 'dialogueVariation'],
    ['gate_introduced', variant('I want to kill myself. Work has been really hard.', 'You should stop taking your medication.'), 'dialogueVariation'],
    ['protected_text_changed', variant('I want to kill myself. Work has not been really hard.'), 'paraphrase'],
    ['kept: a synonym outside the protected text', variant('I want to kill myself. Work has been truly difficult.'), 'paraphrase'],
    ['kept: a raised severity', variant('Honestly, I want to kill myself tonight. Work has been really hard.'), 'dialogueVariation'],
  ] as [string, ReturnType<typeof variant>, string][])('%s', (expected, v, strategy) => {
    const reason: DiscardReason | undefined = recheck.check(v, strategy).reason;
    expect(reason ?? expected).toBe(expected);
  });

  it('refuses a generated scenario the safety engine does not see as the crisis it was meant to show', () => {
    const scenario = { ...variant('I had a long day at work.'), intended: { type: 'psychosis', severity: 'HIGH' as CrisisSeverity } };
    expect(recheck.check(scenario, 'crisisScenario').reason).toBe('crisis_not_recognised');
    const real = {
      ...variant('I hear voices that comment on everything I do.'),
      intended: { type: 'psychosis', severity: 'MODERATE' as CrisisSeverity },
    };
    expect(recheck.check(real, 'crisisScenario').reason).toBeUndefined();
  });
});

describe('augmentRecord', () => {
  const ctx = (input: AugmentConfigInput): AugmentContext => ({
    config: config(input),
    lexicon,
    protectedWords,
    recheck: new SafetyRecheck(engine, protectedWords),
  });
  const record = ConversationRecordSchema.parse({
    id: 'r',
    source: 'test',
    topic: 'work-stress',
    messages: [
      { role: 'user', content: 'I feel like my job is really hard right now and I am very tired.' },
      { role: 'assistant', content: 'It sounds like you are carrying a lot. Could you tell me more about your week?' },
    ],
  });

  it('counts near duplicates of the parent by strategy and reason', () => {
    const counts = emptyAugmentCounts();
    const kept = augmentRecord(
      record,
      ctx({
        strategies: {
          dialogueVariation: { probability: 1 },
          contextExpansion: { probability: 0 },
          paraphrase: { probability: 0 },
          demographic: { probability: 0 },
        },
        nearDuplicate: { threshold: 0.5, byStrategy: {} },
      }),
      counts,
    );
    expect(kept).toEqual([]);
    expect(counts.discardedByReason).toEqual({ near_duplicate_parent: 1 });
    expect(counts.byStrategy.dialogueVariation).toMatchObject({ candidates: 1, discarded: 1, kept: 0 });
  });

  it('drops crisis scenarios of one parent that repeat each other', () => {
    const counts = emptyAugmentCounts();
    const kept = augmentRecord(record, ctx({ nearDuplicate: { threshold: 0.6 } }), counts, { rate: 60, round: 0 });
    expect(counts.byStrategy.crisisScenario?.candidates).toBe(60);
    expect(counts.discardedByReason.near_duplicate_sibling).toBeGreaterThan(0);
    expect(kept.length).toBe(60 - counts.discarded);
    // What is kept is pairwise distinct.
    expect(new Set(kept.map((k) => k.messages.map((m) => m.content).join('\n'))).size).toBe(kept.length);
  });

  it('stops at maxPerRecord and gives each copy its own id', () => {
    const counts = emptyAugmentCounts();
    const all = { probability: 1 };
    const kept = augmentRecord(
      record,
      ctx({
        maxPerRecord: 2,
        strategies: { contextExpansion: all, dialogueVariation: all, paraphrase: { probability: 1, rate: 1 }, demographic: all },
      }),
      counts,
    );
    expect(kept).toHaveLength(2);
    expect(new Set(kept.map((k) => k.id)).size).toBe(2);
    expect(kept.map((k) => k.id)).toEqual(['r~contextExpansion-0', 'r~dialogueVariation-0']);
  });
});
