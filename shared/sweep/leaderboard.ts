import {
  TrainConfigSchema,
  type Asha,
  type SearchParam,
  type ParsedSweepInput,
  type SweepLeaderboard,
  type SweepObjective,
  type SweepParams,
  type SweepTrial,
  type TrainConfig,
} from '../contracts';
import { ashaRungs } from './asha';
import { minimizing, nondominatedFronts } from './pareto';
import type { FinishedTrial } from './sampler';
import { applyParams } from './space';

/**
 * A trial's training config: the base config with its parameters set, measured on the same
 * validation examples as every other trial whatever its batch size, and never stopped by the
 * trainer's own early stopping (ASHA decides when a trial stops).
 */
export function trialConfig(base: ParsedSweepInput['pipeline']['train']['config'], params: SweepParams, validationExamples: number): TrainConfig {
  const config = applyParams(base, params);
  return TrainConfigSchema.parse({ ...config, evalBatches: Math.min(1000, Math.ceil(validationExamples / config.batch)), patience: 0 });
}

/**
 * Why the space cannot work with the training config, or undefined: every parameter at its low
 * end, then at its high end, must give a config the trainer accepts (warmup below steps, say).
 * Checked before a sweep starts, so a space that would fail every trial fails nothing.
 */
export function spaceProblem(input: Pick<ParsedSweepInput, 'space' | 'pipeline' | 'validationExamples' | 'asha'>): string | undefined {
  const low = (p: SearchParam) => (p.type === 'categorical' ? (p.choices[0] as string | number | boolean) : p.low);
  const high = (p: SearchParam) => (p.type === 'categorical' ? (p.choices[p.choices.length - 1] as string | number | boolean) : p.high);
  const entries = Object.entries(input.space);
  const at = (pick: (name: string, p: SearchParam) => string | number | boolean): SweepParams =>
    Object.fromEntries(entries.map(([name, p]) => [name, pick(name, p)]));
  // Every parameter low, every one high, the pairs the config orders (warmup up with steps down,
  // minLr up with lr down), and each categorical choice with the rest low.
  const points: { what: string; params: SweepParams }[] = [
    { what: 'every parameter at its low end', params: at((_, p) => low(p)) },
    { what: 'every parameter at its high end', params: at((_, p) => high(p)) },
    {
      what: 'warmupSteps and minLr at their high ends with the rest low',
      params: at((name, p) => (name === 'warmupSteps' || name === 'minLr' ? high(p) : low(p))),
    },
    ...entries.flatMap(([name, p]) =>
      p.type === 'categorical'
        ? p.choices.map((choice, i) => ({ what: `${name} choice ${i + 1} with the rest low`, params: { ...at((_, q) => low(q)), [name]: choice } }))
        : [],
    ),
  ];
  for (const { what, params } of points) {
    try {
      trialConfig(input.pipeline.train.config, params, input.validationExamples);
    } catch (err) {
      const issues = (err as { issues?: { path: PropertyKey[]; message: string }[] }).issues;
      const why = issues ? issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ') : (err as Error).message;
      return `${what} gives a training config that is refused: ${why}`;
    }
  }
  const batch = input.space.batch;
  if (batch) {
    const values =
      batch.type === 'categorical'
        ? batch.choices
        : batch.type === 'int'
          ? Array.from({ length: batch.high - batch.low + 1 }, (_, i) => batch.low + i)
          : [];
    if (values.some((v) => typeof v !== 'number' || input.validationExamples % v !== 0))
      return `batch: every value must divide validationExamples (${input.validationExamples}) so every trial is measured on the same examples: use a categorical list of divisors`;
  }
  const steps = input.space.steps;
  if (steps && input.asha.enabled && Number(low(steps)) <= input.asha.minSteps)
    return `steps: the low end must be above asha.minSteps (${input.asha.minSteps}), or early stopping never judges such a trial`;
  return undefined;
}

/** The steps a trial trains to, in order: each rung below its budget (when ASHA is on), then the budget. */
export function trialTargets(asha: Asha, steps: number): number[] {
  return [...(asha.enabled ? ashaRungs(asha, steps) : []), steps];
}

