import type { ArtifactStore } from '../artifacts';
import {
  ConversationRecordSchema,
  SafetyResultSchema,
  type ConversationRecord,
  type SafetyCounts,
  type SafetyPolicy,
  type SafetyResult,
  type SafetyShardResult,
  type ShardRef,
} from '../contracts';
import { throwIfAborted } from '../util/abort';
import { canonicalJson, sha256Hex } from '../util/hash';
import { prf } from './evaluate';
import { readLines } from '../util/lines';
import { MITIGATIONS, detectBias, groupsMentioned, type AlertLevel, type BiasType } from './bias/bias';
import { parityFromTallies } from './bias/fairness';
import { assessCrisis, PROTOCOLS, type CrisisAssessment } from './crisis/assess';
import { screenFields, sharedCrisisScreen, type CrisisScreen, type UnitCrisis } from './learned/screen';
import { CRISIS_SEVERITY_RANK, isCrisisLabel, severityLabel, type CrisisSeverity } from '../contracts/crisis';
import type { DetectionEngine } from './engine';
import { GATE_RANK, checkGates } from './gates';
import { Redactor } from './redact';
import { personsCombiner, sharedPersonTagger, type PersonTagger, type TaggedPersons } from './pii/rampart';

/** Bump when the stage's output changes for the same input; part of the cache key. */
export const SAFETY_STAGE_VERSION = '5';

const BIAS_RANK: Record<AlertLevel, number> = { LOW: 1, MEDIUM: 2, HIGH: 3, CRITICAL: 4 };

export function emptySafetyCounts(): SafetyCounts {
  return {
    records: 0,
    kept: 0,
    rejected: 0,
    crisis: 0,
    piiRedacted: 0,
    byCrisisSeverity: {},
    byCrisisType: {},
    byPiiCategory: {},
    byBiasType: {},
    byGate: {},
    byRejectReason: {},
    byGroup: {},
    vsSourceLabels: { tp: 0, fp: 0, fn: 0, tn: 0 },
  };
}

const bump = (m: Record<string, number>, k: string, n = 1) => {
  m[k] = (m[k] ?? 0) + n;
};

export function addCounts(into: SafetyCounts, from: SafetyCounts): SafetyCounts {
  for (const k of ['records', 'kept', 'rejected', 'crisis', 'piiRedacted'] as const) into[k] += from[k];
  for (const k of ['byCrisisSeverity', 'byCrisisType', 'byPiiCategory', 'byBiasType', 'byGate', 'byRejectReason'] as const) {
    for (const [key, n] of Object.entries(from[k])) bump(into[k], key, n);
  }
  for (const [group, g] of Object.entries(from.byGroup)) {
    const t = (into.byGroup[group] ??= { records: 0, crisis: 0, rejected: 0, tp: 0, fp: 0, fn: 0, tn: 0 });
    for (const k of ['records', 'crisis', 'rejected', 'tp', 'fp', 'fn', 'tn'] as const) t[k] += g[k];
  }
  for (const k of ['tp', 'fp', 'fn', 'tn'] as const) into.vsSourceLabels[k] += from.vsSourceLabels[k];
  return into;
}

export interface RecordVerdict {
  record: ConversationRecord;
  /** What the source said (`crisis` or `crisis:none` label), if it said anything. */
  sourceCrisis: boolean | undefined;
  rejectReasons: string[];
  crisisSeverity: CrisisSeverity;
  explanations: string[];
}

/** The rules' crisis assessment of each user turn (undefined for other turns). */
export function userAssessments(record: ConversationRecord): (CrisisAssessment | undefined)[] {
  return record.messages.map((m) => (m.role === 'user' ? assessCrisis(m.content) : undefined));
}

/**
 * The crisis verdicts of records (their user turns as one unit) from a screen: the rules per
 * turn, and the learned head on the records its first pass lets through, in one batch.
 */
