import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import { devSplitOf, inSplit, type DevSplit } from './split';

/**
 * Readers for the public dev sets in `../shared/data` (relative to the project root; override
 * with PIXEL_DEV_DATA). Each record carries its group and its part of the fixed split.
 */
export function devDataDir(): string {
  return process.env.PIXEL_DEV_DATA ?? path.resolve(__dirname, '..', '..', '..', '..', 'shared', 'data');
}

export const DEV_FILES = {
  cssrs: 'cssrs_reddit_500_users.csv',
  presidio: 'pii_presidio_generated_large.json',
  'counsel-chat': 'counsel_chat.csv',
  'crows-pairs': 'crows_pairs.csv',
} as const;

/** The path of a dev set's file; a clear error when the data folder is not there. */
export function devFile(set: keyof typeof DEV_FILES): string {
  const file = path.join(devDataDir(), DEV_FILES[set]);
  if (!existsSync(file)) throw new Error(`${file} is missing: set PIXEL_DEV_DATA to the folder holding the public dev sets`);
  return file;
}

/** Parses a Python list literal of strings (`['a', "b's"]`), the C-SSRS file's Post column; see cssrs-eval. */
export type PostListParser = (text: string) => string[] | undefined;

export interface CssrsUser {
  user: string;
  label: string;
  /** Undefined when the Post cell is not a list literal; `raw` then holds the cell. */
  posts: string[] | undefined;
  raw: string;
  split: DevSplit;
}

export function readCssrs(file: string, parsePosts: PostListParser, split?: DevSplit): CssrsUser[] {
  const rows: { User: string; Post: string; Label: string }[] = parse(readFileSync(file, 'utf8'), {
    columns: true,
    skip_empty_lines: true,
    relax_quotes: true,
  });
  return rows
    .filter((r) => inSplit('cssrs', r.User, split))
    .map((r) => ({ user: r.User, label: r.Label, posts: parsePosts(r.Post), raw: r.Post, split: devSplitOf('cssrs', r.User) }));
}

export const PresidioSampleSchema = z.object({
  full_text: z.string(),
  spans: z.array(
    z.object({ entity_type: z.string(), entity_value: z.string().optional(), start_position: z.number().int(), end_position: z.number().int() }),
  ),
});
export type PresidioSample = z.infer<typeof PresidioSampleSchema> & { index: number; split: DevSplit };

/** Presidio's generated sentences; each sentence is its own group (its index in the file). */
export function readPresidio(file: string, split?: DevSplit): PresidioSample[] {
  return z
    .array(PresidioSampleSchema)
    .parse(JSON.parse(readFileSync(file, 'utf8')))
    .map((s, index) => ({ ...s, index, split: devSplitOf('presidio', String(index)) }))
    .filter((s) => split === undefined || s.split === split);
}

export interface CounselChatAnswer {
  questionId: string;
  questionTitle: string;
  questionText: string;
  answerText: string;
  topic: string;
  split: DevSplit;
}

/** counsel-chat answers, grouped by question (all answers to one question fall in one part). */
export function readCounselChat(file: string, split?: DevSplit): CounselChatAnswer[] {
  const rows: Record<string, string>[] = parse(readFileSync(file, 'utf8'), { columns: true, skip_empty_lines: true, relax_quotes: true });
  return rows
    .map((r) => ({
      questionId: r.questionID ?? '',
      questionTitle: r.questionTitle ?? '',
      questionText: r.questionText ?? '',
      answerText: r.answerText ?? '',
      topic: r.topic ?? '',
      split: devSplitOf('counsel-chat', r.questionID ?? ''),
    }))
    .filter((r) => split === undefined || r.split === split);
}
