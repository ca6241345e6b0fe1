import type { AugmentStrategyName } from '../../contracts';
import { contextExpansion } from './context-expansion';
import { crisisScenario } from './crisis-scenario';
import { demographic } from './demographic';
import { dialogueVariation } from './dialogue-variation';
import { paraphrase } from './paraphrase';
import type { Strategy } from './types';

export type { Strategy, StrategyContext, Variant } from './types';

/** The strategies by name; a new one is a function here plus its config and probability. */
export const STRATEGIES: Record<AugmentStrategyName, Strategy> = {
  contextExpansion,
  dialogueVariation,
  paraphrase,
  demographic,
  crisisScenario,
};