export async function screenRecords(
  records: readonly ConversationRecord[],
  screen: CrisisScreen,
): Promise<{ assessments: (CrisisAssessment | undefined)[]; unit: UnitCrisis }[]> {
  const assessed = records.map(userAssessments);
  const units = records.map((r, i) => {
    const users = r.messages.flatMap((m, j) => (m.role === 'user' ? [{ text: m.content, a: assessed[i]![j] as CrisisAssessment }] : []));
    return { texts: users.map((u) => u.text), assessments: users.map((u) => u.a) };
  });
  const verdicts = await screen.assess(units);
  return assessed.map((assessments, i) => ({ assessments, unit: verdicts[i] as UnitCrisis }));
}

/** The name tagger's answer for every message of each record, in one batch (its cascade skips most sentences). */
export async function tagRecords(records: readonly ConversationRecord[], tagger: PersonTagger): Promise<TaggedPersons[][]> {
  const tagged = await tagger.tag(records.flatMap((r) => r.messages.map((m) => m.content)));
  let at = 0;
  return records.map((r) => r.messages.map(() => tagged[at++] as TaggedPersons));
}

/**
 * Runs every safety check on one conversation and returns it redacted and labelled, with the
 * reasons it would be rejected (if any). Crisis conversations are labelled, never rejected for
 * being about crisis: the model must learn to answer them well.
 */
export function filterRecord(
  input: ConversationRecord,
  engine: DetectionEngine,
  policy: SafetyPolicy,
  counts: SafetyCounts,
  crisisOf?: { assessments: (CrisisAssessment | undefined)[]; unit: UnitCrisis },
  /** The name tagger's answer for each message (see `tagRecords`); without it the rules alone find names. */
  personsOf?: readonly (TaggedPersons | undefined)[],
): RecordVerdict {
  const redactor = new Redactor();
  const rejectReasons = new Set<string>();
  const explanations: string[] = [];
  let worst = 'NONE' as CrisisSeverity; // assigned inside the map below
  const crisisTypes = new Set<string>();
  let protocol = 'none';
  let confidence = 0;
  const piiCategories = new Set<string>();
  const biasTypes = new Set<string>();
  const gates = new Set<string>();
  const messages = input.messages.map((m, i) => {
    const crisis = crisisOf ? crisisOf.assessments[i] : m.role === 'user' ? assessCrisis(m.content) : undefined;
    if (crisis && CRISIS_SEVERITY_RANK[crisis.severity] > CRISIS_SEVERITY_RANK[worst]) {
      worst = crisis.severity;
      protocol = crisis.protocol.name;
      confidence = crisis.confidence;
    }
    for (const t of crisis?.types ?? []) crisisTypes.add(t);
    const findings = engine.detect(m.content, personsCombiner(personsOf?.[i])).filter((f) => f.score >= policy.piiThreshold);
    for (const f of findings) {
      piiCategories.add(f.category);
      bump(counts.byPiiCategory, f.category);
      if (explanations.length < 5) explanations.push(`${f.detector}: ${f.category} (${f.explanation})`);
    }
    const bias = detectBias(m.content);
    for (const b of bias) {
      biasTypes.add(b.type);
      bump(counts.byBiasType, `${b.type}:${b.level}`);
      if (BIAS_RANK[b.level] >= BIAS_RANK[policy.rejectBiasLevel]) rejectReasons.add(`bias:${b.type}:${b.level}`);
    }
    for (const g of checkGates(m.content, m.role, bias)) {
      gates.add(`${g.gate}:${g.severity}`);
      bump(counts.byGate, `${g.gate}:${g.severity}`);
      if (GATE_RANK[g.severity] >= GATE_RANK[policy.rejectGateSeverity]) rejectReasons.add(`gate:${g.gate}:${g.severity}`);
    }
    if (!policy.redactPii || findings.length === 0) return m;
    const { text, replacements } = redactor.redact(m.content, findings, crisis?.indicators ?? []);
    counts.piiRedacted += replacements.length;
    return { ...m, content: text };
  });
  // The learned head may raise the severity the rules gave (never lower it): it is trained on
  // suicide risk, so a raise labels the record as suicidal ideation, with the head's probability.
  const unit = crisisOf?.unit;
  if (unit?.raisedByModel) {
    worst = unit.severity;
    protocol = PROTOCOLS[worst].name;
    confidence = unit.probability ?? confidence;
    crisisTypes.add('suicidal_ideation');
    if (explanations.length < 5) explanations.push(`learned crisis head: ${worst} (probability ${(unit.probability ?? 0).toFixed(2)})`);
  }
  counts.records += 1;
  bump(counts.byCrisisSeverity, worst);
  // The source's own crisis labels are the truth to measure against; the stage's labels replace them.
  const sourceLabels = input.labels ?? [];
  const sourceCrisis = sourceLabels.includes('crisis') ? true : sourceLabels.includes('crisis:none') ? false : undefined;
  const labels = new Set(sourceLabels.filter((l) => !isCrisisLabel(l)));
  if (sourceCrisis !== undefined) {
    const detected = worst !== 'NONE';
    counts.vsSourceLabels[detected ? (sourceCrisis ? 'tp' : 'fp') : sourceCrisis ? 'fn' : 'tn'] += 1;
  }
  if (worst !== 'NONE') {
    counts.crisis += 1;
    labels.add('crisis');
    labels.add(severityLabel(worst));
    for (const t of crisisTypes) {
      labels.add(`crisis:${t}`);
      bump(counts.byCrisisType, t);
    }
  }
  // Metadata may carry PII too (the synthetic generator lists what it planted): keep only its types.
  const { pii: plantedPii, ...metadata } = input.metadata ?? {};
  const plantedTypes = Array.isArray(plantedPii)
    ? plantedPii.map((p: unknown) => (p && typeof p === 'object' && 'type' in p ? String(p.type) : 'UNKNOWN'))
    : undefined;
  const record: ConversationRecord = {
    ...input,
    messages,
    labels: [...labels],
    metadata: {
      ...metadata,
      ...(plantedTypes ? { plantedPiiTypes: plantedTypes } : {}),
      safety: {
        version: SAFETY_STAGE_VERSION,
        crisis: {
          severity: worst,
          types: [...crisisTypes],
          confidence,
          protocol,
          ...(unit ? screenFields(unit) : {}),
        },
        pii: [...piiCategories].sort(),
        bias: [...biasTypes].sort(),
        gates: [...gates].sort(),
        ...(sourceCrisis !== undefined ? { sourceCrisisLabels: sourceLabels.filter(isCrisisLabel) } : {}),
      },
    },
  };
  return { record, sourceCrisis, rejectReasons: [...rejectReasons], crisisSeverity: worst, explanations };
}

