import { CancelledFailure, Context } from '@temporalio/activity';
import type { ArtifactStore } from '../shared/artifacts';
import {
  BuildValidationSetInputSchema,
  GenerateEvaluationInputSchema,
  QuickEvaluateInputSchema,
  ResolveBaselineInputSchema,
  ScoreEvaluationInputSchema,
  invalidInput,
  parseInput,
  type BuildValidationSetInput,
  type BuildValidationSetResult,
  type GenerateEvaluationInput,
  type GenerateEvaluationResult,
  type QuickEvaluateInput,
  type QuickEvaluateResult,
  type ResolveBaselineInput,
  type ResolveBaselineResult,
  type ScoreEvaluationInput,
  type ScoreEvaluationResult,
} from '../shared/contracts';
import {
  EvaluationInputError,
  buildEvaluationSet,
  generateEvaluationOutputs,
  resolveBaseline,
  scoreEvaluation,
} from '../shared/evaluation/evaluate-model';
import { quickEvaluate } from '../shared/evaluation/quick-evaluate';
import type { DetectionEngine } from '../shared/safety/engine';
import { createPiiEngine } from '../shared/safety/pii';
import type { AcceleratorInfo } from './accelerator';

/** Runs a domain call, turning input it cannot use into the non-retryable `InvalidInput` failure. */
async function mapInputErrors<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof EvaluationInputError) throw invalidInput(err.message);
    throw err;
  }
}

/** Evaluation activities of the CPU queue: the validation set, the baseline, and scoring (see `shared/evaluation/evaluate-model.ts`). */
export function createEvaluationCpuActivities(store: ArtifactStore) {
  let engine: DetectionEngine | undefined;
  return {
    async buildValidationSetActivity(input: BuildValidationSetInput): Promise<BuildValidationSetResult> {
      const { shards, config } = parseInput(BuildValidationSetInputSchema, 'buildValidationSet input', input);
      return mapInputErrors(() => buildEvaluationSet(store, shards, config));
    },

    async resolveEvaluationBaselineActivity(input: ResolveBaselineInput): Promise<ResolveBaselineResult> {
      const parsed = parseInput(ResolveBaselineInputSchema, 'resolveEvaluationBaseline input', input);
      return mapInputErrors(() => resolveBaseline(store, parsed));
    },

    async scoreEvaluationActivity(input: ScoreEvaluationInput): Promise<ScoreEvaluationResult> {
      const parsed = parseInput(ScoreEvaluationInputSchema, 'scoreEvaluation input', input);
      const ctx = Context.current();
      engine ??= createPiiEngine();
      const result = await mapInputErrors(() => scoreEvaluation(store, { ...parsed, engine: engine!, onPhase: (phase) => ctx.heartbeat({ phase }) }));
      ctx.log.info('evaluation scored', {
        items: result.headline.items,
        decision: result.verdict.decision,
        safetyBlocked: result.verdict.safetyBlocked,
        review: result.reviewItemIds.length,
      });
      return result;
    },
  };
}

/** Evaluation activities of the GPU queue: one model's responses and test loss. */
export function createEvaluationGpuActivities(deps: { store: ArtifactStore; accelerator: AcceleratorInfo }) {
  let engine: DetectionEngine | undefined;
  return {
    /** A sweep trial's quick evaluation: a few fixed validation prompts answered and scored (see `quickEvaluate`). */
    async quickEvaluateActivity(input: QuickEvaluateInput): Promise<QuickEvaluateResult> {
      const parsed = parseInput(QuickEvaluateInputSchema, 'quickEvaluate input', input);
      const ctx = Context.current();
      engine ??= createPiiEngine();
      try {
        return await mapInputErrors(() =>
          quickEvaluate(deps.store, {
            ...parsed,
            executionProvider: deps.accelerator.executionProvider,
            engine: engine!,
            signal: ctx.cancellationSignal,
            onProgress: (p) => ctx.heartbeat(p),
          }),
        );
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw new CancelledFailure('quick evaluation cancelled');
        throw err;
      }
    },

    async generateEvaluationOutputsActivity(input: GenerateEvaluationInput): Promise<GenerateEvaluationResult> {
      const parsed = parseInput(GenerateEvaluationInputSchema, 'generateEvaluationOutputs input', input);
      const ctx = Context.current();
      try {
        const result = await mapInputErrors(() =>
          generateEvaluationOutputs(deps.store, {
            ...parsed,
            executionProvider: deps.accelerator.executionProvider,
            signal: ctx.cancellationSignal,
            onProgress: (p) => ctx.heartbeat(p),
          }),
        );
        ctx.log.info('evaluation outputs', {
          modelSha: result.modelSha.slice(0, 12),
          responses: result.responses,
          lossRecords: result.lossRecords,
          executionProvider: result.executionProvider,
          ms: result.durationMs,
          cacheHit: result.cacheHit,
        });
        return result;
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw new CancelledFailure('generation cancelled');
        throw err;
      }
    },
  };
}
