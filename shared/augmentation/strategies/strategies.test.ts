import { AugmentConfigSchema, ConversationRecordSchema, type ConversationRecord, type ConversationRecordInput } from '../../contracts';
import { assessCrisis } from '../../safety/crisis/assess';
import { loadAugmentLexicon } from '../lexicon';
import { Rng } from '../../util/rng';
import { STRATEGIES, type StrategyContext } from '.';

const { lexicon } = loadAugmentLexicon();
const protectedWords = new Set(lexicon.protectedWords.map((w) => w.toLowerCase()));
const config = AugmentConfigSchema.parse({ strategies: { paraphrase: { rate: 1 } } });
const ctx = (seed: number): StrategyContext => ({ rng: new Rng(seed), lexicon, protectedWords, config });
const record = (messages: [string, string][], extra: Partial<ConversationRecordInput> = {}): ConversationRecord =>
  ConversationRecordSchema.parse({
    id: 'r1',
    source: 'test',
    topic: 'work-stress',
    messages: messages.map(([role, content]) => ({ role, content })),
    ...extra,
  });
const SEEDS = Array.from({ length: 40 }, (_, i) => i + 1);

describe('paraphrase', () => {
  const parent = record([
    ['user', 'I would never hurt myself, but I am really tired after 3 weeks and [PERSON_1] is worried about my job.'],
    ['assistant', 'It sounds like a really hard situation. What would help you feel a little calm today?'],
  ]);

  it.each(SEEDS)('keeps crisis language, negations, numbers and placeholders exactly (seed %i)', (seed) => {
    const v = STRATEGIES.paraphrase(parent, ctx(seed));
    expect(v).toBeDefined();
    const user = v!.messages[0]!.content;
    for (const kept of ['never hurt myself', '3 weeks', '[PERSON_1]', 'I would never']) expect(user).toContain(kept);
    expect(v!.messages.map((m) => m.content)).not.toEqual(parent.messages.map((m) => m.content));
  });

  it('has nothing to do without a replaceable word (near miss)', () => {
    expect(
      STRATEGIES.paraphrase(
        record([
          ['user', 'I cannot sleep.'],
          ['assistant', 'Tell me more.'],
        ]),
        ctx(1),
      ),
    ).toBeUndefined();
  });

  it('never touches the words of a crisis phrase', () => {
    const crisis = record([['user', 'I really want to kill myself tonight and I feel very tired.']]);
    for (const seed of SEEDS) {
      const v = STRATEGIES.paraphrase(crisis, ctx(seed))!;
      expect(v.messages[0]!.content).toContain('want to kill myself tonight');
      expect(assessCrisis(v.messages[0]!.content).severity).toBe(assessCrisis(crisis.messages[0]!.content).severity);
    }
  });
});

describe('dialogueVariation', () => {
  const parent = record([
    ['user', 'I feel like work is too much right now.'],
    ['assistant', 'It sounds like you are carrying a lot. Could you tell me more about your week?'],
  ]);

  it.each(SEEDS.slice(0, 20))('keeps each therapist technique while rewording it (seed %i)', (seed) => {
    const v = STRATEGIES.dialogueVariation(parent, ctx(seed));
    if (!v) return;
    const assistant = v.messages[1]!.content;
    const reflection = lexicon.techniques.reflection.openers.some((o) => assistant.startsWith(o));
    const question = lexicon.techniques.openQuestion.openers.some((o) => assistant.includes(`. ${o}`));
    expect(reflection).toBe(true);
    expect(question).toBe(true);
    for (const t of v.params.techniques as string[]) expect(['reflection', 'openQuestion']).toContain(t);
  });

  it('never swaps a phrase inside crisis language or a negation (near miss)', () => {
    const crisis = record([['user', "I'm not sure I want to live. I feel like I can't go on."]]);
    for (const seed of SEEDS) {
      const v = STRATEGIES.dialogueVariation(crisis, ctx(seed));
      if (!v) continue;
      expect(v.messages[0]!.content).toContain('not sure I want to live');
      expect(v.messages[0]!.content).toContain("can't go on");
    }
  });
});

