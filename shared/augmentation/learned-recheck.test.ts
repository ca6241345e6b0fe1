import type { ConversationRecord } from '../contracts';
import { CrisisScreen } from '../safety/learned/screen';
import { emptyAugmentCounts, learnedRecheckMany } from './augment';

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
    const counts = emptyAugmentCounts();
    counts.kept = 3;
    counts.byStrategy.paraphrase!.kept = 3;
    counts.byTopic.depression = { source: 1, kept: 3 };
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
});
