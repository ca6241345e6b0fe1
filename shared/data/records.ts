import { createHash } from 'node:crypto';
import {
  ConversationRecordSchema,
  MAX_MESSAGE_CHARS,
  MAX_MESSAGES,
  MAX_NESTING,
  describeZodError,
  type ConversationRecord,
  type QuarantineEntry,
  type QuarantineReason,
  type SplitConfig,
  type SplitName,
} from '../contracts';
import type { SourceItem } from './sources/types';
import { assignSplit, hash53 } from './splitter';

/** Longest excerpt of a JSON parse error message kept in the quarantine. */
const MAX_DETAIL = 300;

/**
 * 96-bit fingerprint of a conversation's roles and contents (the first 12 bytes of their
 * sha256), for exact-duplicate detection.
 */
export function contentFingerprint(record: Pick<ConversationRecord, 'messages'>): [number, number, number] {
  // One update() per record: each call into the hash has a fixed cost that dominates at this size.
  let text = '';
  // Length-prefixed, so no content can imitate a message boundary.
  for (const m of record.messages) text += `${m.role}:${m.content.length}:${m.content}`;
  const digest = createHash('sha256').update(text).digest();
  return [digest.readUInt32LE(0), digest.readUInt32LE(4), digest.readUInt32LE(8)];
}

/** 96-bit fingerprint of a record id, from two independently seeded 53-bit hashes. */
export function idFingerprint(id: string): [number, number, number] {
  const h1 = hash53(id, 0x243f6a88);
  const h2 = hash53(id, 0x85a308d3);
  const hi1 = Math.floor(h1 / 4294967296);
  const hi2 = Math.floor(h2 / 4294967296);
  return [h1 >>> 0, h2 >>> 0, ((hi1 << 11) ^ hi2) >>> 0];
}

/**
 * Whether a parsed JSON value nests arrays and objects deeper than `limit`, found without
 * recursion (an explicit stack), so a hostile line of 100,000 brackets cannot overflow the call
 * stack of whatever reads the value next (validation, serialisation).
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: v, depth } = stack.pop() as { value: unknown; depth: number };
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v))
      if (child !== null && typeof child === 'object') stack.push({ value: child, depth: depth + 1 });
  }
  return false;
}

export type Verdict = { ok: true; record: ConversationRecord } | { ok: false; reason: QuarantineReason; detail: string; recordId?: string };

function isBlankContent(message: unknown): boolean {
  if (message === null || typeof message !== 'object') return false;
  const content = (message as { content?: unknown }).content;
  return typeof content === 'string' && content.trim().length === 0;
}

/**
 * Validates one candidate record: shape, emptiness, schema, and whether it has both a user and
 * an assistant turn. Pure; duplicates are checked by the caller, which holds the state.
 */
export function validateCandidate(value: unknown): Verdict {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      ok: false,
      reason: 'not_an_object',
      detail: `expected a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
    };
  }
  const candidate = value as { id?: unknown; messages?: unknown };
  const recordId = typeof candidate.id === 'string' ? candidate.id : undefined;
  const messages = candidate.messages;
  if (Array.isArray(messages) && (messages.length === 0 || messages.every(isBlankContent))) {
    return {
      ok: false,
      reason: 'empty_conversation',
      detail: messages.length === 0 ? 'messages is an empty list' : 'every message is blank',
      recordId,
    };
  }
  if (Array.isArray(messages) && messages.length > MAX_MESSAGES) {
    // Checked before parsing: validating each of 100k elements would cost more than the line is worth.
    return {
      ok: false,
      reason: 'schema_violation',
      detail: `record: messages: ${messages.length} messages; a conversation has at most ${MAX_MESSAGES}`,
      recordId,
    };
  }
  if (nestsDeeperThan(value, MAX_NESTING)) {
    return { ok: false, reason: 'too_deep', detail: `record nests arrays or objects more than ${MAX_NESTING} levels deep`, recordId };
  }
  if (Array.isArray(messages)) {
    const long = messages.findIndex((m) => {
      const content = m !== null && typeof m === 'object' ? (m as { content?: unknown }).content : undefined;
      return typeof content === 'string' && content.trim().length > MAX_MESSAGE_CHARS;
    });
    if (long >= 0) {
      const length = (messages[long] as { content: string }).content.trim().length.toLocaleString('en');
      return {
        ok: false,
        reason: 'message_too_long',
        detail: `record: messages.${long}.content: ${length} characters; a message has at most ${MAX_MESSAGE_CHARS.toLocaleString('en')}`,
        recordId,
      };
    }
  }
  const parsed = ConversationRecordSchema.safeParse(value);
  if (!parsed.success) {
    return { ok: false, reason: 'schema_violation', detail: describeZodError('record', parsed.error), recordId };
  }
  const record = parsed.data;
  let user = false;
  let assistant = false;
  for (const m of record.messages) {
    m.content = m.content.normalize('NFC');
    if (m.role === 'user') user = true;
    else if (m.role === 'assistant') assistant = true;
  }
  if (!user || !assistant) {
    const lacking = [user ? '' : 'user', assistant ? '' : 'assistant'].filter(Boolean).join(' and ');
    return { ok: false, reason: 'incomplete_conversation', detail: `conversation has no ${lacking} turn`, recordId: record.id };
  }
  return { ok: true, record };
}

/** One source item after the per-record work that needs no shared state. */
export type Processed =
  | {
      ok: true;
      line: number;
      id: string;
      /** Content fingerprint, then id fingerprint: three 32-bit words each. */
      c0: number;
      c1: number;
      c2: number;
      i0: number;
      i1: number;
      i2: number;
      split: SplitName;
      topic: string;
      json: string;
    }
  | { ok: false; line: number; reason: QuarantineReason; detail: string; recordId?: string; raw: string };

/** The quarantine entry of an item that failed processing (the same on every reading path). */
export function quarantineEntry(r: Extract<Processed, { ok: false }>): QuarantineEntry {
  return { line: r.line, reason: r.reason, detail: r.detail, ...(r.recordId !== undefined ? { recordId: r.recordId } : {}), raw: r.raw };
}

/**
 * Parses, validates, normalises, fingerprints and splits one item, and serialises the record
 * for its shard. Pure and independent of other records, so it runs in worker threads; what
 * needs state (duplicates, shard files) stays with the caller.
 */
export function processItem(item: SourceItem, split: SplitConfig): Processed {
  if (item.kind === 'rejected') return { ok: false, line: item.line, reason: item.reason, detail: item.detail, raw: item.raw };
  let value: unknown;
  if (item.kind === 'text') {
    try {
      value = JSON.parse(item.raw);
    } catch (err) {
      return { ok: false, line: item.line, reason: 'malformed_json', detail: String((err as Error).message).slice(0, MAX_DETAIL), raw: item.raw };
    }
  } else {
    value = item.value;
  }
  const verdict = validateCandidate(value);
  if (!verdict.ok) {
    const raw = item.kind === 'text' ? item.raw : (item.raw ?? JSON.stringify(item.value));
    return {
      ok: false,
      line: item.line,
      reason: verdict.reason,
      detail: verdict.detail,
      ...(verdict.recordId !== undefined ? { recordId: verdict.recordId } : {}),
      raw,
    };
  }
  const record = verdict.record;
  const [c0, c1, c2] = contentFingerprint(record);
  const [i0, i1, i2] = idFingerprint(record.id);
  return {
    ok: true,
    line: item.line,
    id: record.id,
    c0,
    c1,
    c2,
    i0,
    i1,
    i2,
    split: assignSplit(record.groupId ?? record.id, split),
    topic: record.topic,
    json: JSON.stringify(record),
  };
}
