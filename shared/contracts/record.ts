import { z } from 'zod';

/** Most messages one conversation may have (longer ones are quarantined, not parsed). */
export const MAX_MESSAGES = 1000;

/**
 * Longest message content, in characters. A message longer than this is no turn of a
 * conversation a model should learn from, and every per-text detector's cost grows with it.
 */
export const MAX_MESSAGE_CHARS = 50_000;

/** Deepest nesting of arrays and objects a record may have (its metadata included). */
export const MAX_NESTING = 64;

/** Version of {@link ConversationRecordSchema}; bump it when a field changes meaning. */
export const RECORD_SCHEMA_VERSION = 1;

export const RoleSchema = z.enum(['system', 'user', 'assistant']);
export type Role = z.infer<typeof RoleSchema>;

export const MessageSchema = z.object({
  role: RoleSchema,
  content: z
    .string()
    .trim()
    .min(1, 'message content is empty')
    .max(MAX_MESSAGE_CHARS, `message content is longer than ${MAX_MESSAGE_CHARS.toLocaleString('en')} characters`),
});
export type Message = z.infer<typeof MessageSchema>;

/**
 * One conversation: the unit Pixel prepares, filters, augments and trains on.
 *
 * `groupId` keeps related conversations (several therapist answers to one question) in the
 * same split so none of them leaks from train into val or test; it defaults to `id`.
 */
export const ConversationRecordSchema = z.object({
  schemaVersion: z.literal(RECORD_SCHEMA_VERSION).default(RECORD_SCHEMA_VERSION),
  id: z.string().trim().min(1, 'id is empty').max(256, 'id is longer than 256 characters'),
  groupId: z.string().trim().min(1).max(256).optional(),
  messages: z.array(MessageSchema).min(1, 'conversation has no messages').max(MAX_MESSAGES, `a conversation has at most ${MAX_MESSAGES} messages`),
  source: z.string().trim().min(1, 'source is empty').max(128),
  topic: z.string().trim().min(1).max(64).default('general'),
  labels: z.array(z.string().min(1).max(128)).max(64).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});
export type ConversationRecord = z.output<typeof ConversationRecordSchema>;
export type ConversationRecordInput = z.input<typeof ConversationRecordSchema>;

/** Names of the dataset splits, in the order their ratios are laid out on [0, 1). */
export const SPLIT_NAMES = ['train', 'val', 'test'] as const;
export type SplitName = (typeof SPLIT_NAMES)[number];

/** Why a source record was quarantined instead of kept. */
export const QUARANTINE_REASONS = [
  'malformed_json',
  'malformed_csv',
  'not_an_object',
  'empty_conversation',
  'schema_violation',
  'incomplete_conversation',
  'duplicate_content',
  'duplicate_id',
  'line_too_long',
  'invalid_utf8',
  'message_too_long',
  'too_deep',
] as const;
export type QuarantineReason = (typeof QUARANTINE_REASONS)[number];

/** One quarantined record: where it was, why, and the original text so nothing is lost. */
export interface QuarantineEntry {
  line: number;
  reason: QuarantineReason;
  detail: string;
  recordId?: string;
  raw: string;
}
