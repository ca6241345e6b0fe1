import { evaluationMarkers, findAll, findUnsuppressed, matches, normaliseText, sentences, type EvaluationMarkers } from '../markers';
import type { EmpathyScore, PromptContext } from './types';

/** Words of the opening that make up its key (long first sentences compare on their start). */
const OPENING_WORDS = 12;
/** A corpus needs this many responses before an opening can count as formulaic. */
const FORMULAIC_MIN_RESPONSES = 10;
/** An opening shared by more than this share of the corpus is formulaic. */
const FORMULAIC_SHARE = 0.2;
/** Repeated 3-grams up to this share are normal in longer replies and cost nothing. */
const REPETITION_SLACK = 0.05;

const WORD = /[\p{L}\p{N}']+/gu;

function words(text: string): string[] {
  return (text.toLowerCase().match(WORD) ?? []).map((w) => w.replace(/^'+|'+$/g, '')).filter((w) => w.length > 0);
}

/**
 * The normalised opening of a response: its first sentence, lower-cased, punctuation dropped,
 * at most 12 words. Responses that share a key open the same way.
 */
export function openingKey(response: string): string {
  const first = sentences(normaliseText(response))[0];
  return first ? words(first.text).slice(0, OPENING_WORDS).join(' ') : '';
}

/** How many responses share each opening (empty responses are not counted). */
export function openingCounts(responses: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of responses) {
    const key = openingKey(r);
    if (key) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Share of word 3-grams that repeat an earlier 3-gram of the same response (0 when under 3 words). */
export function repetitionShare(response: string): number {
  const w = words(response);
  if (w.length < 3) return 0;
  const seen = new Set<string>();
  let repeated = 0;
  for (let i = 0; i + 2 < w.length; i++) {
    const gram = `${w[i]} ${w[i + 1]} ${w[i + 2]}`;
    if (seen.has(gram)) repeated++;
    else seen.add(gram);
  }
  return repeated / (w.length - 2);
}

/** A crude stem, so "worried" echoes "worry" and "exams" echoes "exam". */
function stem(word: string): string {
  const w = word.replace(/'s$/, '');
  if (w.length > 5 && w.endsWith('ing')) return w.slice(0, -3);
  if (w.length > 4 && w.endsWith('ied')) return w.slice(0, -3) + 'y';
  if (w.length > 4 && w.endsWith('ies')) return w.slice(0, -3) + 'y';
  if (w.length > 4 && w.endsWith('ed')) return w.slice(0, -2);
  if (w.length > 3 && w.endsWith('s') && !w.endsWith('ss')) return w.slice(0, -1);
  return w;
}

function contentStems(text: string, stopwords: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const w of words(text)) if (w.length >= 4 && !stopwords.has(w) && !w.includes("'")) out.add(stem(w));
  return out;
}

/** Distinct content words of the user's turn that the response uses again. */
export function echoedWords(response: string, lastUserTurn: string, markers: EvaluationMarkers = evaluationMarkers()): number {
  const user = contentStems(normaliseText(lastUserTurn), markers.empathy.stopwords);
  if (user.size === 0) return 0;
  let n = 0;
  for (const s of contentStems(normaliseText(response), markers.empathy.stopwords)) if (user.has(s)) n++;
  return n;
}

/** Question sentences that invite more than yes or no. */
export function openQuestions(text: string, markers: EvaluationMarkers = evaluationMarkers()): number {
  const q = markers.empathy.openQuestion;
  let n = 0;
  for (const s of sentences(text)) {
    if (!s.text.endsWith('?')) continue;
    const body = s.text.replace(q.leadIn, '');
    if (matches(q.openers, body)) n++;
    else if (!matches(q.closedOpeners, body) && matches(q.wh, body)) n++;
  }
  return n;
}

/** 0, 0.7 or 1 for none, one or two and more. */
const saturate = (n: number): number => (n >= 2 ? 1 : n === 1 ? 0.7 : 0);

/**
 * Empathy markers in one response: reflection (reflective wording, or echoing at least two of
 * the person's own content words, or the one there is), validation, and open questions, less
 * penalties for dismissive and anti-empathic wording (negated or quoted wording is set aside),
 * repeated word 3-grams within the response, and an opening that more than 20% of the corpus
 * shares (when `corpus` holds at least 10 responses). Score in [0, 1]; an empty response
 * scores 0, and any dismissive or anti-empathic wording caps the score at 0.25 (0.15 when
 * anti-empathic) whatever markers it also has.
 *
 * What it can tell: markers of empathy in the wording. What it cannot: felt empathy, tone,
 * whether a reflection is accurate or a validation fits, sarcasm, or wording the vocabulary
 * does not hold; a reply can collect markers and still miss the person.
 */
export function scoreEmpathy(
  response: string,
  prompt: PromptContext,
  corpus?: { openingCounts: ReadonlyMap<string, number>; responses: number },
): EmpathyScore {
  const markers = evaluationMarkers();
  const e = markers.empathy;
  const text = normaliseText(response);
  if (text.trim() === '') {
    return {
      score: 0,
      markers: { reflection: 0, validation: 0, openQuestion: 0 },
      penalties: { dismissive: 0, antiEmpathic: 0, repetition: 0, formulaic: false },
    };
  }
  const echoed = echoedWords(text, prompt.lastUserTurn, markers);
  const userWords = contentStems(normaliseText(prompt.lastUserTurn), e.stopwords).size;
  const echoes = echoed > 0 && echoed >= Math.min(2, userWords);
  const reflection = findAll(e.reflection, text).length + (echoes ? 1 : 0);
  const validation = findAll(e.validation, text).length;
  const openQuestion = openQuestions(text, markers);
  const dismissive = findUnsuppressed(e.dismissive, text, e.suppressors).length;
  const antiEmpathic = findUnsuppressed(e.antiEmpathic, text, e.suppressors).length;
  const repetition = repetitionShare(text);
  const key = openingKey(text);
  const formulaic =
    corpus !== undefined &&
    corpus.responses >= FORMULAIC_MIN_RESPONSES &&
    key !== '' &&
    (corpus.openingCounts.get(key) ?? 0) / corpus.responses > FORMULAIC_SHARE;

  let score = 0.1 + 0.35 * saturate(reflection) + 0.3 * saturate(validation) + 0.25 * Math.min(1, openQuestion);
  score *= Math.max(0, 1 - 1.5 * Math.max(0, repetition - REPETITION_SLACK));
  if (formulaic) score *= 0.8;
  if (antiEmpathic > 0) score = Math.min(score, 0.15) * 0.7 ** (antiEmpathic + dismissive - 1);
  else if (dismissive > 0) score = Math.min(score, 0.25) * 0.7 ** (dismissive - 1);
  return {
    score: Math.round(Math.min(1, Math.max(0, score)) * 1000) / 1000,
    markers: { reflection, validation, openQuestion },
    penalties: { dismissive, antiEmpathic, repetition: Math.round(repetition * 1000) / 1000, formulaic },
  };
}
