import type { z } from 'zod';
import type { DetectionEngine } from '../engine';
import { matchSpans, prf, type Prf, type Span } from '../evaluate';
import { PresidioSampleSchema as SampleSchema, readPresidio } from '../dev-sets/load';
import type { DevSplit } from '../dev-sets/split';

/** Presidio-research entity types mapped to Pixel's evaluation types (others are not scored). */
export const PRESIDIO_TYPES: Record<string, string> = {
  EMAIL_ADDRESS: 'EMAIL',
  PHONE_NUMBER: 'PHONE',
  US_SSN: 'US_SSN',
  CREDIT_CARD: 'CREDIT_CARD',
  IBAN_CODE: 'IBAN',
  IP_ADDRESS: 'IP_ADDRESS',
  DOMAIN_NAME: 'URL',
  DATE_TIME: 'DATE',
  PERSON: 'PERSON',
  ADDRESS: 'ADDRESS',
};

/** Pixel categories mapped to the same evaluation types (URL and DOMAIN are one; so are the dates). */
const PIXEL_TYPES: Record<string, string> = {
  EMAIL: 'EMAIL',
  PHONE: 'PHONE',
  US_SSN: 'US_SSN',
  CREDIT_CARD: 'CREDIT_CARD',
  IBAN: 'IBAN',
  IP_ADDRESS: 'IP_ADDRESS',
  URL: 'URL',
  DOMAIN: 'URL',
  DATE: 'DATE',
  DATE_OF_BIRTH: 'DATE',
  PERSON: 'PERSON',
  ADDRESS: 'ADDRESS',
};

export interface PiiEvaluation {
  /** Which part of the fixed dev split was scored (`all`: the whole file). */
  split: DevSplit | 'all';
  samples: number;
  overall: Prf;
  byType: Record<string, Prf>;
  /** Matching rule, stated with the figures. */
  matching: string;
  /** ADDRESS scored against the gold fragments as the file has them, without merging. */
  addressUnmerged: Prf;
}

type GoldSpan = z.infer<typeof SampleSchema>['spans'][number];

/** Text allowed between two fragments of one written address: line breaks, commas, quote marks. */
const FRAGMENT_GAP = /^[\s,>?]*$/;

/**
 * The file labels the same generated address two ways: on one line it is one ADDRESS span; laid
 * out as an envelope it is cut into the building number, the street, the unit, the town and
 * country (as LOCATION) and the postal code, each its own span. One written address is one
 * entity to redact, so runs of ADDRESS / LOCATION spans that touch (only whitespace, commas or
 * quote marks between them) and contain at least one ADDRESS become one ADDRESS span.
 * LOCATION spans that are not part of an address stay LOCATION (not scored).
 */
export function mergeAddressFragments(text: string, spans: readonly GoldSpan[]): GoldSpan[] {
  const others = spans.filter((s) => s.entity_type !== 'ADDRESS' && s.entity_type !== 'LOCATION');
  const parts = spans.filter((s) => s.entity_type === 'ADDRESS' || s.entity_type === 'LOCATION').sort((a, b) => a.start_position - b.start_position);
  const merged: GoldSpan[] = [];
  let run: GoldSpan[] = [];
  const flush = () => {
    if (run.length === 0) return;
    const first = run[0] as GoldSpan;
    const last = run[run.length - 1] as GoldSpan;
    if (run.length > 1 && run.some((s) => s.entity_type === 'ADDRESS')) {
      merged.push({ entity_type: 'ADDRESS', start_position: first.start_position, end_position: last.end_position });
    } else {
      merged.push(...run);
    }
    run = [];
  };
  for (const span of parts) {
    const prev = run[run.length - 1];
    if (prev && !(span.start_position >= prev.end_position && FRAGMENT_GAP.test(text.slice(prev.end_position, span.start_position)))) flush();
    run.push(span);
  }
  flush();
  return [...others, ...merged];
}

/**
 * Scores an engine on presidio-research's generated sentences: span match by type with
 * character IoU >= 0.5, per type and micro-averaged overall. Entity types Pixel does not find
 * (organisations, titles, driver's licences, bare locations) are left out of the scoring.
 */
export function evaluatePresidio(file: string, engine: Pick<DetectionEngine, 'detect'>, split?: DevSplit): PiiEvaluation {
  const samples = readPresidio(file, split);
  const totals = new Map<string, { tp: number; fp: number; fn: number }>();
  const unmerged = { tp: 0, fp: 0, fn: 0 };
  for (const sample of samples) {
    const toGold = (spans: readonly GoldSpan[]): Span[] =>
      spans
        .filter((s) => PRESIDIO_TYPES[s.entity_type])
        .map((s) => ({ type: PRESIDIO_TYPES[s.entity_type] as string, start: s.start_position, end: s.end_position }));
    const gold = toGold(mergeAddressFragments(sample.full_text, sample.spans));
    const predicted: Span[] = engine
      .detect(sample.full_text)
      .filter((f) => PIXEL_TYPES[f.category])
      .map((f) => ({ type: PIXEL_TYPES[f.category] as string, start: f.start, end: f.end }));
    for (const [type, c] of matchSpans(gold, predicted)) {
      const t = totals.get(type) ?? { tp: 0, fp: 0, fn: 0 };
      t.tp += c.tp;
      t.fp += c.fp;
      t.fn += c.fn;
      totals.set(type, t);
    }
    const raw = matchSpans(toGold(sample.spans), predicted).get('ADDRESS');
    if (raw) {
      unmerged.tp += raw.tp;
      unmerged.fp += raw.fp;
      unmerged.fn += raw.fn;
    }
  }
  const byType: Record<string, Prf> = {};
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (const [type, c] of [...totals].sort(([a], [b]) => a.localeCompare(b))) {
    byType[type] = prf(c.tp, c.fp, c.fn);
    tp += c.tp;
    fp += c.fp;
    fn += c.fn;
  }
  return {
    split: split ?? 'all',
    samples: samples.length,
    overall: prf(tp, fp, fn),
    byType,
    matching: 'same type, character IoU >= 0.5; touching ADDRESS/LOCATION gold fragments merged into one ADDRESS',
    addressUnmerged: prf(unmerged.tp, unmerged.fp, unmerged.fn),
  };
}
