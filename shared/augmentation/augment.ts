import {
  AUGMENT_STRATEGIES,
  ConversationRecordSchema,
  type AugmentConfig,
  type AugmentCounts,
  type AugmentShardResult,
  type AugmentStrategyName,
  type ConversationRecord,
  type DiscardReason,
  type ShardRef,
} from '../contracts';
import type { ArtifactStore } from '../artifacts';
import { throwIfAborted } from '../util/abort';
import { canonicalJson, sha256Hex } from '../util/hash';
import { readLines } from '../util/lines';
import { SAFETY_STAGE_VERSION, screenRecords } from '../safety/filter';
import { roundProbability, sharedCrisisScreen, type CrisisScreen } from '../safety/learned/screen';
import { PROTOCOLS } from '../safety/crisis/assess';
import type { DetectionEngine } from '../safety/engine';
import { SafetyRecheck, type CrisisSummary } from './check';
import type { AugmentLexicon } from './lexicon';
import { Rng } from '../util/rng';
import { CRISIS_SEVERITY_RANK, isCrisisLabel, severityLabel, type CrisisSeverity } from '../contracts/crisis';
import { conversationShingles, jaccard } from './similarity';
import { STRATEGIES, type Variant } from './strategies';
import { isCrisisRecord } from './strategies/types';

/** Bump when the stage's output changes for the same input; part of the cache key. */
export const AUGMENT_STAGE_VERSION = '2';

const REGULAR: readonly AugmentStrategyName[] = AUGMENT_STRATEGIES.filter((s) => s !== 'crisisScenario');

export function emptyAugmentCounts(): AugmentCounts {
  return {
    source: 0,
    sourceCrisis: 0,
    candidates: 0,
    kept: 0,
    discarded: 0,
    discardedByReason: {},
    byStrategy: Object.fromEntries(AUGMENT_STRATEGIES.map((s) => [s, { candidates: 0, kept: 0, discarded: 0, notApplicable: 0 }])),
    byTopic: {},
    generatedByType: {},
    generatedBySeverity: {},
    keptCrisis: 0,
  };
}

const bump = (m: Record<string, number>, k: string, n = 1) => {
  m[k] = (m[k] ?? 0) + n;
};

export function addAugmentCounts(into: AugmentCounts, from: AugmentCounts): AugmentCounts {
  for (const k of ['source', 'sourceCrisis', 'candidates', 'kept', 'discarded', 'keptCrisis'] as const) into[k] += from[k];
  for (const k of ['discardedByReason', 'generatedByType', 'generatedBySeverity'] as const)
    for (const [key, n] of Object.entries(from[k])) bump(into[k], key, n);
  for (const [s, t] of Object.entries(from.byStrategy)) {
    const x = (into.byStrategy[s] ??= { candidates: 0, kept: 0, discarded: 0, notApplicable: 0 });
    x.candidates += t.candidates;
    x.kept += t.kept;
    x.discarded += t.discarded;
    x.notApplicable += t.notApplicable;
  }
  for (const [topic, t] of Object.entries(from.byTopic)) {
    const x = (into.byTopic[topic] ??= { source: 0, kept: 0 });
    x.source += t.source;
    x.kept += t.kept;
  }
  return into;
}

/**
 * How many crisis scenarios each source record should yield, on average, for the split to reach
 * `target` crisis share: with `records` records so far (sources and their copies), `crisis` of
 * them crisis, g = (target * records - crisis) / (1 - target) scenarios spread over `sources`.
 */
export function crisisRate(sources: number, records: number, crisis: number, target: number): number {
  if (sources === 0 || target <= 0) return 0;
  const needed = (target * records - crisis) / (1 - target);
  return Math.max(0, needed / sources);
}

export interface AugmentContext {
  config: AugmentConfig;
  lexicon: AugmentLexicon;
  protectedWords: ReadonlySet<string>;
  recheck: SafetyRecheck;
}

function labelsFor(parent: ConversationRecord, crisis: CrisisSummary, variant: Variant): string[] {
  const labels = new Set((parent.labels ?? []).filter((l) => !isCrisisLabel(l)));
  labels.add('augmented');
  if (variant.intended) {
    labels.add('generated');
    labels.add('crisis');
    labels.add(`crisis:${variant.intended.type}`);
    labels.add(severityLabel(variant.intended.severity));
  } else if (crisis.severity !== 'NONE') {
    labels.add('crisis');
    labels.add(severityLabel(crisis.severity));
    for (const t of crisis.types) labels.add(`crisis:${t}`);
  }
  return [...labels];
}

