import {
  BARE_MENTION,
  FIRST_PERSON,
  HELPING_OTHERS,
  IDIOM,
  IMMEDIATE,
  INDICATORS,
  NEGATION,
  PAST,
  PROTECTIVE,
  RESOURCE,
  SECOND_PERSON,
  SHORT_TERM,
  SOMEONE_ELSES,
  THIRD_PERSON,
  TRIGGERS,
  type Indicator,
  type Rung,
} from './indicators';
import { CRISIS_SEVERITIES, CRISIS_SEVERITY_RANK, type CrisisSeverity, type CrisisType } from '../../contracts/crisis';

export type Timeline = 'none' | 'ongoing' | 'short_term' | 'immediate';

export interface IndicatorHit {
  id: string;
  type: CrisisType;
  rung: Rung;
  severity: CrisisSeverity;
  start: number;
  end: number;
  /** True when the sentence places it in the past (history, not current risk). */
  past: boolean;
  /** The topic named without the writer in the sentence ("suicide is never the answer"): LOW. */
  mention?: boolean;
}

export type SuppressionReason = 'negated' | 'third_person' | 'second_person' | 'helping_others' | 'idiom' | 'resource';

export interface SuppressedHit {
  id: string;
  type: CrisisType;
  start: number;
  end: number;
  reason: SuppressionReason;
}

export type ProtocolName = 'none' | 'supportive' | 'assess' | 'crisis_line' | 'emergency';

export interface Protocol {
  name: ProtocolName;
  actions: string[];
}

export interface CrisisAssessment {
  severity: CrisisSeverity;
  types: CrisisType[];
  /** Confidence in the assessed severity, in [0, 1]. */
  confidence: number;
  timeline: Timeline;
  indicators: IndicatorHit[];
  /** Crisis phrases that were recognised and set aside, and why (negation, someone else, idiom). */
  suppressed: SuppressedHit[];
  protectiveFactors: { id: string; start: number; end: number }[];
  protocol: Protocol;
}

export const PROTOCOLS: Readonly<Record<CrisisSeverity, Protocol>> = {
  NONE: { name: 'none', actions: [] },
  LOW: {
    name: 'supportive',
    actions: ['acknowledge and validate', 'ask open questions about how they are coping', 'mention that support is available'],
  },
  MODERATE: {
    name: 'assess',
    actions: [
      'acknowledge and validate',
      'ask directly about thoughts of suicide or self-harm',
      'offer a crisis line (988 in the US)',
      'encourage contact with a professional',
    ],
  },
  HIGH: {
    name: 'crisis_line',
    actions: [
      'acknowledge and take it seriously',
      'assess immediate safety',
      'give a crisis line (call or text 988 in the US) now',
      'encourage reaching a trusted person and professional help today',
      'flag for human review',
    ],
  },
  IMMINENT: {
    name: 'emergency',
    actions: [
      'acknowledge and stay with them',
      'give the emergency number (911 / local) and the crisis line (988) now',
      'encourage moving away from means and not being alone',
      'escalate to a human immediately',
    ],
  },
};

/** Explicit rungs set a floor that protective factors cannot lower. */
const EXPLICIT: ReadonlySet<Rung> = new Set(['intent', 'plan', 'behaviour']);
const NEGATION_EMBEDDED = new Set(['not-want-live', 'thoughts-3']);

function sentences(text: string): { start: number; text: string }[] {
  const out: { start: number; text: string }[] = [];
  const re = /[^.!?\n]+[.!?]*/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) out.push({ start: m.index, text: m[0] });
  return out;
}

/**
 * How far before a match the prefix patterns are read. NEGATION, THIRD_PERSON, SECOND_PERSON and
 * the "I just before" check are anchored at the match and reach at most about 55 characters back,
 * so reading a window (less a word it cuts) gives the same answers as reading the whole clause,
 * and keeps each match's checks bounded: a long unpunctuated text full of matches stays linear.
 */
