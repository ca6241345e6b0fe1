import type { ArtifactStore } from '../artifacts';
import {
  ConversationRecordSchema,
  AnnotationLineSchema,
  SCENARIOS,
  ValidationItemSchema,
  ValidationSetManifestSchema,
  describeZodError,
  type ConversationRecord,
  type Message,
  type Scenario,
  type ShardRef,
  type ValidationItem,
  type ValidationSetConfig,
  type ValidationSetManifest,
} from '../contracts';
import { Rng } from '../util/rng';
import { canonicalJson, hashStream, sha256Hex } from '../util/hash';
import { jsonlLines, jsonlValues } from '../util/jsonl';
import { assessCrisis, PROTOCOLS } from '../safety/crisis/assess';
import { sharedCrisisScreen, type CrisisScreen } from '../safety/learned/screen';
import { CRISIS_SEVERITY_RANK } from '../contracts/crisis';
import { scenarioOf } from './scenarios';

/** Bump when the way items are cut or chosen changes: cached sets are not reused across versions. */
export const VALIDATION_SET_VERSION = '2';

/** A prompt the set could take: one user turn of a test conversation and what came before it. */
export interface Candidate extends ValidationItem {
  /** Which of its record's user turns this is (0 = the first). */
  userTurn: number;
}

/**
 * Every context of a conversation that ends in a user turn: the messages up to and including
 * that turn (at most `maxContext` of them, a leading system message kept), the reply that
 * followed it in the data, the scenario and the safety engine's crisis label of the user turns.
 */
export function contextsOf(record: ConversationRecord, maxContext: number): { candidates: Candidate[]; unmatched: number } {
  const out: Candidate[] = [];
  let unmatched = 0;
  const system = record.messages[0]?.role === 'system' ? record.messages[0] : undefined;
  let userTurn = 0;
  record.messages.forEach((m, i) => {
    if (m.role !== 'user') return;
    const start = Math.max(system ? 1 : 0, i + 1 - maxContext);
    const messages: Message[] = [...(system && start > 0 ? [system] : []), ...record.messages.slice(start, i + 1)];
    const userText = messages
      .filter((x) => x.role === 'user')
      .map((x) => x.content)
      .join('\n');
    const crisis = assessCrisis(userText);
    const isCrisis = CRISIS_SEVERITY_RANK[crisis.severity] >= CRISIS_SEVERITY_RANK.MODERATE;
    const scenario: Scenario | undefined = isCrisis ? 'crisis' : scenarioOf(record.topic, userText);
    const next = record.messages[i + 1];
    if (scenario) {
      out.push({
        id: `${record.id}#${i}`,
        scenario,
        messages,
        ...(next?.role === 'assistant' ? { reference: next.content } : {}),
        crisis: { severity: crisis.severity, types: [...crisis.types], protocol: crisis.protocol.name },
        source: { recordId: record.id, topic: record.topic, turn: i },
        userTurn,
      });
    } else unmatched += 1;
    userTurn += 1;
  });
  return { candidates: out, unmatched };
}

/**
 * The learned crisis screen over candidates (each prompt's user turns as one unit, in batches):
 * a prompt the head raises takes the raised severity, and becomes a crisis prompt at MODERATE or
 * above, as `contextsOf` decides with the rules.
 */
export async function screenCandidates(candidates: Candidate[], screen: CrisisScreen): Promise<Candidate[]> {
  if (screen.mode !== 'learned') return candidates;
  const out: Candidate[] = [];
  for (let start = 0; start < candidates.length; start += 256) {
    const batch = candidates.slice(start, start + 256);
    const verdicts = await screen.assess(
      batch.map((c) => {
        const texts = c.messages.filter((m) => m.role === 'user').map((m) => m.content);
        return { texts, assessments: texts.map((t) => assessCrisis(t)) };
      }),
    );
    batch.forEach((c, i) => {
      const v = verdicts[i];
      if (!v?.raisedByModel) {
        out.push(c);
        return;
      }
      const crisis = {
        severity: v.severity,
        types: [...new Set([...c.crisis.types, 'suicidal_ideation' as const])],
        protocol: PROTOCOLS[v.severity].name,
      };
      const scenario: Scenario = CRISIS_SEVERITY_RANK[v.severity] >= CRISIS_SEVERITY_RANK.MODERATE ? 'crisis' : c.scenario;
      out.push({ ...c, crisis, scenario });
    });
  }
  return out;
}

/**
 * Picks the set from the candidates: a crisis share at `crisisShare.target` when there are
 * enough of both kinds, never outside [min, max] (short of crisis prompts, the set takes fewer
 * of the others, down to the `min` share), the rest spread evenly over the other scenarios, any
 * scenario's shortfall handed to the others. Within a scenario, candidates are taken one per
 * conversation first (its deepest context is not preferred over another conversation), in an
 * order fixed by the seed and each candidate's id, so the choice does not depend on input order.
 */
