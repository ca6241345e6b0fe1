import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../../test/helpers';
import { LocalArtifactStore } from '../artifacts';
import { ConversationRecordSchema, SafetyPolicySchema, type ConversationRecord, type ShardRef } from '../contracts';
import { sha256Hex } from '../util/hash';
import { generateConversation } from '../data/synthetic/generator';
import { emptySafetyCounts, filterRecord, filterShard, summarizeSafety, tagRecords } from './filter';
import { createPiiEngine } from './pii';
import { PersonTagger } from './pii/rampart';

const engine = createPiiEngine();
const policy = SafetyPolicySchema.parse({});
const rec = (user: string, assistant: string, extra: Partial<ConversationRecord> = {}): ConversationRecord =>
  ConversationRecordSchema.parse({
    id: 'r',
    source: 't',
    messages: [
      { role: 'user', content: user },
      { role: 'assistant', content: assistant },
    ],
    ...extra,
  });

describe('filterRecord', () => {
  it('keeps and labels a crisis conversation, with the crisis language intact', () => {
    const v = filterRecord(rec("I'm going to kill myself tonight.", 'Are you safe right now? Please call 988.'), engine, policy, emptySafetyCounts());
    expect(v.rejectReasons).toEqual([]);
    expect(v.record.labels).toEqual(expect.arrayContaining(['crisis', 'crisis:suicidal_ideation', 'severity:imminent']));
    expect(v.record.messages[0]?.content).toBe("I'm going to kill myself tonight.");
    expect(v.record.metadata?.safety).toMatchObject({ crisis: { severity: 'IMMINENT', protocol: 'emergency' } });
  });

  it('measures against the source label and replaces it with its own', () => {
    const counts = emptySafetyCounts();
    const v = filterRecord(
      rec("I'm going to kill myself tonight.", 'Please call 988 now.', { labels: ['crisis:none', 'topic:x'] }),
      engine,
      policy,
      counts,
    );
    expect(v.sourceCrisis).toBe(false);
    expect(counts.vsSourceLabels).toEqual({ tp: 0, fp: 1, fn: 0, tn: 0 });
    expect(v.record.labels).not.toContain('crisis:none');
    expect(v.record.labels).toEqual(expect.arrayContaining(['topic:x', 'crisis']));
    expect(v.record.metadata?.safety).toMatchObject({ sourceCrisisLabels: ['crisis:none'] });
  });

  it('redacts PII consistently across turns and strips planted PII from metadata', () => {
    const v = filterRecord(
      rec('Email me at sam.k@example.com.', 'I will not email sam.k@example.com, let us talk here.', {
        metadata: { pii: [{ type: 'EMAIL_ADDRESS', value: 'sam.k@example.com' }] },
      }),
      engine,
      policy,
      emptySafetyCounts(),
    );
    expect(JSON.stringify(v.record)).not.toContain('sam.k@example.com');
    expect(v.record.messages.map((m) => m.content)).toEqual(['Email me at [EMAIL_1].', 'I will not email [EMAIL_1], let us talk here.']);
    expect(v.record.metadata?.plantedPiiTypes).toEqual(['EMAIL_ADDRESS']);
  });

  it.each([
    ['unauthorized medical advice', 'I feel anxious.', 'You should take 50 mg of xanax.', 'gate:medical_advice:ERROR'],
    ['a boundary violation', 'I feel alone.', "Let's meet for coffee after the session.", 'gate:boundary_violation:ERROR'],
    ['hate', 'All immigrants are criminals.', 'Tell me more.', 'bias:cultural:HIGH'],
  ])('rejects %s with the reason', (_name, user, assistant, reason) => {
    expect(filterRecord(rec(user, assistant), engine, policy, emptySafetyCounts()).rejectReasons).toContain(reason);
  });

  it('keeps a user who swears (near miss: the gate applies to the assistant)', () => {
    expect(filterRecord(rec('This is fucking hard.', 'It sounds really hard.'), engine, policy, emptySafetyCounts()).rejectReasons).toEqual([]);
  });
});

describe('filterRecord with the learned name tagger', () => {
  // scripts/setup.sh installs the tagger; without it these tests fail with the missing file's path.
  let tagger: PersonTagger;
  beforeAll(async () => {
    tagger = await PersonTagger.open();
  });
  afterAll(async () => {
    await tagger.dispose();
  });

  it('redacts a name the rules miss and leaves capitalised ordinary words alone', async () => {
    const record = rec(
      'Yesterday Tanvir Haldane yelled at me again, and I should try Mindfulness for the Anxiety.',
      'It sounds like Tanvir upset you. What have you tried so far?',
    );
    const rulesOnly = filterRecord(record, engine, policy, emptySafetyCounts());
    expect(rulesOnly.record.messages[0]?.content).toContain('Haldane');
    const [persons] = await tagRecords([record], tagger);
    const v = filterRecord(record, engine, policy, emptySafetyCounts(), undefined, persons);
    const [user, assistant] = v.record.messages.map((m) => m.content);
    expect(user).toBe('Yesterday [PERSON_1] yelled at me again, and I should try Mindfulness for the Anxiety.');
    expect(assistant).not.toContain('Tanvir');
    expect(v.record.metadata?.safety).toMatchObject({ pii: ['PERSON'] });
  });

  it('keeps a conversation with no name candidate away from the model', async () => {
    const before = tagger.stats.tagged;
    const record = rec('I could not sleep again and work feels heavy.', 'That sounds exhausting. What keeps you up?');
    const [persons] = await tagRecords([record], tagger);
    expect(tagger.stats.tagged).toBe(before);
    expect(filterRecord(record, engine, policy, emptySafetyCounts(), undefined, persons).record.messages).toEqual(record.messages);
  });
});

