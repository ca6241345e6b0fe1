import { prf, type Prf } from '../evaluate';
import { assessCrisis, type CrisisAssessment } from './assess';
import { readCssrs } from '../dev-sets/load';
import type { DevSplit } from '../dev-sets/split';

/**
 * Parses a Python list literal of strings (`['a', "b's"]`), the format of the C-SSRS Reddit
 * file's Post column. Some cells were cut at a spreadsheet's 32,767-character limit, so a list
 * that ends early keeps what it has, the last string partial. Returns undefined for anything else.
 */
export function parsePythonStringList(text: string): string[] | undefined {
  const trimmed = text.trim();
  if (!trimmed.startsWith('[')) return undefined;
  // A cut list gets its end back; a cut string is closed by the loop below.
  const s = trimmed.endsWith(']') ? trimmed : `${trimmed}]`;
  const out: string[] = [];
  let i = 1;
  const skipSpace = () => {
    while (i < s.length && /[\s,]/.test(s[i] as string)) i++;
  };
  skipSpace();
  while (i < s.length - 1) {
    const quote = s[i];
    if (quote !== "'" && quote !== '"') return undefined;
    i++;
    let value = '';
    while (i < s.length && s[i] !== quote) {
      if (s[i] === '\\' && i + 1 < s.length) {
        const next = s[i + 1] as string;
        value += next === 'n' ? '\n' : next === 't' ? '\t' : next;
        i += 2;
      } else {
        value += s[i];
        i++;
      }
    }
    if (s[i] !== quote) {
      out.push(value.replace(/\]$/, ''));
      return out;
    }
    i++;
    out.push(value);
    skipSpace();
  }
  return out;
}

/** C-SSRS labels in ladder order; Ideation and above are "at risk". */
export const CSSRS_LABELS = ['Supportive', 'Indicator', 'Ideation', 'Behavior', 'Attempt'] as const;
const AT_RISK = new Set(['Ideation', 'Behavior', 'Attempt']);
const URGENT = new Set(['Behavior', 'Attempt']);

/** Quadratic-weighted Cohen's kappa between two ordinal ratings on 0..k-1. */
export function quadraticKappa(a: readonly number[], b: readonly number[], k: number): number {
  const n = a.length;
  if (n === 0 || n !== b.length) return 0;
  const observed = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const ha = new Array<number>(k).fill(0);
  const hb = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) {
    (observed[a[i] as number] as number[])[b[i] as number]! += 1;
    ha[a[i] as number]! += 1;
    hb[b[i] as number]! += 1;
  }
  let num = 0;
  let den = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const w = ((i - j) * (i - j)) / ((k - 1) * (k - 1));
      num += w * ((observed[i] as number[])[j] as number);
      den += w * (((ha[i] as number) * (hb[j] as number)) / n);
    }
  }
  return den === 0 ? 1 : Math.round((1 - num / den) * 10_000) / 10_000;
}

/**
 * Where an assessment sits on the C-SSRS label ladder: 0 Supportive (nothing), 1 Indicator
 * (distress without suicidal content: panic, hopelessness, substances), 2 Ideation (suicidal or
 * self-harm thoughts), 3 Behavior (self-harm acts, method or intent), 4 Attempt (an attempt or
 * preparation).
 */
export function cssrsLevel(a: CrisisAssessment): number {
  let level = a.severity === 'NONE' ? 0 : 1;
  for (const h of a.indicators) {
    if (h.type !== 'suicidal_ideation' && h.type !== 'self_harm') continue;
    let l = 2;
    if (h.rung === 'behaviour' && h.type === 'suicidal_ideation') l = 4;
    else if (h.rung === 'plan') l = 4;
    else if (h.rung === 'behaviour' || h.rung === 'method' || h.rung === 'intent') l = 3;
    level = Math.max(level, l);
  }
  return level;
}

export interface CssrsEvaluation extends Prf {
  /** Which part of the fixed dev split was scored (`all`: the whole file). */
  split: DevSplit | 'all';
  users: number;
  /**
   * Urgent risk: users labelled Behavior or Attempt (intent, plan, self-harm or suicidal acts)
   * against users with a post rated at level 3 or above (method, intent, plan, behaviour).
   */
  urgent: Prf;
  /** Quadratic-weighted kappa between the label ladder and the assessed severity (NONE..IMMINENT). */
  severityAgreement: number;
  unparsed: number;
  /** A user is flagged when a post reaches this level of {@link cssrsLevel} (1: any crisis finding, 2: suicidal or self-harm content). */
  atRiskLevel: number;
}

/**
 * Scores crisis detection per user on the C-SSRS Reddit file: a user is flagged at risk when
 * any post reaches `atRiskLevel` on the label ladder ({@link cssrsLevel}); Ideation, Behavior
 * and Attempt count as at risk. Severity agreement compares the ladders with weighted kappa.
 */
export function evaluateCssrs(file: string, atRiskLevel = 1, split?: DevSplit): CssrsEvaluation {
  const users = readCssrs(file, parsePythonStringList, split);
  const urgent = { tp: 0, fp: 0, fn: 0 };
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let unparsed = 0;
  const labels: number[] = [];
  const predicted: number[] = [];
  for (const user of users) {
    if (!user.posts) unparsed += 1;
    let worst = 0;
    for (const post of user.posts ?? [user.raw]) worst = Math.max(worst, cssrsLevel(assessCrisis(post)));
    // Flagged as the stage labels crisis: any crisis finding (level 1 and up) by default, since
    // missing a person at risk costs more than a false alarm.
    const flagged = worst >= atRiskLevel;
    const atRisk = AT_RISK.has(user.label);
    if (flagged && atRisk) tp++;
    else if (flagged) fp++;
    else if (atRisk) fn++;
    const urgentLabel = URGENT.has(user.label);
    const urgentFlag = worst >= 3;
    if (urgentFlag && urgentLabel) urgent.tp++;
    else if (urgentFlag) urgent.fp++;
    else if (urgentLabel) urgent.fn++;
    labels.push(Math.max(0, CSSRS_LABELS.indexOf(user.label as (typeof CSSRS_LABELS)[number])));
    predicted.push(worst);
  }
  return {
    ...prf(tp, fp, fn),
    split: split ?? 'all',
    users: users.length,
    urgent: prf(urgent.tp, urgent.fp, urgent.fn),
    severityAgreement: quadraticKappa(labels, predicted, 5),
    unparsed,
    atRiskLevel,
  };
}
