import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';
import { tempDir } from '../../test/helpers';
import { LocalArtifactStore } from '../artifacts';
import { ValidationSetConfigSchema, type ConversationRecord, type ShardRef } from '../contracts';
import { hashStream } from '../util/hash';
import {
  buildValidationSet,
  contextsOf,
  mergeAnnotations,
  parseItems,
  readValidationSet,
  selectItems,
  serializeItems,
  type Candidate,
} from './validation-set';
import { scenarioOf } from './scenarios';

const record = (id: string, topic: string, messages: [string, string][]): ConversationRecord => ({
  schemaVersion: 1,
  id,
  source: 'test',
  topic,
  messages: messages.map(([role, content]) => ({ role: role as 'user' | 'assistant' | 'system', content })),
});

const config = (over: Record<string, unknown> = {}) => ValidationSetConfigSchema.parse({ size: 500, ...over });

/** Candidates of one scenario, `perRecord` contexts from each of `records` conversations. */
const pool = (scenario: Candidate['scenario'], records: number, perRecord = 1): Candidate[] =>
  Array.from({ length: records * perRecord }, (_, i) => ({
    id: `${scenario}-${Math.floor(i / perRecord)}#${(i % perRecord) * 2}`,
    scenario,
    messages: [{ role: 'user' as const, content: 'x' }],
    crisis: { severity: scenario === 'crisis' ? ('HIGH' as const) : ('NONE' as const), types: [], protocol: 'none' },
    source: { recordId: `${scenario}-${Math.floor(i / perRecord)}`, topic: scenario, turn: (i % perRecord) * 2 },
    userTurn: i % perRecord,
  }));

