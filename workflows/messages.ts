import { defineQuery, defineSignal } from '@temporalio/workflow';
import { TRAINING_MESSAGES, type PipelineProgress, type TrainingProgress } from '../shared/contracts';

/** Where a pipeline run is: stage, per-stage status, counts and timings. */
export const getProgressQuery = defineQuery<PipelineProgress>('getProgressQuery');

/** From the training activity: where training is. */
export const reportTrainingProgressSignal = defineSignal<[TrainingProgress]>(TRAINING_MESSAGES.reportProgress);

/** From a person (UI, CLI): finish training now and keep the best checkpoint. */
export const stopTrainingSignal = defineSignal(TRAINING_MESSAGES.stop);

/** For the training activity, which polls it: whether a stop was asked for. */
export const isTrainingStopRequestedQuery = defineQuery<boolean>(TRAINING_MESSAGES.isStopRequested);