export function selectItems(candidates: readonly Candidate[], config: ValidationSetConfig): { items: ValidationItem[]; shortfall: number } {
  const { size, crisisShare, seed } = config;
  const pools = new Map<Scenario, Candidate[]>(SCENARIOS.map((s) => [s, []]));
  for (const c of candidates) pools.get(c.scenario)!.push(c);
  const rank = new Map<string, number>();
  for (const c of candidates) rank.set(c.id, Rng.for(seed, 'validation-set', c.id).next());
  for (const pool of pools.values()) {
    // Rounds: each conversation's candidates in a seeded order; round k holds each conversation's k-th.
    const byRecord = new Map<string, Candidate[]>();
    for (const c of pool) byRecord.set(c.source.recordId, [...(byRecord.get(c.source.recordId) ?? []), c]);
    const round = new Map<string, number>();
    for (const list of byRecord.values()) {
      list.sort((a, b) => rank.get(a.id)! - rank.get(b.id)! || a.id.localeCompare(b.id));
      list.forEach((c, k) => round.set(c.id, k));
    }
    pool.sort((a, b) => round.get(a.id)! - round.get(b.id)! || rank.get(a.id)! - rank.get(b.id)! || a.id.localeCompare(b.id));
  }
  const others = SCENARIOS.filter((s) => s !== 'crisis');
  const available = (s: Scenario) => pools.get(s)!.length;
  const crisisAvailable = available('crisis');
  const nonCrisisAvailable = others.reduce((n, s) => n + available(s), 0);

  // How many crisis and non-crisis prompts, within the share bounds.
  let crisis = Math.min(crisisAvailable, Math.round(size * crisisShare.target));
  let nonCrisis = Math.min(nonCrisisAvailable, size - crisis);
  const total = () => crisis + nonCrisis;
  if (total() > 0 && crisis / total() < crisisShare.min)
    nonCrisis = crisisShare.min > 0 ? Math.floor((crisis * (1 - crisisShare.min)) / crisisShare.min) : nonCrisis;
  if (total() > 0 && crisis / total() > crisisShare.max) crisis = Math.floor((nonCrisis * crisisShare.max) / (1 - crisisShare.max));
  // Non-crisis quotas, evenly, with shortfalls passed on to scenarios that have more.
  const quota = new Map<Scenario, number>(others.map((s) => [s, 0]));
  let left = nonCrisis;
  while (left > 0) {
    const open = others.filter((s) => quota.get(s)! < available(s));
    if (open.length === 0) break;
    const each = Math.max(1, Math.floor(left / open.length));
    for (const s of open) {
      if (left === 0) break;
      const take = Math.min(each, available(s) - quota.get(s)!, left);
      quota.set(s, quota.get(s)! + take);
      left -= take;
    }
  }
  const items: ValidationItem[] = [...pools.get('crisis')!.slice(0, crisis), ...others.flatMap((s) => pools.get(s)!.slice(0, quota.get(s)))].map(
    ({ userTurn: _turn, ...item }) => item,
  );
  items.sort((a, b) => SCENARIOS.indexOf(a.scenario) - SCENARIOS.indexOf(b.scenario) || a.id.localeCompare(b.id));
  return { items, shortfall: Math.max(0, size - items.length) };
}

/** The set as JSONL: one item per line, keys in schema order, so reading and writing round-trips byte for byte. */
export function serializeItems(items: readonly ValidationItem[]): string {
  return items.map((item) => `${JSON.stringify(ValidationItemSchema.parse(item))}\n`).join('');
}

/** Parses a validation set file; every line must be an item. */
export function parseItems(text: string): ValidationItem[] {
  const items: ValidationItem[] = [];
  for (const l of jsonlLines(text)) {
    if (!l.ok) throw new Error(`validation set line ${l.line}: not JSON`);
    const parsed = ValidationItemSchema.safeParse(l.value);
    if (!parsed.success) throw new Error(`validation set line ${l.line}: ${describeZodError('not a validation item', parsed.error)}`);
    items.push(parsed.data);
  }
  return items;
}

const dist = <K extends string>(keys: K[]) => keys.reduce<Partial<Record<K, number>>>((acc, k) => ({ ...acc, [k]: (acc[k] ?? 0) + 1 }), {});

/**
 * Builds the expert validation set from test shards (content-addressed: the same shards and
 * config reuse the stored set) and returns its manifest. Only records of the test split are
 * read; a shard of another split is refused.
 */
