/**
 * The learning-rate schedule: linear warmup from 0 to `lr` over `warmupSteps`, then cosine decay
 * to `minLr` at `totalSteps` (and `minLr` after). Steps count from 1, as in the train step.
 */
export function learningRate(step: number, s: { lr: number; warmupSteps: number; totalSteps: number; minLr: number }): number {
  if (!Number.isFinite(step) || step < 1) throw new Error(`learningRate: step ${step} must be 1 or more`);
  if (s.warmupSteps > 0 && step <= s.warmupSteps) return (s.lr * step) / s.warmupSteps;
  const decaySteps = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / decaySteps);
  return s.minLr + (s.lr - s.minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/**
 * Early stopping: whether validation has failed to improve on `best` by more than `minDelta`
 * for `patience` evaluations in a row. Returns the updated best and the count of evaluations
 * without improvement.
 */
export function earlyStopping(
  state: { best: number; sinceBest: number },
  valLoss: number,
  patience: number,
  minDelta: number,
): { best: number; sinceBest: number; improved: boolean; stop: boolean } {
  const improved = valLoss < state.best - minDelta;
  const best = improved ? valLoss : state.best;
  const sinceBest = improved ? 0 : state.sinceBest + 1;
  return { best, sinceBest, improved, stop: patience > 0 && sinceBest >= patience };
}
