import { parse, type CsvError } from 'csv-parse';
import type { Readable } from 'node:stream';
import type { ConversationRecordInput } from '../../contracts';
import type { SourceItem } from './types';

/** Columns the counsel-chat CSV must have (the first, unnamed column is the row index). */
export const COUNSEL_CHAT_COLUMNS = ['questionID', 'questionTitle', 'questionText', 'topic', 'answerText'] as const;

type Row = Record<string, string | undefined>;

/** The line a record starts on, from the line it ends on and its raw text. */
function startLine(endLine: number, raw: string | undefined): number {
  if (!raw) return endLine;
  let newlines = 0;
  for (let i = 0; i < raw.length - 1; i++) if (raw.charCodeAt(i) === 10) newlines++;
  return Math.max(1, endLine - newlines);
}

function toInt(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * Maps one counsel-chat row to a conversation: question title and text as the user turn, the
 * therapist's answer as the assistant turn. All answers to one question share a `groupId`, so
 * they land in the same split. Therapist names and profile links are left out on purpose: the
 * model must not learn to sign as a real person. Returns a message when a column is missing.
 */
export function counselChatRowToRecord(row: Row): ConversationRecordInput | string {
  const missing = COUNSEL_CHAT_COLUMNS.filter((c) => row[c] === undefined);
  if (missing.length > 0) return `missing column(s): ${missing.join(', ')}`;
  const questionId = (row.questionID ?? '').trim();
  if (questionId === '') return 'questionID is empty';
  const rowIndex = (row[''] ?? '').trim();
  const title = (row.questionTitle ?? '').trim();
  const text = (row.questionText ?? '').trim();
  const user = title && text && !text.startsWith(title) ? `${title}\n\n${text}` : text || title;
  const metadata: Record<string, unknown> = { questionId };
  const upvotes = toInt(row.upvotes);
  const views = toInt(row.views);
  if (upvotes !== undefined) metadata.upvotes = upvotes;
  if (views !== undefined) metadata.views = views;
  if (row.split) metadata.originalSplit = row.split.trim();
  if (row.questionLink) metadata.questionLink = row.questionLink.trim();
  return {
    id: `counsel-chat:${questionId}:${rowIndex || 'a'}`,
    groupId: `counsel-chat:q${questionId}`,
    source: 'counsel-chat',
    topic: (row.topic ?? '').trim() || 'general',
    messages: [
      { role: 'user', content: user },
      { role: 'assistant', content: row.answerText ?? '' },
    ],
    metadata,
  };
}

/**
 * The start of a counsel-chat row (row index, question id) after a line break inside a record:
 * a quote left open swallowed the rows after it into one field, since the parser reads on to the
 * next quote. Real answers break lines, but never start a line with two bare integer columns.
 */
const SWALLOWED_ROW = /\n[ \t]*\d{1,9},\d{1,9},/;

/** How many rows a record with swallowed rows holds (the record's own and each row start inside it). */
function rowsIn(raw: string): number {
  return 1 + (raw.match(new RegExp(SWALLOWED_ROW.source, 'g'))?.length ?? 0);
}

/**
 * Streams the counsel-chat CSV. Rows the CSV parser cannot read (bad quoting, wrong column
 * count) and records that swallowed the rows after them (an unclosed quote) come out as
 * `malformed_csv` items with their line and raw text; rows that lack a required column come out
 * as `schema_violation`.
 */
export async function* readCounselChatSource(stream: Readable, uri: string): AsyncGenerator<SourceItem> {
  const skipped: SourceItem[] = [];
  const parser = stream.pipe(
    parse({
      columns: (header: string[]) => {
        const missing = COUNSEL_CHAT_COLUMNS.filter((c) => !header.includes(c));
        if (missing.length > 0) {
          throw new Error(`${uri} is not the counsel-chat CSV: header lacks ${missing.join(', ')}`);
        }
        return header;
      },
      bom: true,
      info: true,
      raw: true,
      relax_quotes: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      on_skip: (err: CsvError | undefined, raw: string | undefined) => {
        skipped.push({
          kind: 'rejected',
          line: startLine(Number((err as { lines?: number } | undefined)?.lines ?? 0), raw),
          reason: 'malformed_csv',
          detail: err ? `${err.code}: ${err.message}` : 'unreadable CSV record',
          raw: raw ?? '',
        });
        return undefined;
      },
    }),
  );
  stream.on('error', (err) => parser.destroy(err));
  try {
    for await (const entry of parser as AsyncIterable<{ record: Row; raw: string; info: { lines: number } }>) {
      const line = startLine(entry.info.lines, entry.raw);
      // The parser may run ahead of this loop; keep the output in file order.
      while (skipped.length > 0 && (skipped[0] as SourceItem).line < line) yield skipped.shift() as SourceItem;
      if (SWALLOWED_ROW.test(entry.raw)) {
        const rows = rowsIn(entry.raw);
        yield {
          kind: 'rejected',
          line,
          reason: 'malformed_csv',
          detail: `a quoted field runs on into the next ${rows - 1 === 1 ? 'row' : `${rows - 1} rows`} (a quote left open?): lines ${line}-${entry.info.lines} are kept here as one record`,
          raw: entry.raw,
        };
        continue;
      }
      const mapped = counselChatRowToRecord(entry.record);
      if (typeof mapped === 'string') {
        yield { kind: 'rejected', line, reason: 'schema_violation', detail: mapped, raw: entry.raw };
      } else {
        yield { kind: 'value', line, value: mapped, raw: entry.raw };
      }
    }
    while (skipped.length > 0) yield skipped.shift() as SourceItem;
  } finally {
    // A consumer that stops early (cancellation, a failed write) must not leak the file.
    parser.destroy();
    stream.destroy();
  }
}