/**
 * Augments one record. Without `crisis` (the first pass over a shard): each regular strategy,
 * in order, fires with its probability (drawn from the record's own seeded stream) until
 * `maxPerRecord` copies are kept. With it (later passes): crisis scenarios only, the whole part
 * of the rate for sure and the fraction by chance. Every candidate goes through the
 * near-duplicate check and the safety re-check; refused ones are counted by reason. Pure: same
 * record, same context, same result.
 */
export function augmentRecord(
  record: ConversationRecord,
  ctx: AugmentContext,
  counts: AugmentCounts,
  crisis?: { rate: number; round: number },
): ConversationRecord[] {
  const { config } = ctx;
  const topic = (counts.byTopic[record.topic] ??= { source: 0, kept: 0 });
  if (crisis === undefined) {
    counts.source += 1;
    if (isCrisisRecord(record)) counts.sourceCrisis += 1;
    topic.source += 1;
  }
  ctx.recheck.reset(record);
  const parentText = record.messages.map((m) => m.content).join('\n');
  let parentShingles: Set<number> | undefined;
  const kept: ConversationRecord[] = [];
  const keptShingles: Set<number>[] = [];

  const attempt = (name: AugmentStrategyName, n: number): void => {
    const tally = counts.byStrategy[name] as AugmentCounts['byStrategy'][string];
    const rng = Rng.for(config.seed, record.id, name, String(n));
    const variant = STRATEGIES[name](record, { rng, lexicon: ctx.lexicon, protectedWords: ctx.protectedWords, config });
    if (!variant) {
      tally.notApplicable += 1;
      return;
    }
    tally.candidates += 1;
    counts.candidates += 1;
    const discard = (reason: DiscardReason) => {
      tally.discarded += 1;
      counts.discarded += 1;
      bump(counts.discardedByReason, reason);
    };
    const text = variant.messages.map((m) => m.content).join('\n');
    if (text === parentText && variant.messages.length === record.messages.length) return discard('unchanged');
    const own = conversationShingles(variant.messages, config.nearDuplicate.shingle);
    const threshold = config.nearDuplicate.byStrategy[name as keyof AugmentConfig['nearDuplicate']['byStrategy']] ?? config.nearDuplicate.threshold;
    // A generated scenario is new text, not a rewrite of its parent; two scenarios of one parent
    // can still repeat each other.
    if (!variant.intended) {
      parentShingles ??= conversationShingles(record.messages, config.nearDuplicate.shingle);
      if (jaccard(own, parentShingles) >= threshold) return discard('near_duplicate_parent');
    }
    if (keptShingles.some((s) => jaccard(own, s) >= threshold)) return discard('near_duplicate_sibling');
    const { reason, crisis } = ctx.recheck.check(variant, name);
    if (reason) return discard(reason);
    tally.kept += 1;
    counts.kept += 1;
    topic.kept += 1;
    if (variant.intended) {
      bump(counts.generatedByType, variant.intended.type);
      bump(counts.generatedBySeverity, variant.intended.severity);
    }
    const labels = labelsFor(record, crisis, variant);
    if (labels.includes('crisis')) counts.keptCrisis += 1;
    const parentSafety = (record.metadata?.safety ?? {}) as Record<string, unknown>;
    kept.push({
      schemaVersion: record.schemaVersion,
      id: `${record.id}~${name}-${n}`,
      // Copies stay in their parent's group, so no split can hold a copy of another split's record.
      groupId: record.groupId ?? record.id,
      messages: variant.messages,
      source: record.source,
      topic: record.topic,
      labels,
      metadata: {
        augmentation: {
          version: AUGMENT_STAGE_VERSION,
          parentId: record.id,
          strategy: name,
          params: variant.params,
          seed: config.seed,
          ...(variant.intended ? { intended: variant.intended } : {}),
        },
        safety: {
          ...parentSafety,
          crisis: { severity: crisis.severity, types: crisis.types, confidence: crisis.confidence, protocol: crisis.protocol },
          recheckedBy: 'augment',
        },
      },
    });
    keptShingles.push(own);
  };

  if (crisis === undefined) {
    for (const name of REGULAR) {
      if (kept.length >= config.maxPerRecord) break;
      const p = config.strategies[name as keyof AugmentConfig['strategies']].probability;
      if (Rng.for(config.seed, record.id, name, 'fires').chance(p)) attempt(name, 0);
    }
  } else {
    const whole = Math.floor(crisis.rate);
    const scenarios = whole + (Rng.for(config.seed, record.id, 'crisisScenario', 'fires', String(crisis.round)).chance(crisis.rate - whole) ? 1 : 0);
    for (let n = 0; n < scenarios; n++) attempt('crisisScenario', crisis.round * 100 + n);
  }
  return kept;
}

