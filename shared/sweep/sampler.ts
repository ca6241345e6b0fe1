import type { SearchParam, SearchSpace, SweepObjective, SweepParams, SweepSampler } from '../contracts';
import { Rng } from '../util/rng';
import { minimizing, rankPoints } from './pareto';
import { drawParams, fromUnit, toUnit } from './space';

/** A finished trial as the sampler sees it: its parameters and its objective values, in the sweep's objective order. */
export interface FinishedTrial {
  params: SweepParams;
  values: readonly number[];
  /**
   * Set on a trial early stopping ended: the furthest rung it reached and its validation loss
   * there (`values` is then ignored). Such trials rank after every completed one, deeper rungs
   * first, then by that loss: ASHA already judged them worse than the trials it let go on.
   */
  pruned?: { rung: number; value: number };
}

/** The standard normal CDF (Abramowitz and Stegun 7.1.26, error below 1.5e-7). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return 0.5 * (1 + (x < 0 ? -erf : erf));
}

/**
 * A Parzen estimator on [0, 1]: a truncated Gaussian at each observation, with a bandwidth from
 * its neighbours' distances (at least 1 / min(100, n + 1) of the range), plus a uniform prior of
 * one observation's weight, so no region ever has zero density.
 */
class Parzen {
  private readonly mus: number[];
  private readonly sigmas: number[];
  private readonly norms: number[];
  private readonly weight: number;

  constructor(observations: readonly number[]) {
    this.mus = [...observations].sort((a, b) => a - b);
    const n = this.mus.length;
    const minSigma = 1 / Math.min(100, n + 1);
    this.sigmas = this.mus.map((mu, i) => {
      const left = mu - (i > 0 ? (this.mus[i - 1] as number) : 0);
      const right = (i < n - 1 ? (this.mus[i + 1] as number) : 1) - mu;
      return Math.min(1, Math.max(minSigma, left, right));
    });
    this.norms = this.mus.map((mu, i) => normalCdf((1 - mu) / (this.sigmas[i] as number)) - normalCdf((0 - mu) / (this.sigmas[i] as number)));
    this.weight = 1 / (n + 1);
  }

  density(x: number): number {
    let d = this.weight; // the uniform prior's density on [0, 1] is 1
    this.mus.forEach((mu, i) => {
      const s = this.sigmas[i] as number;
      const z = (x - mu) / s;
      d += (this.weight * Math.exp(-0.5 * z * z)) / (s * Math.sqrt(2 * Math.PI) * Math.max(1e-12, this.norms[i] as number));
    });
    return d;
  }

  sample(rng: Rng): number {
    const k = rng.int(this.mus.length + 1);
    if (k === this.mus.length) return rng.next();
    const mu = this.mus[k] as number;
    const s = this.sigmas[k] as number;
    for (let tries = 0; tries < 32; tries++) {
      // Box-Muller
      const u = Math.max(1e-12, rng.next());
      const x = mu + s * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
      if (x >= 0 && x <= 1) return x;
    }
    return Math.min(1, Math.max(0, mu));
  }
}

/** Categorical weights: each choice's count among the observations plus a prior of one observation spread over the choices. */
function categoricalWeights(choices: readonly unknown[], observed: readonly unknown[]): number[] {
  const prior = 1 / choices.length;
  return choices.map((c) => (observed.filter((o) => o === c).length + prior) / (observed.length + 1));
}

function pick(weights: readonly number[], rng: Rng): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let r = rng.next() * total;
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i] as number;
    if (r < 0) return i;
  }
  return weights.length - 1;
}

/**
 * The parameters of trial `index`. Random search, and TPE's first `startupTrials`, draw uniformly
 * (log-uniformly for log-scaled parameters). After that, TPE (tree-structured Parzen estimator,
 * univariate) splits the finished trials into the best `gamma` share and the rest (by value; with
 * several objectives by Pareto front, then crowding distance, as MOTPE does), models each
 * parameter's density l(x) over the good ones and g(x) over the rest, draws `candidates` values
 * from l and keeps the one with the highest l(x) / g(x). Every draw comes from the sweep's seed,
 * the trial index and the parameter's name, and the finished trials are taken in the order given:
 * the same history always proposes the same trial, so a workflow replaying it is deterministic.
 */
export function suggestTrial(
  space: SearchSpace,
  sampler: SweepSampler,
  objectives: readonly SweepObjective[],
  index: number,
  finished: readonly FinishedTrial[],
): SweepParams {
  const complete = finished.filter((t) => !t.pruned && t.values.length === objectives.length && t.values.every(Number.isFinite));
  const pruned = finished
    .filter((t) => t.pruned && Number.isFinite(t.pruned.value))
    .map((t, i) => ({ t, i }))
    .sort((a, b) => b.t.pruned!.rung - a.t.pruned!.rung || a.t.pruned!.value - b.t.pruned!.value || a.i - b.i)
    .map((x) => x.t);
  const total = complete.length + pruned.length;
  if (sampler.kind === 'random' || total < sampler.startupTrials) return drawParams(space, Rng.for(sampler.seed, 'sweep', String(index)));
  const ranked = [...rankPoints(complete.map((t) => minimizing(t.values, objectives))).map((i) => complete[i] as FinishedTrial), ...pruned];
  const goodCount = Math.max(1, Math.ceil(sampler.gamma * total));
  const good = ranked.slice(0, goodCount);
  const bad = ranked.slice(goodCount);
  const out: SweepParams = {};
  for (const name of Object.keys(space).sort()) {
    const p = space[name] as SearchParam;
    const rng = Rng.for(sampler.seed, 'sweep', String(index), name);
    if (p.type === 'categorical') {
      const l = categoricalWeights(
        p.choices,
        good.map((t) => t.params[name]),
      );
      const g = categoricalWeights(
        p.choices,
        bad.map((t) => t.params[name]),
      );
      let best = 0;
      let bestScore = -Infinity;
      for (let c = 0; c < sampler.candidates; c++) {
        const i = pick(l, rng);
        const score = Math.log(l[i] as number) - Math.log(g[i] as number);
        if (score > bestScore) [best, bestScore] = [i, score];
      }
      out[name] = p.choices[best] as string | number | boolean;
      continue;
    }
    const unit = (t: FinishedTrial) => toUnit(p, Number(t.params[name]));
    const l = new Parzen(good.map(unit));
    const g = new Parzen(bad.map(unit));
    let best = 0.5;
    let bestScore = -Infinity;
    for (let c = 0; c < sampler.candidates; c++) {
      const x = l.sample(rng);
      const score = Math.log(l.density(x)) - Math.log(g.density(x));
      if (score > bestScore) [best, bestScore] = [x, score];
    }
    out[name] = fromUnit(p, best);
  }
  return out;
}
