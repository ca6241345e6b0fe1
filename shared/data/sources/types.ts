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
export type { LineStats as SourceStats } from '../../util/lines';
export { TOO_LONG_KEEP, tooLongItem } from '../../util/lines';
