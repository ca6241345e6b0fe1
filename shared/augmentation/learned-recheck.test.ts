import type { ConversationRecord } from '../contracts';
import { CrisisScreen } from '../safety/learned/screen';
import { createPiiEngine } from '../safety/pii';
import { PersonTagger } from '../safety/pii/rampart';
import { emptyAugmentCounts, learnedRecheckMany } from './augment';
import { SafetyRecheck } from './check';

const RISK = 'Sometimes I think everyone would be better off if I was gone.';

function record(id: string, user: string, extra: Partial<ConversationRecord> = {}): ConversationRecord {
  return {
    schemaVersion: 1,
    id,
    source: 'test',
    topic: 'depression',
    messages: [
      { role: 'user', content: user },
      { role: 'assistant', content: 'Thank you for telling me. How long have you been feeling this way?' },
    ],
    labels: [],
    ...extra,
  };
}

const copyOf = (parentId: string, n: number, user: string, intended = false): ConversationRecord =>
  record(`${parentId}~paraphrase-${n}`, user, {
    labels: ['augmented'],
    metadata: {
      augmentation: {
        version: '2',
        parentId,
        strategy: 'paraphrase',
        params: {},
        seed: 1,
        ...(intended ? { intended: { type: 'suicidal_ideation', severity: 'HIGH' } } : {}),
      },
      safety: { crisis: { severity: 'LOW', types: ['suicidal_ideation'], confidence: 0.7, protocol: 'supportive' } },
    },
  });

/** Counts as `augmentRecord` leaves them: `kept` paraphrases kept from `sources` depression records. */
function countsWithKept(kept: number, sources: number) {
  const counts = emptyAugmentCounts();
  counts.kept = kept;
  counts.byStrategy.paraphrase!.kept = kept;
  counts.byTopic.depression = { source: sources, kept };
  return counts;
}

