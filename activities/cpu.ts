import type { ArtifactStore } from '../shared/artifacts';
import { createAugmentActivities } from './augment';
import { createEvaluationCpuActivities } from './evaluate';
import { createReviewActivities } from './review';
import { createPrepareActivity } from './prepare';
import { createSafetyActivities } from './safety';
import { createSweepActivities } from './sweep';
import { createTrainingActivities } from './model-artifacts';

/** Everything the CPU worker registers. Workflows import this file's types only. */
export function createCpuActivities(deps: { store: ArtifactStore }) {
  return {
    prepareDatasetActivity: createPrepareActivity(deps.store),
    ...createSafetyActivities(deps.store),
    ...createAugmentActivities(deps.store),
    ...createTrainingActivities(deps.store),
    ...createEvaluationCpuActivities(deps.store),
    ...createReviewActivities(deps.store),
    ...createSweepActivities(deps.store),
  };
}

export type CpuActivities = ReturnType<typeof createCpuActivities>;