/**
 * The learned half of the re-check: every kept copy of each parent through the crisis screen,
 * all parents' copies in one batch. A rewrite (not a generated scenario) whose crisis severity
 * falls below what the safety stage gave its parent (rules and learned head) is discarded as
 * `crisis_weakened`; a rewrite the head raises takes the raised labels (a generated scenario
 * keeps the crisis it was written to show). Counts move from kept to discarded as they would
 * have in `augmentRecord`.
 */
export async function learnedRecheckMany(
  items: readonly { parent: ConversationRecord; copies: readonly ConversationRecord[] }[],
  screen: CrisisScreen,
  counts: AugmentCounts,
): Promise<ConversationRecord[][]> {
  if (screen.mode !== 'learned') return items.map((i) => [...i.copies]);
  const all = items.flatMap((item) => item.copies);
  const verdicts = all.length > 0 ? await screenRecords(all, screen) : [];
  let at = 0;
  return items.map((item) => {
    const out = learnedVerdicts(item.parent, item.copies, verdicts.slice(at, at + item.copies.length), counts);
    at += item.copies.length;
    return out;
  });
}

function learnedVerdicts(
  parent: ConversationRecord,
  copies: readonly ConversationRecord[],
  verdicts: Awaited<ReturnType<typeof screenRecords>>,
  counts: AugmentCounts,
): ConversationRecord[] {
  const stage = (parent.metadata?.safety as { crisis?: { severity?: string } } | undefined)?.crisis?.severity;
  const floor: CrisisSeverity = stage && stage in CRISIS_SEVERITY_RANK ? (stage as CrisisSeverity) : 'NONE';
  const out: ConversationRecord[] = [];
  copies.forEach((copy, i) => {
    const unit = (verdicts[i] as (typeof verdicts)[number]).unit;
    const meta = copy.metadata as { augmentation: { strategy: string; intended?: unknown }; safety: Record<string, unknown> };
    const wasCrisis = (copy.labels ?? []).includes('crisis');
    if (!meta.augmentation.intended && CRISIS_SEVERITY_RANK[unit.severity] < CRISIS_SEVERITY_RANK[floor]) {
      const tally = counts.byStrategy[meta.augmentation.strategy];
      if (tally) {
        tally.kept -= 1;
        tally.discarded += 1;
      }
      counts.kept -= 1;
      counts.discarded += 1;
      counts.discardedByReason.crisis_weakened = (counts.discardedByReason.crisis_weakened ?? 0) + 1;
      const topic = counts.byTopic[copy.topic];
      if (topic) topic.kept -= 1;
      if (wasCrisis) counts.keptCrisis -= 1;
      return;
    }
    // A generated scenario keeps the crisis it was written to show; only rewrites take the head's labels.
    if (!unit.raisedByModel || meta.augmentation.intended) {
      out.push(copy);
      return;
    }
    const labels = new Set((copy.labels ?? []).filter((l) => !l.startsWith('severity:')));
    labels.add('crisis');
    labels.add('crisis:suicidal_ideation');
    labels.add(severityLabel(unit.severity));
    if (!wasCrisis) counts.keptCrisis += 1;
    const previous = (meta.safety.crisis ?? {}) as { types?: string[] };
    out.push({
      ...copy,
      labels: [...labels],
      metadata: {
        ...copy.metadata,
        safety: {
          ...meta.safety,
          crisis: {
            severity: unit.severity,
            types: [...new Set([...(previous.types ?? []), 'suicidal_ideation'])].sort(),
            confidence: roundProbability(unit.probability ?? 0),
            protocol: PROTOCOLS[unit.severity].name,
            rung: unit.rung,
            ruleSeverity: unit.ruleSeverity,
          },
        },
      },
    });
  });
  return out;
}

/** Where a shard's augmentation lives: the shard, the config (minus concurrency), the lexicon and both stage versions. */
export function augmentKey(shard: ShardRef, config: AugmentConfig, lexiconSha256: string): string {
  const { concurrency: _concurrency, ...rest } = config;
  return `augment/${sha256Hex(canonicalJson({ v: AUGMENT_STAGE_VERSION, safety: SAFETY_STAGE_VERSION, shard: shard.sha256, config: rest, lexicon: lexiconSha256 })).slice(0, 32)}`;
}

/**
 * A record of a safety-filtered shard. The safety stage validated and wrote it, so only its
 * shape is checked here (the full schema costs more than the rest of reading); a record that
 * does not have that shape fails the shard loudly.
 */
