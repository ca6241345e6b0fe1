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
import { personsCombiner, sharedPersonTagger, type PersonTagger } from '../safety/pii/rampart';
import type { AugmentLexicon } from './lexicon';
import { Rng } from '../util/rng';
import { CRISIS_SEVERITY_RANK, isCrisisLabel, severityLabel, type CrisisSeverity } from '../contracts/crisis';
import { conversationShingles, jaccard } from './similarity';
import { STRATEGIES, type Variant } from './strategies';
import { isCrisisRecord } from './strategies/types';

/** Bump when the stage's output changes for the same input; part of the cache key. */
export const AUGMENT_STAGE_VERSION = '3';

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
  /** Kept copies (by id) and their changed stretches that may name someone, for the learned tagger (see `SafetyRecheck`). */
  pendingNames?: Map<string, string[]>;
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
    const { reason, crisis, mayName } = ctx.recheck.check(variant, name);
    if (reason) return discard(reason);
    if (mayName) ctx.pendingNames?.set(`${record.id}~${name}-${n}`, mayName);
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

/** What the learned name check needs: the tagger, the engine its names combine with, and the copies that wait for it. */
export interface NameRecheck {
  tagger: PersonTagger;
  engine: DetectionEngine;
  pending: Map<string, string[]>;
}

/** Moves a kept copy to the discarded counts, as `augmentRecord` would have counted it. */
function unkeep(copy: ConversationRecord, reason: DiscardReason, counts: AugmentCounts): void {
  const meta = copy.metadata as { augmentation: { strategy: string; intended?: { type: string; severity: string } } };
  const tally = counts.byStrategy[meta.augmentation.strategy];
  if (tally) {
    tally.kept -= 1;
    tally.discarded += 1;
  }
  counts.kept -= 1;
  counts.discarded += 1;
  bump(counts.discardedByReason, reason);
  const topic = counts.byTopic[copy.topic];
  if (topic) topic.kept -= 1;
  if ((copy.labels ?? []).includes('crisis')) counts.keptCrisis -= 1;
  const intended = meta.augmentation.intended;
  if (intended) {
    bump(counts.generatedByType, intended.type, -1);
    bump(counts.generatedBySeverity, intended.severity, -1);
  }
}

/**
 * The learned name check: the changed stretches of the copies that may name someone through the
 * name tagger in one batch, its names combined with the rules' as in the safety stage. A copy is
 * discarded as `pii_introduced` when a name found there has a word that appears nowhere in its
 * parent: comparing words, not counts, keeps the tagger's doubts about a name the parent already
 * had ("Okafor" sure in one sentence, unsure in its rewrite) from discarding a copy.
 */
async function recheckNames(
  items: readonly { parent: ConversationRecord; copies: readonly ConversationRecord[] }[],
  names: NameRecheck,
  counts: AugmentCounts,
): Promise<{ parent: ConversationRecord; copies: ConversationRecord[] }[]> {
  const texts = new Set<string>();
  for (const item of items) for (const copy of item.copies) for (const text of names.pending.get(copy.id) ?? []) texts.add(text);
  const list = [...texts];
  const tagged = list.length > 0 ? await names.tagger.tag(list) : [];
  const found = new Map<string, string[]>();
  list.forEach((text, i) => {
    const persons = names.engine.detect(text, personsCombiner(tagged[i])).filter((f) => f.category === 'PERSON' && f.score >= 0.5);
    found.set(
      text,
      persons.map((f) => text.slice(f.start, f.end)),
    );
  });
  return items.map((item) => {
    let parentWords: Set<string> | undefined;
    return {
      parent: item.parent,
      copies: item.copies.filter((copy) => {
        const stretches = names.pending.get(copy.id);
        names.pending.delete(copy.id);
        if (!stretches) return true;
        parentWords ??= new Set(wordsOf(item.parent.messages.map((m) => m.content).join('\n')));
        const known = parentWords;
        const introduced = stretches.some((text) => (found.get(text) ?? []).some((name) => wordsOf(name).some((w) => !known.has(w))));
        if (!introduced) return true;
        unkeep(copy, 'pii_introduced', counts);
        return false;
      }),
    };
  });
}

const wordsOf = (text: string): string[] => text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];

/**
 * The learned half of the re-check, all parents' copies in one batch. Names first (with
 * `names`): see `recheckNames`. Then every kept copy through the crisis screen: a rewrite (not
 * a generated scenario) whose crisis severity falls below what the safety stage gave its parent
 * (rules and learned head) is discarded as `crisis_weakened`; a rewrite the head raises takes
 * the raised labels (a generated scenario keeps the crisis it was written to show). Counts move
 * from kept to discarded as they would have in `augmentRecord`.
 */
export async function learnedRecheckMany(
  batch: readonly { parent: ConversationRecord; copies: readonly ConversationRecord[] }[],
  screen: CrisisScreen,
  counts: AugmentCounts,
  names?: NameRecheck,
): Promise<ConversationRecord[][]> {
  const items = names ? await recheckNames(batch, names, counts) : batch;
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
      unkeep(copy, 'crisis_weakened', counts);
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
  /** The name tagger of the learned re-check (default: the process's shared one when `config.personModel` is `learned`). */
  persons?: PersonTagger;
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
  const persons = options.persons ?? (config.personModel === 'learned' ? await sharedPersonTagger() : undefined);
  const protectedWords = new Set(options.lexicon.protectedWords.map((w) => w.toLowerCase()));
  const names: NameRecheck | undefined = persons ? { tagger: persons, engine: options.engine, pending: new Map() } : undefined;
  const ctx: AugmentContext = {
    config,
    lexicon: options.lexicon,
    protectedWords,
    recheck: names ? SafetyRecheck.withTaggedNames(options.engine, protectedWords) : new SafetyRecheck(options.engine, protectedWords),
    ...(names ? { pendingNames: names.pending } : {}),
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
        const checked = await learnedRecheckMany(batch, screen, counts, names);
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