const PREFIX_WINDOW = 120;
const WORD_CHAR = /[\p{L}\p{N}'’]/u;

/** The text of `sentence` before offset `at`, at most PREFIX_WINDOW characters back, not starting inside a word. */
function prefixBefore(sentence: string, at: number): string {
  let from = Math.max(0, at - PREFIX_WINDOW);
  if (from > 0) while (from < at && WORD_CHAR.test(sentence[from - 1] as string) && WORD_CHAR.test(sentence[from] as string)) from += 1;
  return sentence.slice(from, at);
}

function raise(severity: CrisisSeverity, by: number): CrisisSeverity {
  return CRISIS_SEVERITIES[Math.min(4, CRISIS_SEVERITY_RANK[severity] + by)] as CrisisSeverity;
}

/**
 * Assesses one text for crisis: which types, how severe (NONE..IMMINENT, following the C-SSRS
 * ladder for suicide), how soon, what protects, and what response protocol fits. Negated phrases,
 * phrases about someone else or addressed to the reader, questions about helping someone, names of
 * services ("suicide hotline") and idioms are set aside (and
 * reported as suppressed); past events count only as LOW (history).
 */
export function assessCrisis(text: string, indicators: readonly Indicator[] = INDICATORS): CrisisAssessment {
  const hits: IndicatorHit[] = [];
  const suppressed: SuppressedHit[] = [];
  let immediate = false;
  let shortTerm = false;
  // Each indicator runs once over the whole text (not once per sentence); a match is then judged
  // within its sentence. Texts without any trigger word skip the pass.
  const parts = TRIGGERS.test(text) ? sentences(text) : [];
  const bySentence = new Map<number, IndicatorHit[]>();
  const sentenceOf = (offset: number): number => {
    let lo = 0;
    let hi = parts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((parts[mid] as { start: number }).start <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  // Whole-sentence facts, read once per sentence (not once per match: a sentence of a megabyte
  // may hold tens of thousands of matches).
  const facts = new Map<number, { helping: boolean; past: boolean; firstPerson: boolean }>();
  const factsOf = (index: number) => {
    let f = facts.get(index);
    if (!f) {
      const text = (parts[index] as { text: string }).text;
      f = { helping: HELPING_OTHERS.test(text), past: PAST.test(text), firstPerson: FIRST_PERSON.test(text) };
      facts.set(index, f);
    }
    return f;
  };
  if (parts.length > 0) {
    for (const indicator of indicators) {
      indicator.regex.lastIndex = 0;
      for (let m = indicator.regex.exec(text); m !== null; m = indicator.regex.exec(text)) {
        if (m[0].length === 0) {
          indicator.regex.lastIndex += 1;
          continue;
        }
        const start = m.index;
        const end = start + m[0].length;
        const index = sentenceOf(start);
        const sentence = parts[index] as { start: number; text: string };
        const lower = sentence.text;
        const at = start - sentence.start;
        const prefix = prefixBefore(lower, at);
        const around = lower.slice(Math.max(0, at - 25), at + m[0].length + 25);
        let reason: SuppressionReason | undefined;
        const firstPersonMatch = FIRST_PERSON.test(m[0]);
        const iJustBefore = /\b(?:i|i'm|im)\b[^.!?]{0,30}$/iu.test(prefix);
        if (IDIOM.test(around)) reason = 'idiom';
        else if (RESOURCE.test(around) && !firstPersonMatch) reason = 'resource';
        else if (SOMEONE_ELSES.test(around)) reason = 'third_person';
        else if (!NEGATION_EMBEDDED.has(indicator.id) && NEGATION.test(prefix)) reason = 'negated';
        else if (factsOf(index).helping) reason = 'helping_others';
        else if (!firstPersonMatch && THIRD_PERSON.test(prefix) && !iJustBefore) reason = 'third_person';
        else if (!firstPersonMatch && SECOND_PERSON.test(prefix) && !iJustBefore) reason = 'second_person';
        if (reason) {
          suppressed.push({ id: indicator.id, type: indicator.type, start, end, reason });
          continue;
        }
        const list = bySentence.get(index) ?? [];
        // "Suicide is never the answer": the topic, with no first person in the sentence, is kept
        // (a person at risk may write it that way) but only as a LOW mention, not as active thoughts.
        const mention = BARE_MENTION.test(m[0]) && !factsOf(index).firstPerson;
        list.push({
          id: indicator.id,
          type: indicator.type,
          rung: mention ? 'distress' : indicator.rung,
          severity: mention ? 'LOW' : indicator.severity,
          start,
          end,
          past: factsOf(index).past,
          ...(mention ? { mention: true } : {}),
        });
        bySentence.set(index, list);
      }
    }
  }
  for (const index of [...bySentence.keys()].sort((a, b) => a - b)) {
    const sentenceHits = bySentence.get(index) as IndicatorHit[];
    const lower = (parts[index] as { text: string }).text;
    if (sentenceHits.some((h) => !h.past)) {
      if (IMMEDIATE.test(lower)) immediate = true;
      else if (SHORT_TERM.test(lower)) shortTerm = true;
    }
    hits.push(...sentenceHits.sort((a, b) => a.start - b.start));
  }
  suppressed.sort((a, b) => a.start - b.start);

  const protectiveFactors: CrisisAssessment['protectiveFactors'] = [];
  // Protective factors qualify a risk; a text with no crisis language at all has none to qualify.
  if (hits.length > 0 || suppressed.length > 0)
    for (const p of PROTECTIVE) {
      const m = p.regex.exec(text);
      if (m) protectiveFactors.push({ id: p.id, start: m.index, end: m.index + m[0].length });
    }

  const current = hits.filter((h) => !h.past);
  let severity: CrisisSeverity = 'NONE';
  for (const h of hits) {
    const s: CrisisSeverity = h.past ? 'LOW' : h.severity;
    if (CRISIS_SEVERITY_RANK[s] > CRISIS_SEVERITY_RANK[severity]) severity = s;
  }
  const timeline: Timeline = hits.length === 0 ? 'none' : immediate ? 'immediate' : shortTerm ? 'short_term' : 'ongoing';
  // Immediacy escalates: thoughts or intent "tonight" are a step more urgent.
  const suicidalOrHarm = current.some(
    (h) => h.type === 'suicidal_ideation' || h.type === 'self_harm' || h.type === 'violence' || h.type === 'psychosis',
  );
  if (timeline === 'immediate' && suicidalOrHarm && CRISIS_SEVERITY_RANK[severity] >= CRISIS_SEVERITY_RANK.MODERATE) severity = raise(severity, 1);
  else if (timeline === 'short_term' && suicidalOrHarm && CRISIS_SEVERITY_RANK[severity] >= CRISIS_SEVERITY_RANK.HIGH) severity = raise(severity, 1);
  // Several current suicidal rungs together (thoughts and a method) outweigh any one of them.
  const rungs = new Set(current.filter((h) => h.type === 'suicidal_ideation').map((h) => h.rung));
  if (rungs.size >= 3 && CRISIS_SEVERITY_RANK[severity] < CRISIS_SEVERITY_RANK.HIGH) severity = 'HIGH';

  const explicit = current.some((h) => EXPLICIT.has(h.rung));
  let confidence: number;
  if (hits.length === 0) {
    confidence = suppressed.length > 0 ? 0.75 : 0.9;
  } else {
    const weights = hits.map((h) => (indicators.find((i) => i.id === h.id)?.weight ?? 0.5) * (h.past ? 0.8 : 1));
    confidence = Math.max(...weights) + 0.05 * (new Set(hits.map((h) => h.id)).size - 1);
    // Protective factors lower confidence of risk, never below what explicit intent sets.
    confidence -= 0.1 * protectiveFactors.length;
    confidence = Math.max(explicit ? 0.8 : 0.3, Math.min(0.99, confidence));
  }
  const types = [...new Set(hits.map((h) => h.type))];
  return {
    severity,
    types,
    confidence: Math.round(confidence * 100) / 100,
    timeline,
    indicators: hits,
    suppressed,
    protectiveFactors,
    protocol: PROTOCOLS[severity],
  };
}