function parseFilteredRecord(raw: string, line: number): ConversationRecord {
  const value = JSON.parse(raw) as Partial<ConversationRecord> | null;
  const ok =
    value !== null &&
    typeof value === 'object' &&
    typeof value.id === 'string' &&
    typeof value.source === 'string' &&
    typeof value.topic === 'string' &&
    Array.isArray(value.messages) &&
    value.messages.length > 0 &&
    value.messages.every(
      (m) =>
        m !== null && typeof m === 'object' && typeof m.content === 'string' && (m.role === 'user' || m.role === 'assistant' || m.role === 'system'),
    );
  if (!ok) return ConversationRecordSchema.parse(value, { error: () => `line ${line} of the filtered shard is not a conversation record` });
  return value as ConversationRecord;
}

export interface AugmentShardOptions {
  store: ArtifactStore;
  engine: DetectionEngine;
  lexicon: AugmentLexicon;
  lexiconSha256: string;
  shard: ShardRef;
  config: AugmentConfig;
  /** The crisis screen of the learned re-check (default: the process's shared one for `config.crisisModel`). */
  screen?: CrisisScreen;
  onProgress?: (done: number) => void;
  signal?: AbortSignal;
}

/**
 * Augments one safety-filtered shard: writes the kept copies (only the copies; the source shard
 * is passed on by reference) and a summary written last, so a repeated or retried run with the
 * same inputs reuses the finished shard and never counts it twice. Splits that are not
 * augmented pass straight through.
 */
export async function augmentShard(options: AugmentShardOptions): Promise<AugmentShardResult> {
  const { store, shard, config } = options;
  const counts = emptyAugmentCounts();
  // Not augmented: passed on by reference; its records count in the split totals, not as augmentation sources.
  if (!config.enabled || !config.splits.includes(shard.split)) return { split: shard.split, source: shard, counts, cacheHit: false };
  const key = augmentKey(shard, config, options.lexiconSha256);
  const doneUri = store.uriFor(`${key}/done.json`);
  if (await store.exists(doneUri)) {
    const previous = JSON.parse(await store.readText(doneUri)) as Omit<AugmentShardResult, 'cacheHit'>;
    return { ...previous, cacheHit: true };
  }
  const screen = options.screen ?? (await sharedCrisisScreen(config.crisisModel));
  const protectedWords = new Set(options.lexicon.protectedWords.map((w) => w.toLowerCase()));
  const ctx: AugmentContext = {
    config,
    lexicon: options.lexicon,
    protectedWords,
    recheck: new SafetyRecheck(options.engine, protectedWords),
  };
  const out = store.openWrite(`${key}/augmented-${shard.split}.jsonl`);
  try {
    // The regular strategies first; then crisis scenarios, as many as the split (sources and
    // kept copies) needs to reach the target share, topped up in up to two more rounds for the
    // scenarios the re-check refused.
    const pass = async (crisis?: { rate: number; round: number }) => {
      let done = 0;
      // Copies wait in a batch for the learned re-check (one encoder call per batch); written in order.
      let batch: { parent: ConversationRecord; copies: ConversationRecord[] }[] = [];
      const flush = async () => {
        const checked = await learnedRecheckMany(batch, screen, counts);
        const lines = checked.flat().map((c) => JSON.stringify(c));
        if (lines.length > 0) await out.write(`${lines.join('\n')}\n`);
        batch = [];
      };
      for await (const item of readLines(await store.openRead(shard.uri), 64 * 1024 * 1024, { blankLines: 0 })) {
        if (item.kind !== 'text') continue;
        const record = parseFilteredRecord(item.raw, item.line);
        batch.push({ parent: record, copies: augmentRecord(record, ctx, counts, crisis) });
        done += 1;
        if (done % 256 === 0) {
          await flush();
          options.onProgress?.(done);
          throwIfAborted(options.signal, 'augmentation cancelled');
        }
      }
      await flush();
    };
    await pass();
    for (let round = 0; round < 3; round++) {
      const rate = crisisRate(counts.source, counts.source + counts.kept, counts.sourceCrisis + counts.keptCrisis, config.targetCrisisShare);
      if (rate * counts.source < 1) break;
      await pass({ rate, round });
    }
    const ref = await out.close();
    const result = { split: shard.split, source: shard, augmented: { ...ref, records: counts.kept }, counts };
    await store.writeText(`${key}/done.json`, `${JSON.stringify(result, null, 2)}\n`);
    return { ...result, cacheHit: false };
  } catch (err) {
    await out.abort();
    throw err;
  }
}
