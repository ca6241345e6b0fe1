import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { detectBias, groupsMentioned, type BiasType } from './bias';

export interface GroupOutcome {
  groups: { type: BiasType; group: string }[];
  /** Outcomes to compare across groups, e.g. { crisisFlag: true, rejected: false }. */
  outcomes: Record<string, boolean>;
}

export interface FairnessReport {
  /** Records mentioning each group, by type: how balanced the data's representation is. */
  representation: Record<string, Record<string, number>>;
  /** Per outcome: the rate for each group (with at least `minCount` records) and the largest gap. */
  parity: Record<string, { rates: Record<string, number>; maxGap: number; groups: number }>;
}

/**
 * Dataset-level fairness: how often each group is mentioned, and demographic parity of outcomes
 * (crisis flags, rejections) across the groups mentioned. Groups with fewer than `minCount`
 * records are left out of parity, where a rate would be noise.
 */
export function fairnessReport(records: Iterable<GroupOutcome>, minCount = 20): FairnessReport {
  const representation: Record<string, Record<string, number>> = {};
  const tallies = new Map<string, Map<string, { n: number; yes: number }>>();
  for (const r of records) {
    for (const g of r.groups) {
      (representation[g.type] ??= {})[g.group] = (representation[g.type]?.[g.group] ?? 0) + 1;
      for (const [outcome, value] of Object.entries(r.outcomes)) {
        const perGroup = tallies.get(outcome) ?? new Map<string, { n: number; yes: number }>();
        tallies.set(outcome, perGroup);
        const t = perGroup.get(g.group) ?? { n: 0, yes: 0 };
        t.n += 1;
        if (value) t.yes += 1;
        perGroup.set(g.group, t);
      }
    }
  }
  const asCounts: Record<string, Record<string, { n: number; yes: number }>> = {};
  for (const [outcome, perGroup] of tallies) asCounts[outcome] = Object.fromEntries(perGroup);
  const parity = parityFromTallies(asCounts, minCount);
  return { representation, parity };
}

/** Demographic parity from counts: per outcome, per group `{ n, yes }`. */
export function parityFromTallies(tallies: Record<string, Record<string, { n: number; yes: number }>>, minCount = 20): FairnessReport['parity'] {
  const parity: FairnessReport['parity'] = {};
  for (const [outcome, perGroup] of Object.entries(tallies)) {
    const rates: Record<string, number> = {};
    for (const [group, t] of Object.entries(perGroup)) if (t.n >= minCount) rates[group] = Math.round((t.yes / t.n) * 10_000) / 10_000;
    const values = Object.values(rates);
    parity[outcome] = {
      rates,
      maxGap: values.length > 1 ? Math.round((Math.max(...values) - Math.min(...values)) * 10_000) / 10_000 : 0,
      groups: values.length,
    };
  }
  return parity;
}

/**
 * CrowS-Pairs: for each bias type, how often the more-stereotyping sentence of a pair is flagged
 * and how often the less-stereotyping one is. A detector that tells them apart flags the first
 * more often.
 */
export function evaluateCrowsPairs(file: string): Record<string, { pairs: number; moreFlagged: number; lessFlagged: number }> {
  const rows: { sent_more: string; sent_less: string; bias_type: string }[] = parse(readFileSync(file, 'utf8'), {
    columns: true,
    skip_empty_lines: true,
    relax_quotes: true,
  });
  const out: Record<string, { pairs: number; moreFlagged: number; lessFlagged: number; more: number; less: number }> = {};
  for (const row of rows) {
    const t = (out[row.bias_type] ??= { pairs: 0, moreFlagged: 0, lessFlagged: 0, more: 0, less: 0 });
    t.pairs += 1;
    if (detectBias(row.sent_more).length > 0) t.more += 1;
    if (detectBias(row.sent_less).length > 0) t.less += 1;
  }
  const result: Record<string, { pairs: number; moreFlagged: number; lessFlagged: number }> = {};
  for (const [type, t] of Object.entries(out)) {
    result[type] = {
      pairs: t.pairs,
      moreFlagged: Math.round((t.more / t.pairs) * 10_000) / 10_000,
      lessFlagged: Math.round((t.less / t.pairs) * 10_000) / 10_000,
    };
  }
  return result;
}

export { groupsMentioned };