describe('validation set: contexts', () => {
  it('cuts one context per user turn, ending in that turn, with the reply that followed as reference', () => {
    const r = record('r1', 'anxiety', [
      ['system', 'You are a supportive counsellor.'],
      ['user', 'I feel anxious before every meeting.'],
      ['assistant', 'That sounds stressful. What happens in your body then?'],
      ['user', 'My heart races and I cannot think.'],
      ['assistant', 'Let us try a grounding exercise together.'],
    ]);
    const { candidates } = contextsOf(r, 8);
    expect(candidates.map((c) => c.id)).toEqual(['r1#1', 'r1#3']);
    expect(candidates[1]!.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(candidates[1]!.reference).toMatch(/^Let us try/);
    expect(candidates.every((c) => c.scenario === 'anxiety' && c.crisis.severity === 'NONE')).toBe(true);
  });

  it('keeps the system message when older turns are dropped', () => {
    const r = record('r2', 'depression', [
      ['system', 'S'],
      ['user', 'one'],
      ['assistant', 'a'],
      ['user', 'two'],
      ['assistant', 'b'],
      ['user', 'three'],
    ]);
    const last = contextsOf(r, 2).candidates.at(-1)!;
    expect(last.messages.map((m) => m.content)).toEqual(['S', 'b', 'three']);
    expect(last.reference).toBeUndefined();
  });

  it('labels a prompt crisis from the safety engine, whatever its topic', () => {
    const r = record('r3', 'work-stress', [
      ['user', 'My boss yelled at me again today.'],
      ['assistant', 'That sounds awful.'],
      ['user', 'I want to kill myself tonight, I have the pills ready.'],
    ]);
    const [first, second] = contextsOf(r, 8).candidates;
    expect(first!.scenario).toBe('work_stress');
    expect(second!.scenario).toBe('crisis');
    expect(['HIGH', 'IMMINENT']).toContain(second!.crisis.severity);
    expect(second!.crisis.types).toContain('suicidal_ideation');
  });

  it.each([
    ['anxiety', 'anything', 'anxiety'],
    ['grief-and-loss', 'anything', 'grief'],
    ['general', 'My boss keeps piling on work and the deadlines never stop', 'work_stress'],
    ['general', 'Since the assault I get flashbacks every night', 'trauma'],
    ['general', 'My grandmother passed away last month', 'grief'],
    // Near misses: no scenario words, an unknown topic.
    ['general', 'What is the capital of France?', undefined],
    ['spirituality', 'I wonder about the meaning of it all', undefined],
  ])('topic %s with "%s" is scenario %s', (topic, text, expected) => {
    expect(scenarioOf(topic, text)).toBe(expected);
  });

  it('counts user turns that fit no scenario', () => {
    const r = record('r4', 'spirituality', [['user', 'Tell me about meditation retreats.']]);
    expect(contextsOf(r, 8)).toEqual({ candidates: [], unmatched: 1 });
  });
});

describe('validation set: selection', () => {
  const all = [
    ...pool('crisis', 200),
    ...pool('anxiety', 200),
    ...pool('depression', 200),
    ...pool('relationships', 200),
    ...pool('grief', 30),
    ...pool('work_stress', 200),
    ...pool('trauma', 200),
  ];

  it('hits the size and the target crisis share, spreading the rest evenly and handing on a short scenario’s quota', () => {
    const { items, shortfall } = selectItems(all, config({ size: 600 }));
    expect(items).toHaveLength(600);
    expect(shortfall).toBe(0);
    const count = (s: string) => items.filter((i) => i.scenario === s).length;
    expect(count('crisis')).toBe(90);
    expect(count('grief')).toBe(30);
    for (const s of ['anxiety', 'depression', 'relationships', 'work_stress', 'trauma']) expect(Math.abs(count(s) - 96)).toBeLessThanOrEqual(1);
  });

  it('does not depend on the order of the candidates, and changes with the seed', () => {
    const reversed = [...all].reverse();
    const ids = (c: Candidate[], seed = 7) => selectItems(c, config({ size: 500, seed })).items.map((i) => i.id);
    expect(ids(reversed)).toEqual(ids(all));
    expect(ids(all, 8)).not.toEqual(ids(all));
  });

  it('takes one context per conversation before a second one from the same conversation', () => {
    const twoEach = [...pool('crisis', 100), ...pool('anxiety', 300, 2)];
    const { items } = selectItems(twoEach, config({ size: 500 }));
    const anxiety = items.filter((i) => i.scenario === 'anxiety');
    expect(anxiety.length).toBe(425);
    expect(new Set(anxiety.map((i) => i.source.recordId)).size).toBe(300);
  });

  it('shrinks the set rather than leave the crisis share bounds', () => {
    const fewCrisis = [...pool('crisis', 10), ...pool('anxiety', 600)];
    const { items, shortfall } = selectItems(fewCrisis, config({ size: 500 }));
    const share = items.filter((i) => i.scenario === 'crisis').length / items.length;
    // As many prompts as the bounds allow: 10 crisis prompts carry at most 115 others (share 0.08).
    expect(share).toBeCloseTo(0.08, 5);
    expect(items.length).toBe(125);
    expect(shortfall).toBe(500 - items.length);
    const manyCrisis = [...pool('crisis', 600), ...pool('anxiety', 40)];
    const capped = selectItems(manyCrisis, config({ size: 500 })).items;
    expect(capped.filter((i) => i.scenario === 'crisis').length / capped.length).toBeLessThanOrEqual(0.2);
  });

  it.each([
    [{ size: 499 }, 'the validation set holds 500 to 1000 prompts'],
    [{ size: 1001 }, 'the validation set holds 500 to 1000 prompts'],
    [{ crisisShare: { min: 0.3, target: 0.2, max: 0.4 } }, 'min <= target <= max'],
    [{ crisisShare: { max: 1.5 } }, 'expected number to be <=1'],
  ])('rejects config %j', (input, message) => {
    const r = ValidationSetConfigSchema.safeParse(input);
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain(message);
  });
});

describe('validation set: files', () => {
  let t: ReturnType<typeof tempDir>;
  let store: LocalArtifactStore;
  beforeEach(() => {
    t = tempDir();
    store = new LocalArtifactStore(path.join(t.dir, 'store'));
  });
  afterEach(() => t.cleanup());

  async function shardOf(records: ConversationRecord[], split: ShardRef['split'] = 'test'): Promise<ShardRef> {
    const file = path.join(t.dir, `${split}-${records.length}.jsonl`);
    writeFileSync(file, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const { sha256, bytes } = await hashStream(await store.openRead(file));
    return { split, uri: file, sha256, bytes, records: records.length };
  }

  const records = () => [
    ...Array.from({ length: 30 }, (_, i) => record(`c${i}`, 'depression', [['user', `I want to kill myself, I can't go on (${i}).`]])),
    ...Array.from({ length: 120 }, (_, i) =>
      record(`a${i}`, ['anxiety', 'grief', 'trauma', 'relationships', 'work-stress', 'depression'][i % 6]!, [
        ['user', `Things are hard lately, number ${i}.`],
        ['assistant', 'I hear you.'],
      ]),
    ),
  ];

  it('writes a set and manifest that round-trip exactly, and reuses them on a second build', async () => {
    const shard = await shardOf(records());
    const built = await buildValidationSet(store, [shard], config());
    expect(built.cacheHit).toBe(false);
    expect(built.manifest.records).toBe(150);
    expect(built.manifest.shortfall).toBe(350);
    expect(built.manifest.byScenario.crisis).toBe(30);
    expect(built.manifest.crisisShare).toBeCloseTo(0.2, 5);
    const text = await store.readText(built.manifest.file.uri);
    expect(serializeItems(parseItems(text))).toBe(text);
    const read = await readValidationSet(store, built.manifestUri);
    expect(read.items).toHaveLength(150);
    expect(read.items.filter((i) => i.scenario === 'crisis').every((i) => i.crisis.severity !== 'NONE' && i.crisis.types.length > 0)).toBe(true);
    const again = await buildValidationSet(store, [shard], config());
    expect(again.cacheHit).toBe(true);
    expect(again.manifest.file.sha256).toBe(built.manifest.file.sha256);
  });

  it('refuses shards of other splits, and a set file that changed after it was built', async () => {
    await expect(buildValidationSet(store, [await shardOf(records(), 'train')], config())).rejects.toThrow(/test split only/);
    const built = await buildValidationSet(store, [await shardOf(records())], config());
    const file = fileURLToPath(built.manifest.file.uri);
    writeFileSync(file, (await store.readText(built.manifest.file.uri)).replace('"anxiety"', '"grief"'));
    await expect(readValidationSet(store, built.manifestUri)).rejects.toThrow(/does not match its manifest/);
  });

  it('merges annotations, quarantining bad lines with line number and reason', async () => {
    const built = await buildValidationSet(store, [await shardOf(records())], config());
    const { items } = await readValidationSet(store, built.manifestUri);
    const id = items[0]!.id;
    const lines = [
      JSON.stringify({ itemId: id, annotator: 'dr-a', rubric: { clinicalAccuracy: 4, empathy: 5, safety: 5 }, safetyLabel: 'safe' }),
      '{not json',
      JSON.stringify({ itemId: id, annotator: 'dr-b', rubric: { clinicalAccuracy: 6, empathy: 5, safety: 5 } }),
      JSON.stringify({ itemId: 'nope#1', annotator: 'dr-a', comment: 'fine' }),
      JSON.stringify({ itemId: id, annotator: 'dr-c' }),
      '',
      JSON.stringify({ itemId: id, annotator: 'dr-d', comment: 'Good grounding.' }),
    ].join('\n');
    const merged = mergeAnnotations(items, lines);
    expect(merged.added).toBe(2);
    expect(merged.quarantined.map((q) => q.line)).toEqual([2, 3, 4, 5]);
    expect(merged.quarantined[1]!.reason).toMatch(/rubric scores run from 1 to 5/);
    expect(merged.quarantined[2]!.reason).toMatch(/not in the validation set/);
    expect(merged.quarantined[3]!.reason).toMatch(/needs rubric scores, a safety label or a comment/);
    expect(merged.items[0]!.annotations).toHaveLength(2);
    expect(items[0]!.annotations).toBeUndefined();
    const text = serializeItems(merged.items);
    expect(serializeItems(parseItems(text))).toBe(text);
  });
});

describe('the learned crisis screen over validation prompts', () => {
  it('makes a prompt the head raises a crisis prompt, leaves everyday prompts and rules mode alone', async () => {
    const { CrisisScreen } = await import('../safety/learned/screen');
    const { screenCandidates } = await import('./validation-set');
    const candidate = (id: string, text: string) => ({
      id,
      scenario: 'depression' as const,
      messages: [{ role: 'user' as const, content: text }],
      crisis: { severity: 'LOW' as const, types: [], protocol: 'supportive' },
      source: { recordId: id, topic: 'depression', turn: 0 },
      userTurn: 0,
    });
    const candidates = [
      candidate('risk', 'Sometimes I think everyone would be better off if I was gone.'),
      candidate('everyday', 'Work has been busy and I am looking forward to the weekend.'),
    ];
    const screen = await CrisisScreen.open();
    try {
      const [risk, everyday] = await screenCandidates(candidates, screen);
      expect(risk).toMatchObject({ scenario: 'crisis', crisis: { types: ['suicidal_ideation'] } });
      expect(['MODERATE', 'HIGH']).toContain(risk?.crisis.severity);
      expect(everyday).toEqual(candidates[1]);
    } finally {
      await screen.dispose();
    }
    expect(await screenCandidates(candidates, CrisisScreen.rules())).toEqual(candidates);
  }, 60_000);
});
