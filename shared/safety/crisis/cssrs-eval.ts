import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { prf, type Prf } from '../evaluate';
import { assessCrisis } from './assess';
import { SEVERITY_RANK, type Severity } from './indicators';

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

export interface CssrsEvaluation extends Prf {
  users: number;
  /** Quadratic-weighted kappa between the label ladder and the assessed severity (NONE..IMMINENT). */
  severityAgreement: number;
  unparsed: number;
  atRiskThreshold: Severity;
}

/**
 * Scores crisis detection per user on the C-SSRS Reddit file: a user is flagged at risk when
 * any post reaches `threshold`; Ideation, Behavior and Attempt count as at risk.
 */
export function evaluateCssrs(file: string, threshold: Severity = 'LOW'): CssrsEvaluation {
  const rows: { User: string; Post: string; Label: string }[] = parse(readFileSync(file, 'utf8'), { columns: true, skip_empty_lines: true, relax_quotes: true });
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let unparsed = 0;
  const labels: number[] = [];
  const predicted: number[] = [];
  for (const row of rows) {
    const posts = parsePythonStringList(row.Post);
    if (!posts) unparsed += 1;
    let worst: Severity = 'NONE';
    for (const post of posts ?? [row.Post]) {
      const s = assessCrisis(post).severity;
      if (SEVERITY_RANK[s] > SEVERITY_RANK[worst]) worst = s;
    }
    const flagged = SEVERITY_RANK[worst] >= SEVERITY_RANK[threshold];
    const atRisk = AT_RISK.has(row.Label);
    if (flagged && atRisk) tp++;
    else if (flagged) fp++;
    else if (atRisk) fn++;
    labels.push(Math.max(0, CSSRS_LABELS.indexOf(row.Label as (typeof CSSRS_LABELS)[number])));
    predicted.push(SEVERITY_RANK[worst]);
  }
  return { ...prf(tp, fp, fn), users: rows.length, severityAgreement: quadraticKappa(labels, predicted, 5), unparsed, atRiskThreshold: threshold };
}
