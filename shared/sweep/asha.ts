import type { Asha } from '../contracts';

/** The step budgets a trial is judged at: minSteps, minSteps * eta, ... below maxSteps. */
export function ashaRungs(asha: Asha, maxSteps: number): number[] {
  const rungs: number[] = [];
  for (let r = asha.minSteps; r < maxSteps; r *= asha.eta) rungs.push(r);
  return rungs;
}

/** What ASHA has seen: each rung's recorded values (lower is better), in the order they came. Plain data, kept in workflow state. */
export type AshaRecord = Record<string, number[]>;

/**
 * Asynchronous successive halving's decision for a trial reaching a rung with `value` (lower is
 * better): it goes on when the value is no worse than the 1/eta quantile of the values recorded
 * at that rung so far, itself included (linear interpolation between ranks). Decisions depend only
 * on the order values arrive in, so replaying a sweep's history gives the same ones; a trial never
 * waits for a rung to fill, which is what lets freed capacity start the next trial at once.
 */
export function ashaDecide(record: AshaRecord, asha: Asha, rung: number, value: number): { record: AshaRecord; goOn: boolean } {
  const seen = [...(record[String(rung)] ?? []), Number.isFinite(value) ? value : Infinity];
  const next = { ...record, [String(rung)]: seen };
  const sorted = [...seen].sort((a, b) => a - b);
  const at = (sorted.length - 1) / asha.eta;
  const lo = Math.floor(at);
  const below = sorted[lo] as number;
  const above = sorted[Math.min(lo + 1, sorted.length - 1)] as number;
  const cutoff = at === lo || !Number.isFinite(above) ? (at === lo ? below : Infinity) : below + (at - lo) * (above - below);
  return { record: next, goOn: Number.isFinite(value) && value <= cutoff };
}
