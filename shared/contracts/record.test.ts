import { ConversationRecordSchema, RECORD_SCHEMA_VERSION } from './record';
import { PipelineInputSchema } from './pipeline';
import { PrepareConfigSchema } from './prepare';
import { SafetyConfigSchema } from './safety';
import { AugmentConfigSchema } from './augment';
import { TrainConfigSchema } from './fine-tune';
import { EvaluateConfigSchema } from './evaluation';
import { ReviewConfigSchema } from './review';

const base = {
  id: 'c1',
  source: 'unit',
  messages: [
    { role: 'user', content: 'hi' },
    { role: 'assistant', content: 'hello' },
  ],
};

describe('ConversationRecordSchema', () => {
  it('fills the schema version and topic', () => {
    expect(ConversationRecordSchema.parse(base)).toMatchObject({ schemaVersion: RECORD_SCHEMA_VERSION, topic: 'general' });
  });

  it.each([
    ['a future schema version', { ...base, schemaVersion: 2 }, 'schemaVersion'],
    ['an empty id', { ...base, id: '   ' }, 'id'],
    ['an id over 256 characters', { ...base, id: 'x'.repeat(257) }, 'id'],
    ['a system role spelt wrong', { ...base, messages: [{ role: 'System', content: 'x' }] }, 'messages.0.role'],
    ['content that is not text', { ...base, messages: [{ role: 'user', content: 5 }] }, 'messages.0.content'],
    ['labels that are not a list', { ...base, labels: 'crisis' }, 'labels'],
    ['metadata that is a list', { ...base, metadata: [] }, 'metadata'],
    ['a missing source', { id: 'c1', messages: base.messages }, 'source'],
  ])('rejects %s', (_label, value, field) => {
    const r = ConversationRecordSchema.safeParse(value);
    expect(r.success).toBe(false);
    if (!r.success) expect(r.error.issues.map((i) => i.path.join('.'))).toContain(field);
  });

  it.each([
    ['an id of exactly 256 characters', { ...base, id: 'x'.repeat(256) }],
    ['extra metadata of any shape', { ...base, metadata: { nested: { a: [1, 2] } } }],
    ['a group id', { ...base, groupId: 'q1' }],
  ])('accepts %s (near misses)', (_label, value) => {
    expect(ConversationRecordSchema.safeParse(value).success).toBe(true);
  });
});

describe('PipelineInputSchema', () => {
  it('runs the default pipeline from {}', () => {
    expect(PipelineInputSchema.parse({})).toEqual({
      data: PrepareConfigSchema.parse({}),
      safety: SafetyConfigSchema.parse({}),
      augment: AugmentConfigSchema.parse({}),
      // A run started by hand trains even when nothing changed; nightly schedules set skipIfUnchanged.
      train: { enabled: true, config: TrainConfigSchema.parse({}), heartbeatTimeoutSeconds: 120, skipIfUnchanged: false },
      evaluate: EvaluateConfigSchema.parse({}),
      review: ReviewConfigSchema.parse({}),
      useCache: true,
    });
  });

  it('accepts the near misses: no test split without evaluation, no val split without training, 64 Ki tokens per step', () => {
    expect(
      PipelineInputSchema.safeParse({ data: { split: { ratios: { train: 0.9, val: 0.1, test: 0 } } }, evaluate: { enabled: false } }).success,
    ).toBe(true);
    expect(PipelineInputSchema.safeParse({ data: { split: { ratios: { train: 1, val: 0, test: 0 } } }, train: { enabled: false } }).success).toBe(
      true,
    );
    expect(PipelineInputSchema.safeParse({ train: { config: { batch: 16, seq: 4096 } } }).success).toBe(true);
    const r = PipelineInputSchema.safeParse({ train: { config: { batch: 1024, seq: 32_768 } } });
    expect(r.error?.issues[0]?.message).toBe('batch x seq is 33,554,432 tokens per step; at most 65,536 (lower batch or seq)');
  });

  it('keeps the defaults of fields left out of a partial input', () => {
    const parsed = PipelineInputSchema.parse({ data: { source: { kind: 'synthetic', count: 10 } } });
    expect(parsed.data.source).toEqual({ kind: 'synthetic', count: 10, seed: 42, crisisShare: 0.1, piiShare: 0.15 });
    expect(parsed.data.split.ratios).toEqual({ train: 0.7, val: 0.15, test: 0.15 });
  });

  it.each([
    [{ data: { source: { kind: 'jsonl' } } }, 'data.source.uri'],
    [{ data: { source: { kind: 'synthetic', crisisShare: 1.5 } } }, 'data.source.crisisShare'],
    [{ data: { source: { kind: 'synthetic', count: 10, extra: 1 } } }, 'data.source'],
    [{ useCache: 'yes' }, 'useCache'],
    [{ augment: { targetCrisisShare: 0.9 } }, 'augment.targetCrisisShare'],
    [{ augment: { strategies: { paraphrase: { probability: 2 } } } }, 'augment.strategies.paraphrase.probability'],
    [{ augment: { splits: [] } }, 'augment.splits'],
    [{ augment: { strategies: { rewrite: { probability: 0.5 } } } }, 'augment.strategies'],
    // Valid alone, but what later stages need is missing: refused before anything runs.
    [{ data: { split: { ratios: { train: 0.9, val: 0.1, test: 0 } } } }, 'data.split.ratios.test'],
    [{ data: { split: { ratios: { train: 0.9, val: 0, test: 0.1 } } } }, 'data.split.ratios.val'],
    [{ train: { config: { batch: 1024, seq: 32_768 } } }, 'train.config.batch'],
  ])('names the bad field of %j', (input, field) => {
    const r = PipelineInputSchema.safeParse(input);
    expect(r.success).toBe(false);
    if (!r.success) expect(r.error.issues.map((i) => i.path.join('.'))).toContain(field);
  });
});

describe('SafetyPolicy: redaction is switched off only on purpose', () => {
  const policy = (p: Record<string, unknown>) => SafetyConfigSchema.safeParse({ policy: p });

  it('refuses redactPii: false without a reason, naming both fields', () => {
    const r = policy({ redactPii: false });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(/raw personal data.*unredactedPiiReason/);
  });

  it('accepts it with a reason of ten characters or more, and refuses a reason where nothing is unredacted (near misses)', () => {
    expect(policy({ redactPii: false, unredactedPiiReason: 'synthetic data only' }).success).toBe(true);
    expect(policy({ redactPii: false, unredactedPiiReason: 'because' }).success).toBe(false);
    expect(policy({ unredactedPiiReason: 'synthetic data only' }).success).toBe(false);
    expect(policy({}).success).toBe(true);
  });
});
