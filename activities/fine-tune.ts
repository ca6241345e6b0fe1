import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { ArtifactStore } from '../shared/artifacts';
import {
  ErrorTypes,
  TrainConfigSchema,
  TrainModelInputSchema,
  TrainTrialSegmentInputSchema,
  TrainingUnchangedInputSchema,
  invalidInput,
  parseInput,
  type TrainModelInput,
  type TrainModelResult,
  type TrainingUnchangedInput,
  type TrainingUnchangedResult,
  type TrainTrialSegmentInput,
  type TrainTrialSegmentResult,
} from '../shared/contracts';
import { FineTuneCancelled, FineTuneInputError, TrainingError, fineTune, type FineTuneOptions } from '../shared/training/fine-tune';
import { BaseModelError, resolveBaseModel } from '../shared/training/model/base-model';
import { unchangedSincePromotion } from '../shared/training/training-key';
import type { AcceleratorInfo } from './accelerator';
import type { PipelineMetrics } from '../shared/metrics/pipeline';

export type { TrainModelInput, TrainModelResult };

/**
 * Fine-tuning as an activity of the GPU queue (see `shared/training/fine-tune.ts`). Progress
 * goes out as heartbeat details only (step, loss, val loss, tokens/s, ETA, checkpoint): the
 * Temporal UI shows them on the pending activity, a retry resumes from them, and they add
 * nothing to the workflow's history. A cancellation from the workflow (a person's stop, or the
 * run being cancelled) finishes training with its best checkpoint and returns the model; a
 * worker shutting down checkpoints and fails the attempt, so the retry resumes.
 */
export function createTrainActivities(deps: { store: ArtifactStore; accelerator: AcceleratorInfo; metrics?: PipelineMetrics }) {
  async function train(o: Pick<FineTuneOptions, 'config' | 'dataManifestUri' | 'runId' | 'segment'>): Promise<TrainModelResult> {
    const ctx = Context.current();
    const stop = new AbortController();
    const abort = new AbortController();
    ctx.cancellationSignal.addEventListener(
      'abort',
      () => {
        const details = ctx.cancellationDetails;
        if (details?.cancelRequested && !details.workerShutdown && !details.timedOut) stop.abort();
        else abort.abort(ctx.cancellationSignal.reason);
      },
      { once: true },
    );
    try {
      return await fineTune({
        ...o,
        store: deps.store,
        executionProvider: deps.accelerator.executionProvider,
        previous: ctx.info.heartbeatDetails,
        stop: stop.signal,
        abort: abort.signal,
        onProgress: (beat) => {
          ctx.heartbeat(beat);
          deps.metrics?.training(beat);
        },
        onLog: (message, attributes) => {
          ctx.log.info(message, attributes);
        },
      });
    } catch (err) {
      if (err instanceof FineTuneInputError) throw invalidInput(err.message);
      if (err instanceof FineTuneCancelled) throw new CancelledFailure(err.message);
      if (err instanceof TrainingError && err.kind === 'NonFiniteLossError')
        throw ApplicationFailure.nonRetryable(err.message, ErrorTypes.NonFiniteLoss);
      if (err instanceof TrainingError && err.kind === 'ZodError') throw invalidInput(err.message);
      throw err;
    }
  }

  return {
    /**
     * Whether the promoted model was trained from exactly what the train stage is about to
     * train from (same data, config and base model). On the GPU queue: that worker has the base
     * model, whose weights the key hashes.
     */
    async trainingUnchangedActivity(input: TrainingUnchangedInput): Promise<TrainingUnchangedResult> {
      const { dataManifestUri, config } = parseInput(TrainingUnchangedInputSchema, 'trainingUnchanged input', input);
      let modelDir: string;
      try {
        modelDir = await resolveBaseModel(config.model);
      } catch (err) {
        if (err instanceof BaseModelError) throw invalidInput(err.message);
        throw err;
      }
      return unchangedSincePromotion(deps.store, dataManifestUri, config, modelDir);
    },
    async trainModelActivity(input: TrainModelInput): Promise<TrainModelResult> {
      const { config, dataManifestUri, runId } = parseInput(TrainModelInputSchema, 'trainModel input', input);
      return train({ config, dataManifestUri, runId });
    },
    /**
     * One segment of a sweep trial (GPU queue): from the previous rung's checkpoint to the next
     * rung, where it evaluates, checkpoints and returns; the last segment exports the model. A
     * retry resumes from the segment's own last checkpoint, as the train stage's does.
     */
    async trainTrialSegmentActivity(input: TrainTrialSegmentInput): Promise<TrainTrialSegmentResult> {
      const parsed = parseInput(TrainTrialSegmentInputSchema, 'trainTrialSegment input', input);
      const config = parseInput(TrainConfigSchema, 'trainTrialSegment input: config', parsed.config);
      if (parsed.untilStep > config.steps)
        throw invalidInput(`trainTrialSegment input: untilStep ${parsed.untilStep} is beyond steps (${config.steps})`);
      return train({
        config,
        dataManifestUri: parsed.dataManifestUri,
        runId: parsed.runId,
        segment: {
          untilStep: parsed.untilStep,
          ...(parsed.resumeFromUri ? { resumeFromUri: parsed.resumeFromUri } : {}),
          ...(parsed.bestCheckpointUri ? { bestCheckpointUri: parsed.bestCheckpointUri } : {}),
        },
      });
    },
  };
}