describe('learned re-check of augmented copies', () => {
  let screen: CrisisScreen;
  beforeAll(async () => {
    screen = await CrisisScreen.open();
  }, 60_000);
  afterAll(async () => screen?.dispose());

  it('discards a rewrite below the severity the stage gave its parent, keeps and relabels one the head still raises, never discards a generated scenario', async () => {
    // The stage raised this parent with the learned head (the rules alone rate it LOW).
    const parent = record('p1', RISK, { metadata: { safety: { crisis: { severity: 'HIGH', ruleSeverity: 'LOW' } } } });
    const copies = [
      copyOf('p1', 0, `${RISK} Honestly.`),
      copyOf('p1', 1, 'Work has been busy and I am looking forward to the weekend.'),
      copyOf('p1', 2, 'Work has been busy and I am looking forward to the weekend.', true),
    ];
    const counts = countsWithKept(3, 1);
    const [kept = []] = await learnedRecheckMany([{ parent, copies }], screen, counts);
    expect(kept.map((c) => c.id)).toEqual(['p1~paraphrase-0', 'p1~paraphrase-2']);
    expect(counts).toMatchObject({ kept: 2, discarded: 1, discardedByReason: { crisis_weakened: 1 } });
    expect(counts.byStrategy.paraphrase).toMatchObject({ kept: 2, discarded: 1 });
    expect(counts.byTopic.depression?.kept).toBe(2);
    const raised = kept[0] as ConversationRecord;
    expect(raised.labels).toEqual(expect.arrayContaining(['augmented', 'crisis', 'crisis:suicidal_ideation', 'severity:high']));
    expect(raised.labels).not.toContain('severity:low');
    expect((raised.metadata?.safety as { crisis: { severity: string; ruleSeverity: string } }).crisis).toMatchObject({
      severity: 'HIGH',
      ruleSeverity: 'LOW',
    });
  });

  it('in rules mode leaves the copies to the rules re-check', async () => {
    const parent = record('p2', RISK, { metadata: { safety: { crisis: { severity: 'HIGH' } } } });
    const copies = [copyOf('p2', 0, 'Work has been busy and I am looking forward to the weekend.')];
    const counts = emptyAugmentCounts();
    expect(await learnedRecheckMany([{ parent, copies }], CrisisScreen.rules(), counts)).toEqual([copies]);
    expect(counts.discarded).toBe(0);
  });

  describe('names', () => {
    let tagger: PersonTagger;
    beforeAll(async () => {
      tagger = await PersonTagger.open();
    }, 60_000);
    afterAll(async () => tagger?.dispose());
    const engine = createPiiEngine();
    const assistant = 'Thank you for telling me. How long have you been feeling this way?';
    const variant = (user: string) => ({
      messages: [
        { role: 'user' as const, content: user },
        { role: 'assistant' as const, content: assistant },
      ],
      params: {},
    });

    it('leaves names to the tagger: a name the rules miss is caught, an ordinary word the rules take for one is not', async () => {
      // The rules alone miss "Grace" and take "Anxiety" (after "Dear") for a name.
      const rules = new SafetyRecheck(engine, new Set());
      const learned = SafetyRecheck.withTaggedNames(engine, new Set());
      const parents = [record('n1', 'Honestly, my sister helps me a lot.'), record('n2', 'Dear worry, please leave me alone.')];
      const copies = [copyOf('n1', 0, 'Honestly, Grace helps me a lot.'), copyOf('n2', 0, 'Dear Anxiety, please leave me alone.')];
      const pending = new Map<string, string[]>();
      copies.forEach((copy, i) => {
        rules.reset(parents[i]!);
        learned.reset(parents[i]!);
        const v = variant(copy.messages[0]!.content);
        expect(rules.check(v, 'dialogueVariation').reason).toBe(i === 0 ? undefined : 'pii_introduced');
        const r = learned.check(v, 'dialogueVariation');
        expect(r.reason).toBeUndefined();
        expect(r.mayName).toEqual([copy.messages[0]!.content]);
        pending.set(copy.id, r.mayName!);
      });
      const counts = countsWithKept(2, 2);
      const out = await learnedRecheckMany(
        parents.map((parent, i) => ({ parent, copies: [copies[i]!] })),
        CrisisScreen.rules(),
        counts,
        { tagger, engine, pending },
      );
      expect(out.map((kept) => kept.map((c) => c.id))).toEqual([[], ['n2~paraphrase-0']]);
      expect(counts).toMatchObject({ kept: 1, discarded: 1, discardedByReason: { pii_introduced: 1 } });
      expect(counts.byStrategy.paraphrase).toMatchObject({ kept: 1, discarded: 1 });
      expect(counts.byTopic.depression?.kept).toBe(1);
      expect(pending.size).toBe(0);
    });

    it('keeps a copy that names only whom its parent named, whatever the tagger made of the rewrite; discards one that adds a name', async () => {
      const learned = SafetyRecheck.withTaggedNames(engine, new Set());
      const parent = record('n3', 'I told Okafor about it yesterday.');
      learned.reset(parent);
      const copies = [copyOf('n3', 0, 'I told Okafor about it last night.'), copyOf('n3', 1, 'I told Okafor and Grace about it yesterday.')];
      const pending = new Map<string, string[]>();
      for (const copy of copies) {
        const r = learned.check(variant(copy.messages[0]!.content), 'dialogueVariation');
        expect(r.reason).toBeUndefined();
        pending.set(copy.id, r.mayName ?? []);
      }
      const counts = countsWithKept(2, 1);
      const [kept = []] = await learnedRecheckMany([{ parent, copies }], CrisisScreen.rules(), counts, { tagger, engine, pending });
      expect(kept.map((c) => c.id)).toEqual(['n3~paraphrase-0']);
      expect(counts).toMatchObject({ kept: 1, discarded: 1, discardedByReason: { pii_introduced: 1 } });
    });
  });
});