export interface FilterShardOptions {
  store: ArtifactStore;
  engine: DetectionEngine;
  shard: ShardRef;
  policy: SafetyPolicy;
  /** The crisis screen (default: the process's shared one for `policy.crisisModel`). */
  screen?: CrisisScreen;
  /** The name tagger (default: the process's shared one when `policy.personModel` is `learned`). */
  persons?: PersonTagger;
  onProgress?: (done: number) => void;
  signal?: AbortSignal;
}

/** Where a shard's safety output lives: a hash of the shard, the policy and the stage version. */
export function safetyKey(shard: ShardRef, policy: SafetyPolicy): string {
  return `safety/${sha256Hex(canonicalJson({ v: SAFETY_STAGE_VERSION, shard: shard.sha256, policy })).slice(0, 32)}`;
}

/** Records a safety window holds at most (see filterShard). */
export const SCREEN_WINDOW_RECORDS = 2048;
/** Characters of records' JSON a safety window holds at most. */
export const SCREEN_WINDOW_BYTES = 4 * 1024 * 1024;

/**
 * Filters one prepared shard: kept records (redacted, labelled), rejected records (redacted,
 * with every reason) and an audit (counts and a sample of finding explanations, no raw PII).
 * Content-addressed and written audit-last, so a retried or repeated run reuses a finished shard
 * and never counts it twice.
 */
