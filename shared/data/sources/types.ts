import type { QuarantineReason } from '../../contracts';

/**
 * One item read from a source, before validation. Sources never drop anything: what they
 * cannot turn into a candidate record they yield as `rejected`, with the reason.
 */
export type SourceItem =
  /** Text to parse as one JSON record (a JSONL line). */
  | { kind: 'text'; line: number; raw: string }
  /** A candidate record built by the source (a CSV row, a synthetic conversation). */
  | { kind: 'value'; line: number; value: unknown; raw?: string }
  /** Something the source itself could not read. */
  | { kind: 'rejected'; line: number; reason: QuarantineReason; detail: string; raw: string };

/** Counts a source keeps about lines that were not items (blank lines). */
export interface SourceStats {
  blankLines: number;
}

/** How much of an over-long line the quarantine keeps, in bytes. */
export const TOO_LONG_KEEP = 4096;

/** The quarantine item for a line over the length limit, the same on every reading path. */
export function tooLongItem(line: number, maxLineLength: number, head: Buffer): Extract<SourceItem, { kind: 'rejected' }> {
  return {
    kind: 'rejected',
    line,
    reason: 'line_too_long',
    detail: `line is longer than ${maxLineLength} bytes; the quarantine keeps its first ${TOO_LONG_KEEP} bytes`,
    raw: head.subarray(0, TOO_LONG_KEEP).toString('utf8'),
  };
}
