import type { Asha } from '../contracts';

/** The step budgets a trial is judged at: minSteps, minSteps * eta, ... below maxSteps. */
export function ashaRungs(asha: Asha, maxSteps: number): number[] {
  const rungs: number[] = [];
  for (let r = asha.minSteps; r < maxSteps; r *= asha.eta) rungs.push(r);
  return rungs;
}

/** What ASHA has seen: each rung's recorded values (lower is better), in the order they came. Plain data, kept in workflow state. */
export type AshaRecord = Record<string, (number | null)[]>;

/**
 * Asynchronous successive halving's decision for a trial reaching a rung with `value` (lower is
 * better): it goes on when the value is no worse than the 1/eta quantile of the values recorded
 * at that rung so far, itself included (linear interpolation between ranks). Decisions depend only
 * on the order values arrive in, so replaying a sweep's history gives the same ones; a trial never
 * waits for a rung to fill, which is what lets freed capacity start the next trial at once.
 */
export function ashaDecide(record: AshaRecord, asha: Asha, rung: number, value: number): { record: AshaRecord; goOn: boolean } {
  // Unmeasured or diverged values are kept as null (JSON has no Infinity) and rank last.
  const seen = [...(record[String(rung)] ?? []), Number.isFinite(value) ? value : null];
  const next = { ...record, [String(rung)]: seen };
  const sorted = seen.map((v) => v ?? Infinity).sort((a, b) => a - b);
  const at = (sorted.length - 1) / asha.eta;
  const lo = Math.floor(at);
  const below = sorted[lo] as number;
  const above = sorted[Math.min(lo + 1, sorted.length - 1)] as number;
  const cutoff = at === lo || !Number.isFinite(above) ? (at === lo ? below : Infinity) : below + (at - lo) * (above - below);
  return { record: next, goOn: Number.isFinite(value) && value <= cutoff };
}

/** A trial as promotion sees it: where it stands and the validation loss at each rung it reached. */
export interface RungTrial {
  index: number;
  status: string;
  step: number;
  rungs: readonly { step: number; valLoss: number | null }[];
}

/**
 * ASHA's promotion (`mode: 'promote'`): the trial a free slot should resume, or undefined to start
 * a new one. Rungs are tried from the highest down; at each, the trials that reached it are ranked
 * by their loss there (unmeasured last, then by index), and the best one still paused there is
 * promoted if it ranks within floor(n / eta); when `relaxed` (the trial budget is spent, so no
 * new trial will add rivals) and no trial has gone on from that rung yet, the best one may go on
 * even below eta trials, so at least one trial finishes. Plain data in, so the decision replays.
 */
export function ashaPromotable(trials: readonly RungTrial[], asha: Asha, rungs: readonly number[], relaxed: boolean): number | undefined {
  for (const rung of [...rungs].sort((a, b) => b - a)) {
    const reached = trials
      // A failed trial neither competes nor holds a place.
      .filter((t) => t.status !== 'failed')
      .map((t) => ({ t, loss: t.rungs.find((r) => r.step === rung) }))
      .filter((x): x is { t: RungTrial; loss: { step: number; valLoss: number | null } } => x.loss !== undefined)
      .sort((a, b) => (a.loss.valLoss ?? Infinity) - (b.loss.valLoss ?? Infinity) || a.t.index - b.t.index);
    // Relaxed, a rung lets one trial on when none has gone on from it yet: enough for one to finish, no more.
    const goneOn = reached.filter((x) => x.t.step > rung || (x.t.status === 'running' && x.t.step === rung)).length;
    const k = Math.max(relaxed && goneOn === 0 ? 1 : 0, Math.floor(reached.length / asha.eta));
    const pick = reached.slice(0, k).find((x) => x.t.status === 'paused' && x.t.step === rung && x.loss.valLoss !== null);
    if (pick) return pick.t.index;
  }
  return undefined;
}