/** A finished trial's objective values in the sweep's order, or undefined while any is missing. */
export function objectiveValues(trial: Pick<SweepTrial, 'rungs' | 'metrics' | 'steps'>, objectives: readonly SweepObjective[]): number[] | undefined {
  const last = trial.rungs.find((r) => r.step === trial.steps)?.valLoss;
  const values = objectives.map((o) => (o.name === 'valLoss' ? last : trial.metrics?.[o.name as keyof NonNullable<SweepTrial['metrics']>]));
  return values.every((v): v is number => typeof v === 'number' && Number.isFinite(v)) ? values : undefined;
}

/** What the sampler learns from: completed trials with their values, and pruned ones with the rung they reached. */
export function samplerHistory(trials: readonly SweepTrial[]): FinishedTrial[] {
  const out: FinishedTrial[] = [];
  for (const t of trials) {
    if (t.status === 'completed' && t.values) out.push({ params: t.params, values: t.values });
    const last = t.rungs[t.rungs.length - 1];
    // A trial waiting at a rung counts as stopped there until it is promoted.
    if ((t.status === 'pruned' || t.status === 'paused') && last && last.valLoss !== null)
      out.push({ params: t.params, values: [], pruned: { rung: last.step, value: last.valLoss } });
  }
  return out;
}

/**
 * Trials best first: finished ones by Pareto front, then by the first objective within a front;
 * then running and pruned ones by the furthest rung reached and their loss there; failed ones last.
 * Also the Pareto front (finished trials' indices).
 */
export function rankTrials(trials: readonly SweepTrial[], objectives: readonly SweepObjective[]): { ranked: SweepTrial[]; paretoFront: number[] } {
  const finished = trials.filter((t) => t.status === 'completed' && t.values);
  const points = finished.map((t) => minimizing(t.values as number[], objectives));
  const ranked: SweepTrial[] = [];
  const fronts = nondominatedFronts(points);
  for (const front of fronts)
    ranked.push(...[...front].sort((a, b) => points[a]![0]! - points[b]![0]! || finished[a]!.index - finished[b]!.index).map((i) => finished[i]!));
  const reached = (t: SweepTrial) => t.rungs[t.rungs.length - 1];
  const rest = trials
    .filter((t) => !finished.includes(t) && t.status !== 'failed')
    .sort(
      (a, b) =>
        (reached(b)?.step ?? -1) - (reached(a)?.step ?? -1) ||
        (reached(a)?.valLoss ?? Infinity) - (reached(b)?.valLoss ?? Infinity) ||
        a.index - b.index,
    );
  ranked.push(...rest, ...trials.filter((t) => t.status === 'failed'));
  return { ranked, paretoFront: (fronts[0] ?? []).map((i) => finished[i]!.index).sort((a, b) => a - b) };
}

/** The leaderboard: trials ranked, counts, steps spent, the Pareto front and the best trial with the pipeline input that trains it. */
export function sweepLeaderboard(
  input: ParsedSweepInput,
  s: { name: string; status: SweepLeaderboard['status']; trials: readonly SweepTrial[]; budget: number; stopped?: { reason: string } },
): SweepLeaderboard {
  const { ranked, paretoFront } = rankTrials(s.trials, input.objectives);
  const count = (status: SweepTrial['status']) => s.trials.filter((t) => t.status === status).length;
  const top = ranked[0]?.status === 'completed' && ranked[0].values ? ranked[0] : undefined;
  const pipeline = input.pipeline;
  return {
    name: s.name,
    status: s.status,
    objectives: input.objectives,
    budget: s.budget,
    started: s.trials.length,
    counts: { running: count('running'), paused: count('paused'), pruned: count('pruned'), completed: count('completed'), failed: count('failed') },
    trainSteps: s.trials.reduce((a, t) => a + t.step, 0),
    fullSteps: s.trials.reduce((a, t) => a + t.steps, 0),
    trials: ranked,
    paretoFront,
    best: top
      ? {
          index: top.index,
          params: top.params,
          values: top.values as number[],
          pipelineInput: { ...pipeline, train: { ...pipeline.train, config: applyParams(pipeline.train.config, top.params) } },
        }
      : null,
    ...(s.stopped ? { stopped: s.stopped } : {}),
  };
}