describe('filterShard', () => {
  it('writes kept, rejected and audit, and reuses a finished shard without counting it twice', async () => {
    const t = tempDir();
    try {
      const store = new LocalArtifactStore(t.dir);
      const records = Array.from({ length: 300 }, (_, i) =>
        ConversationRecordSchema.parse(generateConversation(i, { seed: 4, crisisShare: 0.2, piiShare: 0.5 })),
      );
      records.push(rec('hi', 'You should take 50 mg of xanax.', { id: 'bad' }));
      const text = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
      const file = path.join(t.dir, 'train-00000.jsonl');
      writeFileSync(file, text);
      const shard: ShardRef = {
        uri: `file://${file}`,
        bytes: Buffer.byteLength(text),
        sha256: sha256Hex(text),
        split: 'train',
        records: records.length,
      };
      const first = await filterShard({ store, engine, shard, policy });
      expect(first.cacheHit).toBe(false);
      expect(first.counts.records).toBe(301);
      expect(first.counts.rejected).toBeGreaterThanOrEqual(1);
      expect(first.counts.kept + first.counts.rejected).toBe(301);
      expect(first.counts.crisis).toBeGreaterThan(40);
      const kept = readFileSync(fileURLToPath(first.kept.uri), 'utf8');
      // Planted PII: measured, not assumed. Emails, cards and SSNs must all be gone.
      for (const r of records) {
        for (const p of (r.metadata?.pii as { type: string; value: string }[] | undefined) ?? []) {
          if (['EMAIL_ADDRESS', 'CREDIT_CARD', 'US_SSN', 'PHONE_NUMBER'].includes(p.type)) expect(kept).not.toContain(p.value);
        }
      }
      const audit = JSON.parse(readFileSync(fileURLToPath(first.audit.uri), 'utf8')) as { samples: string[] };
      expect(audit.samples.length).toBeGreaterThan(0);
      const second = await filterShard({ store, engine, shard, policy });
      expect(second.cacheHit).toBe(true);
      expect(second.counts).toEqual(first.counts);
      const summary = await summarizeSafety(store, 'dataset', [first]);
      expect(summary.counts.records).toBe(301);
      expect(summary.keptBySplit.train).toBe(first.counts.kept);
    } finally {
      t.cleanup();
    }
  });
});

describe('summarizeSafety fairness', () => {
  it('reports the parity gap of crisis and rejection rates across groups with enough records', async () => {
    const t = tempDir();
    try {
      const store = new LocalArtifactStore(t.dir);
      type G = { records: number; crisis: number; rejected: number; tp?: number; fp?: number; fn?: number; tn?: number };
      const counts = (byGroup: Record<string, G>) => ({
        ...emptySafetyCounts(),
        byGroup: Object.fromEntries(Object.entries(byGroup).map(([k, g]) => [k, { tp: 0, fp: 0, fn: 0, tn: 0, ...g }])),
      });
      const ref = { uri: 'file:///x', bytes: 0, sha256: '0'.repeat(64), records: 0 };
      const shard = (c: ReturnType<typeof counts>) => ({ split: 'train' as const, kept: ref, rejected: ref, audit: ref, counts: c, cacheHit: false });
      const result = await summarizeSafety(store, 'd', [
        shard(counts({ 'gender:women': { records: 30, crisis: 6, rejected: 0 }, 'age:teenagers': { records: 5, crisis: 5, rejected: 5 } })),
        shard(
          counts({
            'gender:men': { records: 40, crisis: 4, rejected: 2, tp: 18, fn: 2, fp: 1, tn: 19 },
            'gender:women': { records: 10, crisis: 2, rejected: 0, tp: 15, fn: 5, fp: 4, tn: 16 },
          }),
        ),
      ]);
      // Equalized odds: TPR men 0.9 vs women 0.75; FPR men 0.05 vs women 0.2.
      expect(result.equalizedOdds).toEqual({ tprGap: 0.15, fprGap: 0.15, groups: 2 });
      // women 8/40 = 0.2, men 4/40 = 0.1; teenagers (5 records) are too few to compare.
      expect(result.parityGap).toEqual({ crisis: 0.1, rejected: 0.05, groups: 2 });
      const report = JSON.parse(readFileSync(fileURLToPath(result.reportUri), 'utf8')) as { fairness: { representation: Record<string, number> } };
      expect(report.fairness.representation).toEqual({ 'gender:women': 40, 'age:teenagers': 5, 'gender:men': 40 });
    } finally {
      t.cleanup();
    }
  });
});
