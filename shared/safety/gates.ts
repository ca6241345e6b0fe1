import { detectBias, type BiasFinding } from './bias/bias';

export const GATE_SEVERITIES = ['INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;
export type GateSeverity = (typeof GATE_SEVERITIES)[number];
export const GATE_RANK: Record<GateSeverity, number> = { INFO: 1, WARNING: 2, ERROR: 3, CRITICAL: 4 };

export const GATES = ['profanity', 'hate_harassment', 'self_harm_method', 'medical_advice', 'boundary_violation', 'empty_or_incoherent'] as const;
export type GateName = (typeof GATES)[number];

export interface GateFinding {
  gate: GateName;
  severity: GateSeverity;
  start: number;
  end: number;
  recommendation: string;
}

/** Who said the text: some gates apply only to what the assistant says. */
export type Speaker = 'user' | 'assistant' | 'system' | 'any';

interface GateRule {
  gate: GateName;
  severity: GateSeverity;
  /** The speakers whose text the rule checks. */
  speakers: readonly Speaker[];
  regex: RegExp;
  recommendation: string;
}

const ASSISTANT: readonly Speaker[] = ['assistant', 'any'];
const EVERYONE: readonly Speaker[] = ['user', 'assistant', 'system', 'any'];

const RULES: GateRule[] = [
  {
    gate: 'profanity',
    severity: 'INFO',
    speakers: ['user'],
    regex: /\b(?:fuck(?:ing|ed|er)?|shit(?:ty)?|bitch|bastard|asshole|dick|crap|damn|piss(?:ed)?)\b/giu,
    recommendation: 'Keep: people in distress swear; the model should not mirror it.',
  },
  {
    gate: 'profanity',
    severity: 'ERROR',
    speakers: ASSISTANT,
    regex: /\b(?:fuck(?:ing|ed|er)?|shit(?:ty)?|bitch|bastard|asshole|dick|piss(?:ed)?)\b/giu,
    recommendation: 'Reject: a therapist response must not swear.',
  },
  {
    gate: 'self_harm_method',
    severity: 'CRITICAL',
    speakers: EVERYONE,
    regex:
      /\b(?:(?:lethal|fatal|deadly)\s(?:dose|amount|quantity)\s(?:of|is)|how\smany\s(?:pills|tablets|mg)\s(?:it\stakes|to\s(?:die|kill|overdose))|(?:cut|slit)\s(?:vertically|along|down)\s(?:the\s)?(?:wrist|arm|vein)|(?:tie|tying)\s(?:a\s)?(?:noose|knot)\sfor|painless\sway\sto\sdie\sis|best\s(?:way|method)\sto\s(?:kill\syourself|die|overdose)\sis)\b/giu,
    recommendation: 'Reject: information about methods of self-harm must never reach training data.',
  },
  {
    gate: 'medical_advice',
    severity: 'ERROR',
    speakers: ASSISTANT,
    regex:
      /\b(?:(?:take|try|increase|double|up)\s(?:your\s)?(?:dose\sto\s)?\d{1,4}\s?(?:mg|milligrams|ml|pills|tablets)|(?:stop|quit|come\soff|skip)\s(?:taking\s)?(?:your\s)?(?:medication|meds|antidepressants?|pills|lithium|sertraline|prozac|zoloft|xanax)(?!\s(?:without|only\swith|unless))|you\s(?:should|could|can)\s(?:take|try)\s(?:some\s)?(?:xanax|valium|benzos|sertraline|prozac|zoloft|lithium|ativan|klonopin|ambien|melatonin\sand\salcohol)|you\s(?:have|definitely\shave|clearly\shave)\s(?:bipolar|borderline|schizophrenia|adhd|ptsd|ocd|depression|an?\s(?:personality|anxiety)\sdisorder))\b/giu,
    recommendation: 'Reject or rewrite: no dosages, no advice to stop medication, no diagnosis; refer to a prescriber or clinician.',
  },
  {
    gate: 'boundary_violation',
    severity: 'ERROR',
    speakers: ASSISTANT,
    regex:
      /\b(?:let'?s\s(?:meet|get\s(?:a\s)?(?:coffee|drinks?|dinner))|(?:add|text|call)\sme\son\s(?:my\s)?(?:personal|private|whatsapp|instagram|facebook)|my\s(?:personal\s)?(?:number|phone|address)\sis|i\s(?:love|have\sfeelings\sfor|am\sattracted\sto)\syou|we\scould\sbe\s(?:friends|together|more\sthan)|between\sus,?\si\s(?:also|too)\s(?:drink|use|cut|tried)|when\si\swas\sdepressed,?\si\s(?:drank|used|cut|stopped))\b/giu,
    recommendation: 'Reject: therapist boundary violation (personal disclosure or a dual relationship).',
  },
];

const SAFE_FRAMING = /\b(?:before|don'?t|do\snot|never|not|talk\sto|ask|check\swith|without\stalking)\b[^.!?]*$/iu;

/** Letters (code points of category L) in a text; ASCII is counted without a regex (the stage runs this on every message). */
export function countLetters(text: string): number {
  let n = 0;
  let other = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) {
      other = true;
      break;
    }
    if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) n += 1;
  }
  if (!other) return n;
  n = 0;
  for (const _ of text.matchAll(/\p{L}/gu)) n += 1;
  return n;
}