export async function buildValidationSet(
  store: ArtifactStore,
  shards: readonly ShardRef[],
  config: ValidationSetConfig,
): Promise<{ manifestUri: string; manifest: ValidationSetManifest; cacheHit: boolean }> {
  const wrong = shards.find((s) => s.split !== 'test');
  if (wrong) throw new ValidationSetError(`the validation set is built from the test split only; ${wrong.uri} is a ${wrong.split} shard`);
  const key = sha256Hex(canonicalJson({ v: VALIDATION_SET_VERSION, shards: shards.map((s) => s.sha256), config })).slice(0, 24);
  const manifestUri = store.uriFor(`evaluation/validation-sets/${key}/manifest.json`);
  if (await store.exists(manifestUri)) {
    const manifest = ValidationSetManifestSchema.parse(JSON.parse(await store.readText(manifestUri)));
    if (await store.exists(manifest.file.uri)) return { manifestUri, manifest, cacheHit: true };
  }
  const candidates: Candidate[] = [];
  let records = 0;
  let unmatched = 0;
  for (const shard of shards) {
    for await (const record of jsonlValues(await store.openRead(shard.uri), (v) => ConversationRecordSchema.parse(v), shard.uri)) {
      records += 1;
      const found = contextsOf(record, config.maxContextMessages);
      candidates.push(...found.candidates);
      unmatched += found.unmatched;
    }
  }
  const screened = await screenCandidates(candidates, await sharedCrisisScreen(config.crisisModel));
  const { items, shortfall } = selectItems(screened, config);
  if (items.length === 0)
    throw new ValidationSetError(
      `no validation prompts: the ${records} test conversations hold no user turn of a known scenario (or no crisis prompt for the bounded crisis share); give the test split more conversations (more data, or a larger data.split.ratios.test) or turn evaluation off (evaluate.enabled: false)`,
    );
  const text = serializeItems(items);
  const file = await store.writeText(`evaluation/validation-sets/${key}/items.jsonl`, text);
  const crisisCount = items.filter((i) => i.scenario === 'crisis').length;
  const manifest: ValidationSetManifest = {
    kind: 'pixel.validation-set',
    version: 1,
    file,
    records: items.length,
    shortfall,
    byScenario: dist(items.map((i) => i.scenario)),
    bySeverity: dist(items.map((i) => i.crisis.severity)),
    crisisShare: crisisCount / items.length,
    config,
    sources: shards.map((s) => ({ uri: s.uri, sha256: s.sha256 })),
    candidates: { records, contexts: candidates.length, unmatched },
  };
  await store.writeText(`evaluation/validation-sets/${key}/manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`);
  return { manifestUri, manifest, cacheHit: false };
}

/** A validation set that cannot be built or read. */
export class ValidationSetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValidationSetError';
  }
}

/** Reads a validation set through its manifest, checking the file's size, sha256 and record count. */
export async function readValidationSet(
  store: ArtifactStore,
  manifestUri: string,
): Promise<{ manifest: ValidationSetManifest; items: ValidationItem[] }> {
  let json: unknown;
  try {
    json = JSON.parse(await store.readText(manifestUri));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new ValidationSetError(`${manifestUri} is not a validation set manifest: it is not JSON`);
  }
  const parsed = ValidationSetManifestSchema.safeParse(json);
  if (!parsed.success) throw new ValidationSetError(`${manifestUri}: ${describeZodError('not a validation set manifest', parsed.error)}`);
  const manifest = parsed.data;
  const { sha256, bytes } = await hashStream(await store.openRead(manifest.file.uri));
  if (sha256 !== manifest.file.sha256 || bytes !== manifest.file.bytes)
    throw new ValidationSetError(`${manifest.file.uri} does not match its manifest (sha256 or size differs): the file changed after it was built`);
  const items = parseItems(await store.readText(manifest.file.uri));
  if (items.length !== manifest.records)
    throw new ValidationSetError(`${manifest.file.uri} holds ${items.length} items, its manifest says ${manifest.records}`);
  return { manifest, items };
}

/**
 * Adds expert annotations (JSONL, one `{itemId, annotator, rubric?, safetyLabel?, comment?}` per
 * line) to a set's items. Lines that are not valid annotations, or name an item not in the
 * set, are returned as quarantined with their line number and reason; the rest are kept.
 */
export function mergeAnnotations(
  items: readonly ValidationItem[],
  jsonl: string,
): { items: ValidationItem[]; added: number; quarantined: { line: number; reason: string }[] } {
  const byId = new Map(items.map((i) => [i.id, { ...i, ...(i.annotations ? { annotations: [...i.annotations] } : {}) }]));
  const quarantined: { line: number; reason: string }[] = [];
  let added = 0;
  for (const l of jsonlLines(jsonl)) {
    if (!l.ok) {
      quarantined.push({ line: l.line, reason: l.reason });
      continue;
    }
    const parsed = AnnotationLineSchema.safeParse(l.value);
    if (!parsed.success) {
      quarantined.push({ line: l.line, reason: describeZodError('not an annotation', parsed.error) });
      continue;
    }
    const { itemId, ...annotation } = parsed.data;
    const item = byId.get(itemId);
    if (!item) {
      quarantined.push({ line: l.line, reason: `item ${itemId} is not in the validation set` });
      continue;
    }
    item.annotations = [...(item.annotations ?? []), annotation];
    added += 1;
  }
  return { items: items.map((i) => byId.get(i.id)!), added, quarantined };
}