describe('contextExpansion', () => {
  it('adds a system turn naming setting, concern, emotion and goal', () => {
    const v = STRATEGIES.contextExpansion(record([['user', 'I am so stressed and exhausted by work.']]), ctx(3))!;
    expect(v.messages[0]!.role).toBe('system');
    expect(v.messages[0]!.content).toMatch(/^Context: .+ The person is dealing with .+ They seem overwhelmed\. Goal: help them /);
    expect(v.messages.slice(1)).toEqual([{ role: 'user', content: 'I am so stressed and exhausted by work.' }]);
  });

  it('extends an existing system turn instead of adding a second one, and puts safety first for crisis', () => {
    const parent = record(
      [
        ['system', 'You are kind.'],
        ['user', 'I want to die.'],
      ],
      { labels: ['crisis'] },
    );
    const v = STRATEGIES.contextExpansion(parent, ctx(4))!;
    expect(v.messages.filter((m) => m.role === 'system')).toHaveLength(1);
    expect(v.messages[0]!.content).toMatch(/^You are kind\.\n\nContext: .*Goal: Safety comes first/s);
  });
});

describe('demographic', () => {
  const parent = record([['user', 'My husband says he is proud of his job, and he works as a teacher. We argue a lot around Christmas.']]);

  it('swaps gender consistently and keeps names as placeholders', () => {
    const swapped = SEEDS.map((seed) => STRATEGIES.demographic(parent, ctx(seed))).find((v) =>
      (v?.params.swaps as { kind: string }[]).some((s) => s.kind === 'gender'),
    );
    expect(swapped).toBeDefined();
    const text = swapped!.messages[0]!.content;
    expect(text).toMatch(/^My wife says she is proud of her job, and she works as an? /);
    expect(text).not.toMatch(/\b(?:he|his|husband)\b/);
  });

  it('draws values across the lists and never creates a listed stereotyped pairing', () => {
    const banned = new Set(lexicon.demographic.stereotypedPairings.filter((p) => p.gender === 'female').flatMap((p) => p.occupations));
    const seen = new Set<string>();
    for (let seed = 1; seed <= 300; seed++) {
      const v = STRATEGIES.demographic(parent, ctx(seed));
      if (!v) continue;
      const swaps = v.params.swaps as { kind: string; to: string }[];
      const occupation = swaps.find((s) => s.kind === 'occupation')?.to;
      if (occupation) seen.add(occupation);
      if (occupation && swaps.some((s) => s.kind === 'gender')) expect(banned.has(occupation)).toBe(false);
    }
    expect(seen.size).toBeGreaterThan(lexicon.demographic.occupations.length / 2);
  });

  it('has nothing to vary in a text without demographic words (near miss)', () => {
    expect(STRATEGIES.demographic(record([['user', 'Work is busy and I feel tense.']]), ctx(1))).toBeUndefined();
  });
});

describe('crisisScenario', () => {
  it('writes a labelled crisis disclosure and a reply that follows the crisis protocol', () => {
    const kinds = new Set<string>();
    for (let i = 0; i < 400; i++) {
      const parent = record([['user', 'Work has been really stressful this month. I barely sleep.']], { id: `p${i}` });
      const v = STRATEGIES.crisisScenario(parent, ctx(i))!;
      kinds.add(`${v.intended!.type}:${v.intended!.severity}`);
      const [system, user, assistant] = v.messages;
      expect(system!.role).toBe('system');
      expect(user!.content.startsWith('Work has been really stressful this month.')).toBe(true);
      expect(assistant!.content).toMatch(/988/);
      if (v.intended!.severity === 'IMMINENT') expect(assistant!.content).toMatch(/911|emergency/);
    }
    // Balanced: the 28 type x severity pairs all come up.
    expect(kinds.size).toBe(28);
  });
});
