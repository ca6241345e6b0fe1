import { assessCrisis, type CrisisAssessment } from '../safety/crisis/assess';

const memo = new Map<string, CrisisAssessment>();
/**
 * The crisis assessment of a text, remembered for a while: a record's messages are assessed by
 * several strategies and by the re-check, and most copies repeat most of their parent's messages.
 */
export function assessCrisisMemo(text: string): CrisisAssessment {
  let a = memo.get(text);
  if (!a) {
    if (memo.size >= 4096) memo.clear();
    a = assessCrisis(text);
    memo.set(text, a);
  }
  return a;
}

export interface Span {
  start: number;
  end: number;
}

/** Gives `replacement` the capitalisation of `original` (Title, UPPER or as is). */
export function matchCase(original: string, replacement: string): string {
  if (original.length > 1 && original === original.toUpperCase() && original !== original.toLowerCase()) return replacement.toUpperCase();
  if (/^\p{Lu}/u.test(original)) return replacement.charAt(0).toUpperCase() + replacement.slice(1);
  return replacement;
}

const PLACEHOLDER = /\[[A-Z][A-Z_]*_\d+\]/g;
/** A number and the word it counts ("3 weeks", "50 mg"). */
const NUMBER = /\d[\d.,:/%-]*(?:[ \t]\p{L}+)?/gu;
const NUMBER_WORDS =
  /\b(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand|first|second|third|once|twice)\b/gi;
/** A capitalised word that does not start a sentence: a name, a place, a brand. */
const NAMED = /(?<=[\p{Ll}\p{N},;:] )\p{Lu}[\p{L}'’-]*/gu;

/**
 * What a rewrite must leave exactly as it is: crisis language (every indicator the safety
 * engine finds, including negated or suppressed ones, so "I would never hurt myself" keeps its
 * "never"), the protected words (negations, crisis keywords), numbers, [PLACEHOLDERS] and
 * named entities.
 */
export function protectedSpans(text: string, protectedWords: ReadonlySet<string>): readonly Span[] {
  let byText = spanMemo.get(protectedWords);
  if (!byText) {
    byText = new Map();
    spanMemo.set(protectedWords, byText);
  }
  let spans = byText.get(text);
  if (!spans) {
    if (byText.size >= 4096) byText.clear();
    spans = computeProtectedSpans(text, protectedWords);
    byText.set(text, spans);
  }
  return spans;
}

const spanMemo = new WeakMap<ReadonlySet<string>, Map<string, readonly Span[]>>();

function computeProtectedSpans(text: string, protectedWords: ReadonlySet<string>): Span[] {
  const spans: Span[] = [];
  const crisis = assessCrisisMemo(text);
  for (const s of [...crisis.indicators, ...crisis.suppressed]) spans.push({ start: s.start, end: s.end });
  for (const re of [PLACEHOLDER, NUMBER, NUMBER_WORDS, NAMED]) {
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) spans.push({ start: m.index, end: m.index + m[0].length });
  }
  const words = /[\p{L}'’]+/gu;
  for (let m = words.exec(text); m !== null; m = words.exec(text)) {
    if (protectedWords.has(m[0].toLowerCase().replace(/’/g, "'"))) spans.push({ start: m.index, end: m.index + m[0].length });
  }
  return spans.sort((a, b) => a.start - b.start);
}

/** The protected pieces of a text, in order: a rewrite must leave this sequence unchanged. */
export function protectedSequence(text: string, protectedWords: ReadonlySet<string>): string[] {
  const spans = protectedSpans(text, protectedWords);
  // Merge overlaps so the same text is not listed twice.
  const merged: Span[] = [];
  for (const s of spans) {
    const last = merged[merged.length - 1];
    if (last && s.start <= last.end) last.end = Math.max(last.end, s.end);
    else merged.push({ ...s });
  }
  return merged.map((s) => text.slice(s.start, s.end));
}

const overlaps = (spans: readonly Span[], start: number, end: number) => spans.some((s) => start < s.end && s.start < end);

/**
 * Rewrites the words of a text one by one: `replace` sees each word outside the protected
 * spans and returns its replacement, or undefined to keep it.
 */
export function rewriteWords(text: string, spans: readonly Span[], replace: (word: string) => string | undefined): { text: string; changed: number } {
  let out = '';
  let at = 0;
  let changed = 0;
  const words = /[\p{L}’']+/gu;
  for (let m = words.exec(text); m !== null; m = words.exec(text)) {
    const start = m.index;
    const end = start + m[0].length;
    if (overlaps(spans, start, end)) continue;
    const next = replace(m[0]);
    if (next === undefined || next === m[0]) continue;
    out += text.slice(at, start) + next;
    at = end;
    changed += 1;
  }
  return { text: out + text.slice(at), changed };
}

/** Replaces whole-phrase occurrences (case-insensitive, word-bounded) outside protected spans. */
export function replacePhrase(text: string, spans: readonly Span[], from: string, to: string): { text: string; changed: number } {
  const re = new RegExp(String.raw`(?<![\p{L}\p{N}'’])${from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/'/g, "['’]")}(?![\p{L}\p{N}'’])`, 'giu');
  let out = '';
  let at = 0;
  let changed = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (overlaps(spans, m.index, m.index + m[0].length)) continue;
    out += text.slice(at, m.index) + matchCase(m[0], to);
    at = m.index + m[0].length;
    changed += 1;
  }
  return { text: out + text.slice(at), changed };
}