export async function filterShard(options: FilterShardOptions): Promise<SafetyShardResult> {
  const { store, shard, policy, engine } = options;
  const key = safetyKey(shard, policy);
  const auditUri = store.uriFor(`${key}/audit.json`);
  if (await store.exists(auditUri)) {
    const text = await store.readText(auditUri);
    const previous = JSON.parse(text) as Pick<SafetyShardResult, 'split' | 'kept' | 'rejected' | 'counts'>;
    return {
      split: previous.split,
      kept: previous.kept,
      rejected: previous.rejected,
      counts: previous.counts,
      audit: { uri: auditUri, bytes: Buffer.byteLength(text), sha256: sha256Hex(text) },
      cacheHit: true,
    };
  }
  const screen = options.screen ?? (await sharedCrisisScreen(policy.crisisModel));
  if (screen.mode !== policy.crisisModel) throw new Error(`the crisis screen is ${screen.mode}, the policy asks for ${policy.crisisModel}`);
  const tagger = policy.personModel === 'learned' ? (options.persons ?? (await sharedPersonTagger())) : undefined;
  const counts = emptySafetyCounts();
  const kept = store.openWrite(`${key}/kept-${shard.split}.jsonl`);
  const rejected = store.openWrite(`${key}/rejected-${shard.split}.jsonl`);
  const samples: string[] = [];
  try {
    const stats = { blankLines: 0 };
    let done = 0;
    // Records go through the crisis screen and the name tagger in windows (one encoder call for
    // the texts a window lets through): a window of 256 conversations gave the encoder about 30
    // texts a call, and a third of the tokens it ran were padding; 2,048 give it about 250, sorted
    // by token count, with 1-4% padding. A window also ends at 4 MB of records, so long records
    // hold memory bounded.
    let batch: ConversationRecord[] = [];
    let batchBytes = 0;
    const flush = async () => {
      const crisis = await screenRecords(batch, screen);
      const persons = tagger ? await tagRecords(batch, tagger) : undefined;
      for (const [i, record] of batch.entries()) {
        const verdict = filterRecord(record, engine, policy, counts, crisis[i], persons?.[i]);
        for (const e of verdict.explanations) if (samples.length < policy.auditSamples) samples.push(e);
        for (const g of groupsMentioned(record.messages.map((m) => m.content).join('\n'))) {
          const t = (counts.byGroup[`${g.type}:${g.group}`] ??= { records: 0, crisis: 0, rejected: 0, tp: 0, fp: 0, fn: 0, tn: 0 });
          t.records += 1;
          const detected = verdict.crisisSeverity !== 'NONE';
          if (detected) t.crisis += 1;
          if (verdict.rejectReasons.length > 0) t.rejected += 1;
          if (verdict.sourceCrisis !== undefined) t[detected ? (verdict.sourceCrisis ? 'tp' : 'fp') : verdict.sourceCrisis ? 'fn' : 'tn'] += 1;
        }
        if (verdict.rejectReasons.length > 0) {
          counts.rejected += 1;
          for (const r of verdict.rejectReasons) bump(counts.byRejectReason, r);
          await rejected.write(`${JSON.stringify({ reasons: verdict.rejectReasons, record: verdict.record })}\n`);
        } else {
          counts.kept += 1;
          await kept.write(`${JSON.stringify(verdict.record)}\n`);
        }
      }
      done += batch.length;
      batch = [];
      batchBytes = 0;
      options.onProgress?.(done);
      await new Promise<void>((resolve) => setImmediate(resolve));
      throwIfAborted(options.signal, 'safety filtering cancelled');
    };
    for await (const item of readLines(await store.openRead(shard.uri), 64 * 1024 * 1024, stats)) {
      if (item.kind !== 'text') continue;
      batch.push(ConversationRecordSchema.parse(JSON.parse(item.raw)));
      batchBytes += item.raw.length;
      if (batch.length >= SCREEN_WINDOW_RECORDS || batchBytes >= SCREEN_WINDOW_BYTES) await flush();
    }
    if (batch.length > 0) await flush();
    const keptRef = await kept.close();
    const rejectedRef = await rejected.close();
    const summary = {
      split: shard.split,
      kept: { ...keptRef, records: counts.kept },
      rejected: { ...rejectedRef, records: counts.rejected },
      counts,
    };
    // Written last: its presence marks the shard done.
    const auditText = `${JSON.stringify({ ...summary, shard: shard.uri, policy, samples }, null, 2)}\n`;
    const audit = await store.writeText(`${key}/audit.json`, auditText);
    return { ...summary, audit, cacheHit: false };
  } catch (err) {
    await Promise.all([kept.abort(), rejected.abort()]);
    throw err;
  }
}