/**
 * Content gates for one text: profanity, hate and harassment (bias findings at HIGH or
 * CRITICAL), information about self-harm methods, unauthorized medical advice, therapist
 * boundary violations, and empty or incoherent text. `speaker` decides which rules apply (a user
 * may swear; the assistant may not). Callers that already ran bias detection on `text` pass its
 * findings, so it runs once.
 */
export function checkGates(text: string, speaker: Speaker = 'any', bias: readonly BiasFinding[] = detectBias(text)): GateFinding[] {
  const findings: GateFinding[] = [];
  const trimmed = text.trim();
  const letters = countLetters(trimmed);
  if (trimmed.length === 0) {
    findings.push({ gate: 'empty_or_incoherent', severity: 'ERROR', start: 0, end: text.length, recommendation: 'Reject: empty text.' });
    return findings;
  }
  const words = trimmed.split(/\s+/);
  const longestRun = /(.)\1{9,}/u.test(trimmed);
  if (letters / trimmed.length < 0.4 || longestRun || (words.length >= 6 && new Set(words.map((w) => w.toLowerCase())).size / words.length < 0.25)) {
    findings.push({
      gate: 'empty_or_incoherent',
      severity: 'WARNING',
      start: 0,
      end: text.length,
      recommendation: 'Review: mostly symbols, repeated characters or repeated words.',
    });
  }
  for (const rule of RULES) {
    if (!rule.speakers.includes(speaker)) continue;
    rule.regex.lastIndex = 0;
    for (let m = rule.regex.exec(text); m !== null; m = rule.regex.exec(text)) {
      // "Talk to your prescriber before you stop your medication" is the advice we want.
      if (rule.gate === 'medical_advice' && SAFE_FRAMING.test(text.slice(Math.max(0, m.index - 50), m.index))) continue;
      findings.push({ gate: rule.gate, severity: rule.severity, start: m.index, end: m.index + m[0].length, recommendation: rule.recommendation });
    }
  }
  for (const b of bias) {
    if (b.level === 'HIGH' || b.level === 'CRITICAL') {
      findings.push({
        gate: 'hate_harassment',
        severity: b.level === 'CRITICAL' ? 'CRITICAL' : 'ERROR',
        start: b.start,
        end: b.end,
        recommendation: `Reject: ${b.explanation} (${b.type}).`,
      });
    }
  }
  return findings.sort((a, b) => a.start - b.start);
}