/** Merges shard results into the stage's report (JSON) and manifest. */
export async function summarizeSafety(store: ArtifactStore, datasetSha: string, shards: readonly SafetyShardResult[]): Promise<SafetyResult> {
  const counts = shards.reduce((acc, s) => addCounts(acc, s.counts), emptySafetyCounts());
  const keptBySplit = { train: 0, val: 0, test: 0 };
  for (const s of shards) keptBySplit[s.split] += s.kept.records;
  const key = `safety/reports/${sha256Hex(canonicalJson({ datasetSha, shards: shards.map((s) => s.audit.uri) })).slice(0, 32)}`;
  // Demographic parity of outcomes across the groups the data mentions (rates per group).
  const representation: Record<string, number> = {};
  const tallies: Record<string, Record<string, { n: number; yes: number }>> = { crisis: {}, rejected: {} };
  for (const [group, g] of Object.entries(counts.byGroup)) {
    representation[group] = g.records;
    (tallies.crisis as Record<string, { n: number; yes: number }>)[group] = { n: g.records, yes: g.crisis };
    (tallies.rejected as Record<string, { n: number; yes: number }>)[group] = { n: g.records, yes: g.rejected };
  }
  const fairness = { representation, parity: parityFromTallies(tallies) };
  // Equalized odds where labels exist: true-positive rate over labelled crisis records, false-positive rate over labelled non-crisis ones.
  const odds = parityFromTallies({
    tpr: Object.fromEntries(Object.entries(counts.byGroup).map(([g, c]) => [g, { n: c.tp + c.fn, yes: c.tp }])),
    fpr: Object.fromEntries(Object.entries(counts.byGroup).map(([g, c]) => [g, { n: c.fp + c.tn, yes: c.fp }])),
  });
  const equalizedOdds = {
    tprGap: odds.tpr?.maxGap ?? 0,
    fprGap: odds.fpr?.maxGap ?? 0,
    groups: Math.min(odds.tpr?.groups ?? 0, odds.fpr?.groups ?? 0),
  };
  const v = counts.vsSourceLabels;
  const agreement = prf(v.tp, v.fp, v.fn);
  const crisisVsLabels = { precision: agreement.precision, recall: agreement.recall, f1: agreement.f1, labelled: v.tp + v.fp + v.fn + v.tn };
  const parityGap = {
    crisis: fairness.parity.crisis?.maxGap ?? 0,
    rejected: fairness.parity.rejected?.maxGap ?? 0,
    groups: fairness.parity.crisis?.groups ?? 0,
  };
  const biasTypesSeen = [...new Set(Object.keys(counts.byBiasType).map((k) => k.split(':')[0] as BiasType))];
  const mitigations = Object.fromEntries(biasTypesSeen.map((t) => [t, MITIGATIONS[t]]));
  const report = await store.writeText(
    `${key}/report.json`,
    `${JSON.stringify({ datasetSha, counts, keptBySplit, fairness: { ...fairness, parityGap, equalizedOdds, odds }, crisisVsLabels, mitigations, shards: shards.map((s) => ({ split: s.split, kept: s.kept, rejected: s.rejected, audit: s.audit.uri, counts: s.counts })) }, null, 2)}\n`,
  );
  const manifest = await store.writeText(
    `${key}/manifest.json`,
    `${JSON.stringify({ kind: 'safety-filtered-dataset', datasetSha, stageVersion: SAFETY_STAGE_VERSION, shards: shards.map((s) => ({ split: s.split, ...s.kept })), rejected: shards.map((s) => s.rejected) }, null, 2)}\n`,
  );
  return SafetyResultSchema.parse({
    reportUri: report.uri,
    parityGap,
    crisisVsLabels,
    equalizedOdds,
    manifestUri: manifest.uri,
    counts,
    keptBySplit,
  });
}
